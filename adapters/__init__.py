"""Provider adapters: one module per wire dialect."""

"""Hot paths with pure-Python twins."""

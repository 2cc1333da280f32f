"""Admission: per-key rate limits (requests and tokens per minute) and budgets."""

"""Routing and resilience: strategies, retries with a budget, cooldowns, deadlines, fallbacks, escalation."""

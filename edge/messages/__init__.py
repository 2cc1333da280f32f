"""The Anthropic Messages API as a client surface (POST /v1/messages, /v1/messages/count_tokens).

The HTTP handlers are edge/http/messages.py; this package holds what they share with nothing
else: the request check (schema.py), the plan and each route's request (plan.py), the
translation for routes that do not speak Messages (bridge.py, reply.py, encoder.py) and the byte
pass-through for those that do (passthrough.py). Everything else is the shared pipeline.
"""

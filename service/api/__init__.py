"""The HTTP API: signup webhooks, operator endpoints, health and metrics."""

"""Dokploy Cloud billing: Stripe webhooks → pure decisions → actions the provisioning service executes."""

"""The provisioning service: signup webhooks in, tenant stacks applied by workers through the Automation API."""

"""Running tenant stacks through the Pulumi Automation API: one code path for the CLI, CI and the service."""

"""Local development environment: private instances of the services our stack talks to."""

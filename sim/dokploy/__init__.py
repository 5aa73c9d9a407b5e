"""Dokploy API simulator (servers, SSH keys, organizations, API keys, Cloud quota)."""

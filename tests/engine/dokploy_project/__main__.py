"""A VM registered as a Dokploy server; address, key and organization come from stack config."""

from __future__ import annotations

import pulumi

from providers.dokploy_server import DokployServer, DokployServerArgs  # the test puts the repo on PYTHONPATH

config = pulumi.Config()
server = DokployServer(
    "server",
    DokployServerArgs(
        name="engine-test",
        organization_id=config.require("organizationId"),
        ip_address=config.require("ip"),
        public_key=config.require("publicKey"),
        private_key=config.require_secret("privateKey"),
        username="root",
        ready_timeout=30.0,
    ),
)
pulumi.export("serverId", server.server_id)
pulumi.export("ip", server.ip_address)

"""Render the control plane's declaration into the files the VM boots with: a compose file (the services), a Vector
configuration (log shipping), a systemd unit (starts the compose project at boot) and the cloud-init user-data that
installs Docker and writes all of them. No secret is ever rendered: the services read ``SECRETS_FILE``, which the
operator writes from Vault (docs/platform/control-plane.md); the unit refuses to start without it."""

from __future__ import annotations

from typing import Any

import yaml

from components.control_plane.declaration import ControlPlane

APP_DIR = "/opt/dokploy-control-plane"
SECRETS_FILE = "/etc/dokploy/secrets.env"
"""``POSTGRES_PASSWORD``, ``DATABASE_URL``, ``BETTER_AUTH_SECRET``, ``SMTP_PASSWORD``: root-only, never rendered."""
UNIT_NAME = "dokploy-control-plane.service"
DOKPLOY_PORT = 3000
HEALTH = {"interval": "30s", "timeout": "5s", "retries": 5, "start_period": "60s"}
FILES = ("cloud-init.yaml", "compose.yaml", "vector.yaml", UNIT_NAME)


def render(plane: ControlPlane) -> dict[str, str]:
    """File name → content, in ``FILES`` order."""
    compose = _yaml(compose_document(plane))
    vector = _yaml(vector_document(plane))
    unit = systemd_unit()
    return {
        "cloud-init.yaml": "#cloud-config\n" + _yaml(cloud_config(plane, compose, vector, unit)),
        "compose.yaml": compose,
        "vector.yaml": vector,
        UNIT_NAME: unit,
    }


def compose_document(plane: ControlPlane) -> dict[str, Any]:
    """The services: Traefik (TLS), Dokploy, the deployments worker, PostgreSQL, Redis, mail, metrics, logs."""
    app_env = {
        "IS_CLOUD": "true",
        "PUBLIC_APP_URL": plane.public_url,
        "PORT": str(DOKPLOY_PORT),
        "REDIS_HOST": "redis",
        "SMTP_SERVER": "mailpit:1025" if plane.mailpit else plane.smtp_relay,
        "SMTP_FROM_ADDRESS": plane.smtp_from,
    }
    depends = {"postgres": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}}
    services: dict[str, Any] = {
        "traefik": {
            "image": plane.images["traefik"],
            "restart": "unless-stopped",
            "command": [
                "--providers.docker=true",
                "--providers.docker.exposedbydefault=false",
                "--entrypoints.web.address=:80",
                "--entrypoints.web.http.redirections.entrypoint.to=websecure",
                "--entrypoints.websecure.address=:443",
                "--certificatesresolvers.le.acme.tlschallenge=true",
                f"--certificatesresolvers.le.acme.email={plane.acme_email}",
                "--certificatesresolvers.le.acme.storage=/letsencrypt/acme.json",
                "--ping=true",
            ],
            "ports": ["80:80", "443:443"],
            "volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro", "letsencrypt:/letsencrypt"],
            "healthcheck": {"test": ["CMD", "traefik", "healthcheck", "--ping"], **HEALTH},
        },
        "dokploy": {
            "image": plane.images["dokploy"],
            "restart": "unless-stopped",
            "env_file": [SECRETS_FILE],
            "environment": app_env,
            "depends_on": depends,
            "volumes": ["/var/run/docker.sock:/var/run/docker.sock", "dokploy:/etc/dokploy"],
            "labels": [
                "traefik.enable=true",
                f"traefik.http.routers.dokploy.rule=Host(`{plane.fqdn}`)",
                "traefik.http.routers.dokploy.entrypoints=websecure",
                "traefik.http.routers.dokploy.tls.certresolver=le",
                f"traefik.http.services.dokploy.loadbalancer.server.port={DOKPLOY_PORT}",
            ],
            "healthcheck": {
                "test": ["CMD-SHELL", f"wget -qO- http://127.0.0.1:{DOKPLOY_PORT}/ >/dev/null || exit 1"],
                **HEALTH,
            },
        },
        "deployments-worker": {
            "image": plane.images["dokploy"],
            "restart": "unless-stopped",
            "command": list(plane.worker_command),
            "env_file": [SECRETS_FILE],
            "environment": app_env,
            "depends_on": depends,
            "volumes": ["/var/run/docker.sock:/var/run/docker.sock", "dokploy:/etc/dokploy"],
            # The worker serves no port: healthy while its process (pid 1) lives and Redis answers.
            "healthcheck": {"test": ["CMD-SHELL", "kill -0 1"], **HEALTH},
        },
        "postgres": {
            "image": plane.images["postgres"],
            "restart": "unless-stopped",
            "env_file": [SECRETS_FILE],
            "environment": {"POSTGRES_USER": "dokploy", "POSTGRES_DB": "dokploy"},
            "volumes": ["postgres:/var/lib/postgresql/data"],
            "healthcheck": {"test": ["CMD", "pg_isready", "-U", "dokploy", "-d", "dokploy"], **HEALTH},
        },
        "redis": {
            "image": plane.images["redis"],
            "restart": "unless-stopped",
            "command": ["redis-server", "--appendonly", "yes"],
            "volumes": ["redis:/data"],
            "healthcheck": {"test": ["CMD", "redis-cli", "ping"], **HEALTH},
        },
        "node-exporter": {
            "image": plane.images["node_exporter"],
            "restart": "unless-stopped",
            "command": ["--path.rootfs=/host"],
            "network_mode": "host",
            "pid": "host",
            "volumes": ["/:/host:ro,rslave"],
        },
        "vector": {
            "image": plane.images["vector"],
            "restart": "unless-stopped",
            "command": ["--config", "/etc/vector/vector.yaml"],
            "volumes": [
                f"{APP_DIR}/vector.yaml:/etc/vector/vector.yaml:ro",
                "/var/run/docker.sock:/var/run/docker.sock:ro",
            ],
        },
    }
    if plane.mailpit:
        services["mailpit"] = {
            "image": plane.images["mailpit"],
            "restart": "unless-stopped",
            "ports": ["127.0.0.1:8025:8025"],
        }
    return {
        "name": "dokploy-control-plane",
        "services": services,
        "volumes": {"dokploy": {}, "postgres": {}, "redis": {}, "letsencrypt": {}},
    }


def vector_document(plane: ControlPlane) -> dict[str, Any]:
    """Every container's log lines, labelled by service, to the declared Loki endpoint."""
    return {
        "sources": {"containers": {"type": "docker_logs"}},
        "sinks": {
            "loki": {
                "type": "loki",
                "inputs": ["containers"],
                "endpoint": plane.loki_url,
                "encoding": {"codec": "json"},
                "labels": {
                    "environment": plane.env,
                    "host": plane.fqdn,
                    "service": '{{ label."com.docker.compose.service" }}',
                },
            }
        },
    }


def systemd_unit() -> str:
    """Start the compose project once Docker runs; restart it when it fails; refuse to start without secrets."""
    return f"""[Unit]
Description=Dokploy control plane (compose project {APP_DIR}/compose.yaml)
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target
AssertPathExists={SECRETS_FILE}

[Service]
Type=oneshot
RemainAfterExit=yes
WorkingDirectory={APP_DIR}
ExecStart=/usr/bin/docker compose --file {APP_DIR}/compose.yaml up --detach --wait --remove-orphans
ExecStop=/usr/bin/docker compose --file {APP_DIR}/compose.yaml down
Restart=on-failure
RestartSec=30
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
"""


def cloud_config(plane: ControlPlane, compose: str, vector: str, unit: str) -> dict[str, Any]:
    """Install Docker, write the files, enable the unit; SSH hardened; unattended upgrades on."""
    return {
        "hostname": plane.hostname,
        "fqdn": plane.fqdn,
        "package_update": True,
        "package_upgrade": True,
        "packages": ["docker.io", "docker-compose-v2", "unattended-upgrades", "qemu-guest-agent", "ufw"],
        "write_files": [
            {"path": f"{APP_DIR}/compose.yaml", "owner": "root:root", "permissions": "0644", "content": compose},
            {"path": f"{APP_DIR}/vector.yaml", "owner": "root:root", "permissions": "0644", "content": vector},
            {"path": f"/etc/systemd/system/{UNIT_NAME}", "owner": "root:root", "permissions": "0644", "content": unit},
            {
                "path": "/etc/ssh/sshd_config.d/50-dokploy-cloud.conf",
                "owner": "root:root",
                "permissions": "0644",
                "content": "PasswordAuthentication no\nPermitRootLogin no\nKbdInteractiveAuthentication no\n",
            },
        ],
        "runcmd": [
            ["install", "-d", "-m", "0700", "/etc/dokploy"],
            ["ufw", "default", "deny", "incoming"],
            ["ufw", "allow", "80/tcp"],
            ["ufw", "allow", "443/tcp"],
            ["ufw", "allow", "from", plane.operator_network, "to", "any", "port", "22", "proto", "tcp"],
            ["ufw", "allow", "from", plane.operator_network, "to", "any", "port", "9100", "proto", "tcp"],
            ["ufw", "--force", "enable"],
            ["systemctl", "enable", "--now", "qemu-guest-agent"],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", UNIT_NAME],
        ],
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the files cloud-init writes) as literal blocks; no anchors for repeated values."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def _yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)

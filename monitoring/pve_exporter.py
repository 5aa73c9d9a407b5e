"""The community's Proxmox exporter (``prometheus-pve-exporter``), run with a read-only token.

One exporter serves every cluster: Prometheus passes the cluster as ``target`` (``/pve?target=host:port``),
the exporter calls that cluster's API with the token from its environment (``PVE_USER``, ``PVE_TOKEN_NAME``,
``PVE_TOKEN_VALUE``; never a command line or a file). Its metric names (``pve_up``, ``pve_cpu_usage_ratio``,
``pve_memory_usage_bytes``, ``pve_guest_info``...) are what the community's dashboards and alert rules use;
ours join them on the guest ``id`` (``qemu/<vmid>``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from monitoring.processes import LoopbackProcess

MONITOR_USER = "dokploy-monitor@pve"
"""The exporter's user: role PVEAuditor on ``/`` (read-only), its token privilege-separated with the same."""


def pve_exporter(port: int, token: str, log: Path, verify_ssl: bool = False) -> LoopbackProcess:
    """The exporter on 127.0.0.1:``port`` with every default collector, authenticating with ``token``
    (``user@realm!tokenid=secret``)."""
    user, _, rest = token.partition("!")
    token_name, _, secret = rest.partition("=")
    if not (user and token_name and secret):
        raise ValueError("the monitoring token must look like user@realm!tokenid=secret")
    exe = Path(sys.executable).with_name("pve_exporter")
    return LoopbackProcess(
        "prometheus-pve-exporter",
        [str(exe), f"--web.listen-address=127.0.0.1:{port}"],
        f"http://127.0.0.1:{port}/metrics",
        log,
        env={
            "PVE_USER": user,
            "PVE_TOKEN_NAME": token_name,
            "PVE_TOKEN_VALUE": secret,
            "PVE_VERIFY_SSL": "true" if verify_ssl else "false",
        },
    )

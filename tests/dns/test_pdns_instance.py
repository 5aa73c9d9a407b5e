"""The private PowerDNS instance: serves its zone, keeps the API key off the command line, stops cleanly."""

from __future__ import annotations

import socket
import stat
import subprocess

import pytest
import requests

from scripts.localenv.pdns import PowerDNSError, PowerDNSInstance


def test_zone_is_served_over_dns(pdns, resolver):
    answer = resolver.resolve(pdns.zone, "SOA")
    assert str(answer[0].mname) == f"ns1.{pdns.zone}"


def test_api_requires_the_key(pdns):
    url = f"{pdns.url}/api/v1/servers/localhost/zones/{pdns.zone}"
    assert requests.get(url, headers={"X-API-Key": pdns.api_key}, timeout=5).status_code == 200
    assert requests.get(url, headers={"X-API-Key": "wrong"}, timeout=5).status_code == 401


def test_api_key_only_in_private_config(pdns):
    conf = pdns.workdir / "pdns.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert f"api-key={pdns.api_key}" in conf.read_text()
    args = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=10).stdout
    assert pdns.api_key not in args
    assert pdns.api_key not in repr(pdns)


def test_stop_ends_process_and_frees_ports():
    instance = PowerDNSInstance("other.test.", api_key="k-" + "x" * 20).start()
    workdir, api_port = instance.workdir, instance.api_port
    instance.stop()
    assert not workdir.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", api_port)) != 0


def test_start_failure_is_reported_with_log(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        instance = PowerDNSInstance(dns_port=busy.getsockname()[1], workdir=tmp_path)
        with pytest.raises(PowerDNSError, match=r"exited|not ready"):
            instance.start(timeout=5)

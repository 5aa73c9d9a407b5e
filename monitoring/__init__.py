"""Monitoring: the fleet exporter, the standard Proxmox exporter beside it, Prometheus and Alertmanager
(rules, routes, dashboards kept here), all on loopback for the local cloud."""

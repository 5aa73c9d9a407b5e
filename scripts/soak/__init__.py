"""The fault soak: the whole system under a realistic mix of work while its dependencies fail.

    .venv/bin/python -m scripts.soak [--minutes 20] [--seed 7] [--json .state/soak-report.json]

Starts a local cloud (Proxmox and Dokploy simulators, a real PowerDNS), a real PostgreSQL for the service's
queue, the service's API with Stripe billing, and two ``python -m service --workers-only`` processes
(:mod:`scripts.soak.rig`). For the given time it drives signups, Stripe events (paid checkouts, plan
changes, failed and recovered payments, cancellations) and operator re-applies (:mod:`scripts.soak.traffic`),
while a seeded schedule injects faults (:mod:`scripts.soak.faults`): 5xx answers and latency on Proxmox and
Dokploy calls, clone lock timeouts, a Proxmox node offline, failed Dokploy setups, PowerDNS down, PostgreSQL
restarted, a worker SIGKILLed. Then faults stop; the soak waits for every job to end, re-applies what failed
for good (as an operator would), and checks the invariants (:mod:`scripts.soak.invariants`). The report
(:mod:`scripts.soak.report`) is printed and written as JSON; the exit status is 1 if an invariant fails.
"""

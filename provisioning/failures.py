"""Which engine failures are worth retrying (locks, transient provider errors) and how long to wait."""

from __future__ import annotations

import re

from provisioning.runs import RunResult

RETRYABLE = re.compile(
    r"locked by another update|another update is currently in progress|concurrent ?update|"
    r"timed? ?out|timeout|connection (refused|reset)|temporar(il)?y unavailable|"
    r"\b(429|502|503|504)\b|too many requests|service unavailable|bad gateway|"
    r"pending operations?|interrupted|"
    # Proxmox answering 5xx: bpg says "received an HTTP 500 response", proxmoxer "500 Internal Server Error";
    # 595/596 are pveproxy's "node unreachable" answers. Bounded by the job's attempts like every retry.
    r"received an HTTP 5\d\d response|\b5\d\d Internal Server Error|\b59[56]\b|"
    # a dependency that did not answer at all (our clients' wording: PowerDNS down, a refused connection)
    r"no response: cannot reach|"
    # a provider plugin that died under the engine (killed, out of memory): the next run starts it afresh
    r"exited prematurely|"
    # the state backend could not be opened: PostgreSQL restarting, or two hosts' first
    # `CREATE TABLE IF NOT EXISTS pulumi_state` racing (pg_type_typname_nsp_index)
    r"unable to open state database",
    re.IGNORECASE,
)
MAX_DELAY_SECONDS = 300.0


def is_retryable(error: str | None) -> bool:
    """Whether a run that failed with ``error`` may succeed if simply run again later."""
    return bool(error) and RETRYABLE.search(error or "") is not None


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait before run ``attempt + 1``: ``base * 2**(attempt-1)``, capped."""
    return float(min(base * 2.0 ** max(0, attempt - 1), MAX_DELAY_SECONDS))


def worth_retrying(result: RunResult) -> bool:
    """Whether a failed run may succeed later: known transient, interrupted (a lost lease: the new owner or
    anyone runs it again), or an engine error known to pass."""
    return result.error_kind in ("transient", "cancelled") or is_retryable(result.error)


def retry_in(result: RunResult, attempts: int, max_attempts: int, base: float) -> float | None:
    """Seconds until a failed run is tried again after ``attempts`` of ``max_attempts``; None: it fails for good."""
    if result.ok or not worth_retrying(result) or attempts >= max_attempts:
        return None
    return backoff(attempts, base)


def error_kind(result: RunResult) -> str:
    """A failed run's kind, for metrics and alerts: ``dokploy_setup``, ``quota``, ``policy``, ``transient``,
    ``cancelled`` or ``engine`` (anything else)."""
    text = result.error or ""
    if "Dokploy setup of server" in text:
        return "dokploy_setup"
    if "server quota is used up" in text:
        return "quota"
    if "mandatory policy" in text.lower() or "policy violation" in text.lower():
        return "policy"
    if result.error_kind in ("transient", "cancelled"):
        return result.error_kind
    return "transient" if is_retryable(text) else "engine"


GENERIC_LINE = re.compile(r"^(error: )?\d+ errors? occurred:?$|^[\w:.-]+ \([\w.:-]+\):$", re.IGNORECASE)


def error_summary(error: str | None, limit: int = 300) -> str:
    """An engine error in one line: its informative lines (not the resource headers or "1 error occurred"),
    joined and cut to ``limit`` characters."""
    lines = [line.strip(" *\t") for line in (error or "").splitlines()]
    useful = [line for line in lines if line and not GENERIC_LINE.match(line)]
    text = " | ".join(useful) or (error or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"

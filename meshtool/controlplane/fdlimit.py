"""The file descriptor limit: one open stream per proxy, so it caps how many proxies one
control plane replica (or one simulated fleet) can serve."""

from __future__ import annotations

import logging

log = logging.getLogger("meshtool.controlplane")

RESERVED = 256  # descriptors kept for the store, the listeners, scrapes and the dashboard


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where the system allows it; returns the
    soft limit in force (what the process may open)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-files limit from %d to %d: %s", soft, want, exc)
    return soft


def proxies_served(limit: int) -> int:
    """How many proxies (one stream each) fit in `limit` descriptors."""
    return max(limit - RESERVED, 0)

"""Process-level running of the sidecar: logging, worker processes, start-up report."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import time

from meshtool.errors import MeshtoolError
from meshtool.sidecar.master import Sidecar, SidecarConfig


def _process_age() -> float:
    """Seconds since this process started (Linux /proc), else since this module loaded."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _T0


_T0 = time.monotonic()


def start_collecting() -> None:
    """Once ready. `proxy run` and `gateway run` turn the cyclic collector off first thing:
    start-up imports and builds objects that live as long as the process (mitmproxy's classes,
    the compiled snapshot), so collecting during it frees almost nothing, and it was ~90 ms in
    78 collections of a start that takes ~0.5 s on a quiet machine. Ready, they are frozen out
    of the collector's sight and collection resumes."""
    gc.freeze()
    gc.enable()


def run_sidecar(config: SidecarConfig, workers: int = 1, verbose: bool = False,
                proxy_class: type[Sidecar] = Sidecar) -> int:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not verbose:
        logging.getLogger("mitmproxy").setLevel(logging.ERROR)
    logging.getLogger("meshtool.sidecar").setLevel(logging.INFO)
    children = []
    if workers > 1:
        for _ in range(workers - 1):
            pid = os.fork()
            if pid == 0:  # a worker: same listeners, no admin port, no start-up report
                _die_with_parent()
                config.admin_port = None
                try:
                    asyncio.run(proxy_class(config).run(on_ready=start_collecting))
                finally:
                    os._exit(0)
            children.append(pid)
    try:
        sidecar = proxy_class(config)
        asyncio.run(sidecar.run(on_ready=lambda: (_report_ready(sidecar, workers),
                                                  start_collecting())))
    except OSError as exc:
        raise MeshtoolError(f"{'proxy' if config.kind == 'sidecar' else config.kind} run: "
                            f"{exc}") from exc
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    return 0


def _die_with_parent() -> None:
    """Linux: a worker gets SIGTERM when the first process dies, even by SIGKILL."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _report_ready(sidecar: Sidecar, workers: int) -> None:
    config, st = sidecar.config, sidecar.state
    what = "proxy" if config.kind == "sidecar" else config.kind
    print(f"meshtool {what} {config.identity.proxy_id}: ready in "
          f"{_process_age():.2f}s; listeners {', '.join(config.listeners())}; "
          f"{f'health {sidecar.health.address}; ' if sidecar.health else ''}"
          f"admin {sidecar.admin.address if sidecar.admin else 'off'}; "
          f"snapshot {st.version or 'none yet'}"
          f"{f'; {workers} workers' if workers > 1 else ''}", file=sys.stderr, flush=True)

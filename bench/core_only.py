"""`python -m bench.core_only PORT ADMIN_PORT`: the sidecar with every meshtool policy removed.

The same Master, next-layer choice, streaming and mitmproxy tuning (speedups, bulk reads,
inline hooks) as `meshtool proxy run`, but an empty policy pipeline: absolute-form requests go
straight to the host they name. What this process costs per request is what mitmproxy's core
costs as the sidecar runs it, the ceiling no policy work can lift (bench_core.py).
"""

from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace

from meshtool.sidecar import pipeline
from meshtool.sidecar.master import Sidecar, SidecarConfig


class CoreOnly(Sidecar):
    def build_addons(self) -> list:
        return []


async def main(port: int, admin_port: int) -> None:
    # the admin server and the next layer read counters from the Metrics policy, absent here
    pipeline.Pipeline.find = lambda self, cls: SimpleNamespace(denied={}, render=lambda *a, **k: "")
    sidecar = CoreOnly(SidecarConfig(mode="explicit", inbound_port=None, outbound_port=port,
                                     admin_port=admin_port))
    await sidecar.run(lambda: print("ready", flush=True))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))

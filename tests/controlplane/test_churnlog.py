"""Connects and disconnects: one debug line each, one info line of counts per interval."""

import asyncio
import logging

from meshtool.controlplane.churnlog import ChurnLog


def test_counts_once_per_interval_and_each_proxy_at_debug(caplog):
    log = logging.getLogger("meshtool.test.churn")

    async def main():
        connected = []
        churn = ChurnLog(log, lambda: len(connected), interval=0.05)
        for i in range(3):
            connected.append(i)
            churn.connect(f"p{i}", "default", "svc")
        connected.pop()
        churn.disconnect("p2")
        await asyncio.sleep(0.2)
        churn.connect("p9", "default", "svc")
        churn.flush()  # at stop: at once
        churn.flush()  # nothing new: no line

    with caplog.at_level(logging.DEBUG, logger="meshtool.test.churn"):
        asyncio.run(main())
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert info == ["proxies: 3 connected, 1 disconnected in the last 0.05s; 2 connected",
                    "proxies: 1 connected, 0 disconnected in the last 0.05s; 2 connected"]
    assert debug[:2] == ["proxy p0 connected (default/svc)", "proxy p1 connected (default/svc)"]
    assert "proxy p2 disconnected" in debug and len(debug) == 5

"""End to end: a snapshot file that cannot be read or compiled is rejected with its reason in
/config_dump (lastRejected), the one in force keeps serving, and the watcher keeps watching:
a later valid version is applied. Real sidecar process, real files."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.timeout(120)


def _wait_rejected(sc, count: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dump = sc.config_dump()
        if dump["lastRejected"] and sc.metrics().count("meshtool_snapshots_rejected_total") and \
                _rejected_total(sc) >= count:
            return dump
        time.sleep(0.05)
    raise TimeoutError(f"no rejection #{count}: {sc.config_dump()['lastRejected']}")


def _rejected_total(sc) -> float:
    for line in sc.metrics().splitlines():
        if line.startswith("meshtool_snapshots_rejected_total"):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("bad, reason", [
    (b"[" * 10_000 + b"]" * 10_000, "nested too deeply"),
    (b'{"version": "2", "services": [{"name": ' + b"[" * 10_000 + b"]" * 10_000 + b"}]}",
     "nested too deeply"),
    (b'{"version": "3", "services": "not a list"}', ""),
    (b'{"version": ', "invalid JSON"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_a_bad_snapshot_is_rejected_and_the_watcher_keeps_watching(mesh, bad, reason):
    sc = mesh.sidecar(f"nack-{abs(hash(bad)) % 10_000}", {"version": "1"}, "--service", "x")
    sc.wait_ready()
    tmp = sc.snapshot.with_suffix(".tmp")
    tmp.write_bytes(bad)
    tmp.replace(sc.snapshot)
    dump = _wait_rejected(sc, 1)
    assert dump["version"] == "1"  # the old one keeps serving
    assert reason in dump["lastRejected"]["error"]
    assert "\n" not in dump["lastRejected"]["error"].strip()
    sc.apply({"version": "4"})  # still watching: the next good version is taken
    assert sc.config_dump()["version"] == "4"
    assert "Traceback" not in sc.output()

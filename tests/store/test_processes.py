"""The store shared by real processes: racing writers and a watcher in another process."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from meshtool.model.resource import Resource
from meshtool.store import RelistRequired
from meshtool.store.local import LocalStore


def rr(name, **kw):
    return Resource("RouteRule", name, "default", {"destination": {"name": "benigno"}}, **kw)


def spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 30) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


RACER = """
    import os, sys, time
    from meshtool.errors import ConflictError
    from meshtool.store.local import LocalStore
    path, go, who = sys.argv[1:]
    store = LocalStore(path)
    rule = store.get("RouteRule", "default", "canary")   # both read resourceVersion 1
    rule.labels["writer"] = who
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    try:
        [out] = store.replace([rule])
        print("ok", out.resource_version)
    except ConflictError as exc:
        print("conflict", exc)
"""


def test_two_processes_replacing_the_same_version_one_conflicts_nothing_lost(tmp_path):
    path, go = tmp_path / "s.db", tmp_path / "go"
    with LocalStore(path) as s:
        s.create([rr("canary")])
    procs = [spawn(RACER, path, go, who) for who in ("p1", "p2")]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    results = [finish(p).strip() for p in procs]
    oks = [r for r in results if r.startswith("ok")]
    conflicts = [r for r in results if r.startswith("conflict")]
    assert len(oks) == 1 and len(conflicts) == 1, results
    assert oks[0] == "ok 2"
    assert conflicts[0].endswith("has been modified: resourceVersion 1 is not the latest (2); "
                                 "get it again and retry")
    winner = "p1" if results[0].startswith("ok") else "p2"
    with LocalStore(path) as s:
        stored = s.get("RouteRule", "default", "canary")
        assert stored.labels == {"writer": winner} and stored.revision == 2
        assert s.revision() == 2


INCREMENTER = """
    import sys
    from meshtool.errors import ConflictError
    from meshtool.store.local import LocalStore
    path, n = sys.argv[1], int(sys.argv[2])
    store = LocalStore(path)
    done = conflicts = 0
    while done < n:
        rule = store.get("RouteRule", "default", "counter")     # read ...
        rule.labels["count"] = str(int(rule.labels["count"]) + 1)  # ... modify ...
        try:
            store.replace([rule])                                # ... write, if still current
            done += 1
        except ConflictError:
            conflicts += 1
    print(conflicts)
"""


def test_concurrent_read_modify_write_loses_no_update(tmp_path):
    path = tmp_path / "s.db"
    with LocalStore(path) as s:
        s.create([rr("counter", labels={"count": "0"})])
    n = 40
    procs = [spawn(INCREMENTER, path, n) for _ in range(3)]
    conflicts = sum(int(finish(p)) for p in procs)
    with LocalStore(path) as s:
        assert s.get("RouteRule", "default", "counter").labels["count"] == str(3 * n)
        assert s.revision() == 1 + 3 * n
        # every successful write is in the change log, in order, and only those
        changes = s.watch(1, timeout=0)
        assert [int(c.resource.labels["count"]) for c in changes] == list(range(1, 3 * n + 1))
    assert conflicts >= 0


WATCHER = """
    import json, sys, time
    from meshtool.store.local import LocalStore
    store = LocalStore(sys.argv[1])
    since = store.revision()
    print("watching", since, flush=True)
    changes = store.watch(since, timeout=float(sys.argv[2]))
    print(json.dumps({"at": time.time(), "changes": [
        [c.revision, c.type, c.resource.display, c.resource.resource_version] for c in changes]}))
"""


def test_a_watch_in_another_process_sees_a_write(tmp_path):
    path = tmp_path / "s.db"
    with LocalStore(path) as s:
        s.create([rr("before")])
        watcher = spawn(WATCHER, path, 20)
        assert watcher.stdout.readline().split() == ["watching", "1"]
        time.sleep(0.2)  # the watcher is now blocked in watch()
        assert watcher.poll() is None
        written_at = time.time()
        s.create([rr("canary"), rr("stable")])
    result = json.loads(finish(watcher))
    assert result["changes"] == [[2, "ADDED", "route-rule/default/canary", "2"],
                                 [2, "ADDED", "route-rule/default/stable", "2"]]
    assert result["at"] - written_at < 1.0  # polled every 10 ms: well under a second


def test_a_watch_times_out_empty(tmp_path):
    with LocalStore(tmp_path / "s.db") as s:
        start = time.monotonic()
        assert s.watch(0, timeout=0.15) == []
        assert 0.15 <= time.monotonic() - start < 1.0


def test_a_watcher_that_falls_behind_compaction_must_relist(tmp_path):
    with LocalStore(tmp_path / "s.db", history=3) as s:
        s.create([rr("a")])
        for _ in range(5):
            s.replace([rr("a")])
        assert s.revision() == 6
        assert [c.revision for c in s.watch(3, timeout=0)] == [4, 5, 6]  # the last 3 are kept
        with pytest.raises(RelistRequired, match="compacted") as exc:
            s.watch(2, timeout=0)
        assert exc.value.current == 6
        rev, items = s.snapshot()
        assert rev == 6 and [r.name for r in items] == ["a"]


def test_a_watch_from_the_future_must_relist(tmp_path):
    with LocalStore(tmp_path / "s.db") as s:
        with pytest.raises(RelistRequired, match="behind the watched revision 5"):
            s.watch(5, timeout=0)


def test_two_processes_opening_a_new_store_at_once(tmp_path):
    path = tmp_path / "new.db"
    code = """
        import sys
        from meshtool.store.local import LocalStore
        s = LocalStore(sys.argv[1])
        s.create([__import__("meshtool.model.resource", fromlist=["R"]).Resource(
            "RouteRule", sys.argv[2], "default", {})])
        print(s.revision())
    """
    procs = [spawn(code, path, f"r{i}") for i in range(3)]
    revs = sorted(int(finish(p)) for p in procs)
    assert revs[-1] == 3
    with LocalStore(path) as s:
        assert [r.name for r in s.list()] == ["r0", "r1", "r2"]
    assert os.path.getsize(path) > 0

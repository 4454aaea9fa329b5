"""Simulated proxies: the shared decoder gives what json.loads gives, decoding once per version."""

import json

from meshtool.discovery.protocol import encode_snapshot, encode_snapshot_bytes
from meshtool.discovery.snapshot import Held
from meshtool.testing.simulate import (SharedDecoder, SharedHeld, SharedUpdates, fleet_identities,
                                       simulated_apply)

import pytest


def test_shared_decoder_matches_json_loads_and_decodes_each_version_once():
    doc = {"version": '3."x', "services": [], "rules": [{"metadata": {"name": "é"}}]}
    dec = SharedDecoder()
    texts = [encode_snapshot(doc["version"], f"n{i}", json.dumps(doc)) for i in range(5)]
    texts.append(encode_snapshot_bytes(doc["version"], "nb", json.dumps(doc).encode()).decode())
    for text in texts:
        assert dec(text) == json.loads(text)
    assert dec.decoded == 1
    other = {**doc, "version": "4.y"}
    assert dec(encode_snapshot("4.y", "n", json.dumps(other)))["snapshot"] == other
    assert dec('{"nonce": "n", "type": "snapshot"}') == {"nonce": "n", "type": "snapshot"}
    assert dec.decoded == 3
    # a payload with a key "nonce" before the real one: not taken for the frame's nonce
    odd = '{"type":"snapshot","version":"9","snapshot":{"nonce":"fake"},"nonce":"z"}'
    assert dec(odd) == json.loads(odd) and dec(odd) == json.loads(odd)


def test_shared_updates_apply_each_update_once_and_match_held():
    svc = {"name": "a", "namespace": "default", "endpoints": []}
    rule = {"kind": "RouteRule", "metadata": {"name": "r", "namespace": "default"}}
    first = {"services": {"set": {"default/a": svc}}, "rules": {"set": {}}}
    second = {"rules": {"set": {"RouteRule/default/r": rule}}}
    updates = SharedUpdates()
    proxies = [SharedHeld(shared=updates) for _ in range(3)]
    after = [p.updated("1.a", first, full=True) for p in proxies]
    assert after[0] is after[1] is after[2] and updates.applied == 1
    again = [h.updated("2.b", second, full=False) for h in after]
    assert again[0] is again[2] and updates.applied == 2
    plain = Held().updated("1.a", first, full=True).updated("2.b", second, full=False)
    assert again[0].document() == plain.document() and again[0].version == "2.b"
    # another update object (another payload) with the same version: applied for real
    other = {"rules": {"remove": ["RouteRule/default/r"]}}
    assert again[0].updated("2.b", other, full=False).document()["rules"] == []
    with pytest.raises(ValueError):
        after[0].updated("3.c", {"services": "x"}, full=False)


def test_simulated_apply_rejects_the_named_rule():
    apply = simulated_apply("bad")
    apply({"version": "1", "services": [], "rules": [{"kind": "RouteRule",
                                                      "metadata": {"name": "ok"}}]})
    with pytest.raises(ValueError, match="RouteRule/bad"):
        apply({"version": "1", "services": [], "rules": [{"kind": "RouteRule",
                                                          "metadata": {"name": "bad"}}]})
    with pytest.raises(ValueError, match="services"):
        apply({"version": "1", "rules": []})


def test_fleet_identities_are_unique_and_spread():
    idents = fleet_identities(6, services=3, prefix="x", admin_base=30000)
    assert len({i.proxy_id for i in idents}) == 6
    assert {i.service for i in idents} == {"x-svc0", "x-svc1", "x-svc2"}
    assert idents[5].admin_address == "127.0.0.1:30005"
    assert [i.version for i in idents[:2]] == ["v1", "v2"]


def test_fleet_stops_on_sigterm_even_before_it_is_ready():
    import signal
    import socket
    import subprocess
    import sys

    from meshtool.testing.wait import wait_for

    # A listener that hangs up at once: the proxies keep retrying, never ready.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "meshtool.testing.simulate",
                                 "--control-plane", f"127.0.0.1:{port}", "--count", "3"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tries = []

        def retrying() -> bool:
            try:
                conn, _ = listener.accept()
            except (TimeoutError, socket.timeout):
                return False
            conn.close()
            tries.append(1)
            return len(tries) >= 2  # connected, failed, came back: its loop is running

        assert wait_for(retrying, 60)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and b"ready" not in out and b"Traceback" not in err


def test_the_trace_records_applies_and_each_versions_endpoints_once(tmp_path):
    from meshtool.testing.simulate import ApplyTrace

    trace = ApplyTrace(str(tmp_path / "t.jsonl"))
    snap = {"version": "7.a", "rules": [], "services": [
        {"name": "web", "namespace": "shop", "endpoints": [{"address": "10.0.0.1", "port": 80}]}]}
    first, second = (trace.wrap(i, simulated_apply("bad")) for i in (0, 10))
    first(snap)
    second(snap)
    with pytest.raises(ValueError):  # rejected: not recorded
        second({**snap, "version": "8.b", "rules": [{"kind": "RouteRule",
                                                      "metadata": {"name": "bad"}}]})
    trace.close()
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert lines[0] == {"v": "7.a", "endpoints": {"shop/web": ["10.0.0.1"]}}
    assert [(r["p"], r["v"]) for r in lines[1:]] == [(0, "7.a"), (10, "7.a")]
    assert lines[1]["t"] <= lines[2]["t"]

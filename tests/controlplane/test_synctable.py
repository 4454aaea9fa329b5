"""Sync table statuses: NOT SENT, STALE, SYNCED, ERROR."""

from meshtool.controlplane.synctable import ERROR, NOT_SENT, STALE, SYNCED, ProxySync
from meshtool.discovery.protocol import Identity, ack, nack


def test_status_sequence():
    s = ProxySync(Identity("p", "svc"))
    assert s.status("1.a") == NOT_SENT
    s.sent("1.a", "n1")
    assert s.status("1.a") == STALE  # sent, not answered
    s.answered(ack("1.a", "n1"))
    assert s.status("1.a") == SYNCED
    assert s.status("2.b") == STALE  # a newer version is due
    s.sent("2.b", "n2")
    s.answered(nack("2.b", "n2", "bad rule"))
    assert s.status("2.b") == ERROR
    s.sent("3.c", "n3")
    assert s.status("3.c") == STALE  # the rejected one is superseded, no answer yet
    s.answered(ack("3.c", "n3"))
    assert s.status("3.c") == SYNCED
    d = s.to_dict("3.c", "cp-1")
    assert d["nacked"]["error"] == "bad rule" and d["acked"]["version"] == "3.c"
    assert d["pushes"] == 3 and d["controlPlane"] == "cp-1"


def test_an_old_ack_does_not_sync_a_newer_send():
    s = ProxySync(Identity("p", "svc"))
    s.sent("1.a", "n1")
    s.sent("2.b", "n2")
    s.answered(ack("1.a", "n1"))
    assert s.status("2.b") == STALE

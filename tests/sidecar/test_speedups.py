"""The sidecar's cheaper header lookups and ids compute what mitmproxy's own code computes."""

import subprocess
import sys
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshtool.sidecar.speedups import _contains, _get, _getitem, random_uuid

NAMES = st.sampled_from([b"Content-Length", b"content-length", b"Host", b"X-A", b"x-a",
                         b"Transfer-Encoding", "caf\u00e9".encode(), b"\xff"])
VALUES = st.binary(max_size=8)


@given(st.lists(st.tuples(NAMES, VALUES), max_size=6), NAMES,
       st.sampled_from(["bytes", "str", "upper"]))
def test_header_lookups_match_mitmproxy(fields, name, form):
    from mitmproxy import http

    h = http.Headers(fields)
    key = name if form == "bytes" else name.decode("utf-8", "surrogateescape")
    if form == "upper":
        key = key.upper()
    assert _get(h, key) == h.get(key)
    assert _get(h, key, "none") == h.get(key, "none")
    assert _contains(h, key) == (key in h)
    try:
        expected = h[key]
    except KeyError:
        with pytest.raises(KeyError):
            _getitem(h, key)
    else:
        assert _getitem(h, key) == expected


def test_random_uuid_is_a_version_4_uuid():
    seen = set()
    for _ in range(2000):
        text = random_uuid()
        u = uuid.UUID(text)
        assert (u.version, u.variant, str(u)) == (4, uuid.RFC_4122, text)
        seen.add(text)
    assert len(seen) == 2000


def test_installed_in_a_sidecar_process_and_flows_get_distinct_ids():
    code = ("from meshtool.sidecar import speedups; speedups.install(); speedups.install()\n"
            "from mitmproxy.test import tflow; from mitmproxy import http\n"
            "a, b = tflow.tflow(), tflow.tflow()\n"
            "assert a.id != b.id and a.client_conn.id != b.client_conn.id, (a.id, b.id)\n"
            "h = http.Headers([(b'Content-Length', b'3')])\n"
            "assert h['content-length'] == '3' and 'CONTENT-LENGTH' in h and h.get('x') is None\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr

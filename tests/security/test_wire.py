"""On the wire: between two sidecars only TLS records pass, never the request's plaintext.

The mesh runs in a private network namespace (so the capture holds only its traffic) and
tcpdump records benigno's inbound port while magnanimo's sidecar calls it (mTLS) and a client
without a sidecar calls it in plaintext (PERMISSIVE), which proves the capture would show a
plaintext request if there were one. Needs root, `ip` and tcpdump (scripts/system-deps.sh).
"""

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from wire_driver import MESH_MARKER, PLAIN_MARKER  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tcpdump"),
    reason="needs root, iproute2 and tcpdump (scripts/system-deps.sh)")


def tcp_payloads(pcap: Path, port: int) -> dict[str, bytes]:
    """The TCP payload bytes to and from `port`, per direction, from a classic pcap file
    (tcpdump -w on lo: Ethernet frames, IPv4)."""
    data = pcap.read_bytes()
    magic, = struct.unpack("<I", data[:4])
    assert magic == 0xA1B2C3D4, "not a little-endian classic pcap file"
    linktype, = struct.unpack("<I", data[20:24])
    assert linktype == 1, f"link type {linktype}, expected Ethernet"
    out = {"to": b"", "from": b""}
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 6:
            continue
        tcp = ip[ihl:]
        sport, dport = struct.unpack("!HH", tcp[:4])
        doff = (tcp[12] >> 4) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        payload = tcp[doff:total - ihl]
        if dport == port:
            out["to"] += payload
        elif sport == port:
            out["from"] += payload
    return out


def test_between_sidecars_only_tls_records_pass(tmp_path):
    ns = f"mtwire-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(HERE / "wire_driver.py"),
                            str(tmp_path)], capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr[-3000:]
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["mesh"] == [200] * 5 and result["plain"] == 200
    wire = tcp_payloads(tmp_path / "wire.pcap", result["inbound"])
    inbound = wire["to"]
    # the plaintext client's request is there, readable: the capture sees what passes
    assert PLAIN_MARKER.encode() in inbound
    # the sidecar's requests are not: only TLS records (handshake 0x16, application data 0x17)
    assert MESH_MARKER.encode() not in inbound and MESH_MARKER.encode() not in wire["from"]
    assert b"\x16\x03\x01" in inbound or b"\x16\x03\x03" in inbound  # a ClientHello
    assert b"\x17\x03\x03" in inbound and b"\x17\x03\x03" in wire["from"]
    assert b"Hello World, Benigno" in wire["from"]  # the plaintext answer, to the plain client
    assert all("Hello World, Benigno" in b for b in result["bodies"])

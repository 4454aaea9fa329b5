"""Run inside a private network namespace by test_wire.py: a control plane with the mesh CA,
benigno with its sidecar and magnanimo's sidecar, all on the namespace's loopback, and tcpdump
capturing benigno's inbound port while requests go through (mTLS) and around (plaintext).

    python wire_driver.py OUTDIR     writes OUTDIR/wire.pcap and OUTDIR/result.json
"""

import http.client
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from meshtool.testing.processes import ControlPlaneProcess, free_port  # noqa: E402
from meshtool.testing.wait import wait_for  # noqa: E402

MESHTOOL = [sys.executable, "-m", "meshtool"]
MESH_MARKER = "x-marker-through-the-mesh-7f3a"
PLAIN_MARKER = "x-marker-in-plaintext-91c2"


def ready(admin):
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=2).status == 200
    except OSError:
        return False


def main(out: Path) -> None:
    procs = []
    cp = ControlPlaneProcess(out / "store.db", log=out / "cp.log",
                             args=("--ca-dir", str(out / "ca"))).start()
    try:
        app, b_in, b_out, b_admin, m_in, m_out, m_admin = (free_port() for _ in range(7))
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "samples/services/benigno.py"),
                                       "--port", str(app)]))
        for service, inbound, outbound, admin in (("benigno", b_in, b_out, b_admin),
                                                   ("magnanimo", m_in, m_out, m_admin)):
            log = open(out / f"{service}.log", "wb")
            procs.append(subprocess.Popen(
                [*MESHTOOL, "proxy", "run", "--control-plane", cp.address, "--service", service,
                 "--proxy-id", f"{service}.wire", "--app-port", str(app if service == "benigno"
                                                                    else free_port()),
                 "--inbound-port", str(inbound), "--outbound-port", str(outbound),
                 "--admin-port", str(admin)], stdout=log, stderr=log))
            wait_for(lambda a=admin: ready(a), 30, what=f"{service} ready")
        dump = out / "wire.pcap"
        tcpdump_log = out / "tcpdump.log"
        with tcpdump_log.open("wb") as log:
            tcpdump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-w",
                                        str(dump), f"tcp port {b_in}"], stderr=log)
        # tcpdump says "listening on" once its filter is attached and its file opened
        wait_for(lambda: b"listening on" in tcpdump_log.read_bytes(), 10, what="tcpdump listening")
        statuses = []

        def through_mesh():
            conn = http.client.HTTPConnection("127.0.0.1", m_out, timeout=10)
            conn.request("GET", f"http://benigno:5000/{MESH_MARKER}", headers={MESH_MARKER: "1"})
            resp = conn.getresponse()
            body = resp.read().decode()
            conn.close()
            return resp.status, body

        wait_for(lambda: through_mesh()[0] == 200, 15, what="magnanimo reaches benigno")
        for _ in range(5):
            statuses.append(through_mesh())
        conn = http.client.HTTPConnection("127.0.0.1", b_in, timeout=10)
        conn.request("GET", f"/{PLAIN_MARKER}", headers={PLAIN_MARKER: "1"})
        plain_status = conn.getresponse().status
        conn.close()
        sizes = []  # stop once the capture file has stopped growing (tcpdump wrote it all)
        wait_for(lambda: sizes.append(dump.stat().st_size) or
                 (len(sizes) > 5 and sizes[-1] == sizes[-6]), 10, what="capture settled")
        tcpdump.terminate()
        tcpdump.wait(10)
        (out / "result.json").write_text(json.dumps({
            "inbound": b_in, "mesh": [s for s, _ in statuses], "plain": plain_status,
            "bodies": [b for _, b in statuses]}))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        cp.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

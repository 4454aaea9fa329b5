"""Process records: real child processes started, identified by pid + start time, stopped."""

import sys
import time

from meshtool.localmesh.processes import ProcessRecord, spawn, stop


def test_spawn_records_and_stop_ends_the_whole_group(tmp_path):
    # the child starts a grandchild; stopping the record must end both (process group)
    code = ("import subprocess, sys, time\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(p.pid, flush=True)\n"
            "time.sleep(60)\n")
    rec = spawn("app", "x", [sys.executable, "-c", code], tmp_path / "x.log")
    assert rec.alive() and rec.start_ticks is not None
    deadline = time.monotonic() + 10
    while not (tmp_path / "x.log").read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.02)
    grandchild = int((tmp_path / "x.log").read_text().split()[0])
    stopped = stop([rec], timeout=5)
    assert stopped == [rec]
    assert not rec.alive()
    from meshtool.localmesh.processes import is_same_process, start_ticks
    assert start_ticks(grandchild) is None or not is_same_process(grandchild, start_ticks(grandchild))


def test_a_reused_pid_is_not_mistaken_for_ours(tmp_path):
    rec = spawn("app", "x", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "l")
    impostor = ProcessRecord("app", "x", rec.pid, (rec.start_ticks or 0) + 12345, "l", [])
    assert not impostor.alive()
    assert stop([impostor]) == []
    assert rec.alive()
    stop([rec])



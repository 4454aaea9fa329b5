"""Start, identify and stop the local mesh's processes.

A process is recorded with its pid AND its start time (from /proc), so `down` never signals an
unrelated process that reused a pid after a reboot or a crash.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class ProcessRecord:
    role: str  # control-plane | app | sidecar | external
    instance: str  # benigno-v1, control-plane, ...
    pid: int
    start_ticks: int | None
    log: str
    command: list[str]
    ports: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def alive(self) -> bool:
        return is_same_process(self.pid, self.start_ticks)


def start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def is_same_process(pid: int, ticks: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if ticks is None:
        return True
    now = start_ticks(pid)
    if now is None:
        return True  # no /proc: trust the pid
    # a zombie child of ours still has its pid; treat it as gone
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            return False
    except OSError:
        pass
    return now == ticks


def spawn(role: str, instance: str, command: list[str], log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None, ports: dict[str, int] | None = None) -> ProcessRecord:
    """Start a detached process (its own session, so Ctrl-C in the terminal does not reach it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                    cwd=cwd, start_new_session=True)
        except OSError as exc:  # no such program, not executable, bad cwd: the mesh file's fault
            from meshtool.errors import DataError

            raise DataError(f"cannot start {role} {instance}: {command[0] if command else '(empty command)'}: "
                            f"{exc.strerror or exc}") from None
    return ProcessRecord(role, instance, proc.pid, start_ticks(proc.pid), str(log), command,
                         dict(ports or {}))


def stop(records: list[ProcessRecord], timeout: float = 5.0) -> list[ProcessRecord]:
    """SIGTERM every live process group, wait, then SIGKILL what is left. Returns the stopped ones."""
    live = [r for r in records if r.alive()]
    for r in live:
        _signal_group(r.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_running(r) for r in live):
        _reap(live)
        time.sleep(0.05)
    for r in live:
        if _running(r):
            _signal_group(r.pid, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(_running(r) for r in live):
        _reap(live)
        time.sleep(0.02)
    return live


def _running(r: ProcessRecord) -> bool:
    """The process, or anything else still running in its group (an app's own children)."""
    return r.alive() or _group_members(r.pid)


def _group_members(pgid: int) -> bool:
    """Does a live (not zombie) process other than the leader remain in process group `pgid`?"""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == pgid:
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the process leads its own group (start_new_session)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _reap(records: list[ProcessRecord]) -> None:
    """Collect the exit of those of `records` that are our own children (when `up` and `down`
    run in one process), so they do not linger as zombies; other children are not ours to reap."""
    for r in records:
        try:
            os.waitpid(r.pid, os.WNOHANG)
        except ChildProcessError:  # not our child, or already collected
            pass


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])

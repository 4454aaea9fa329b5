"""`meshtool proxy init`: --dry-run prints the rules; applying needs root and iptables."""

from __future__ import annotations

import subprocess
import sys

import pytest

from meshtool.errors import MeshtoolError


def meshtool(*args):
    return subprocess.run([sys.executable, "-m", "meshtool", *args], capture_output=True, text=True)


def test_dry_run_prints_the_rules_for_the_flags_kube_inject_writes():
    r = meshtool("proxy", "init", "--dry-run", "--proxy-uid", "1337", "--outbound-port", "15001",
                 "--inbound-port", "15006", "--include-outbound-ip-ranges", "*",
                 "--exclude-outbound-ip-ranges", "10.96.0.0/12", "--include-inbound-ports", "*",
                 "--exclude-inbound-ports", "22", "--exclude-outbound-ports", "5432,6379")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "*nat" and lines[-1] == "COMMIT"
    assert "-A MESHTOOL_OUTPUT -d 10.96.0.0/12 -j RETURN" in lines
    assert "-A MESHTOOL_OUTPUT -p tcp --dport 6379 -j RETURN" in lines
    assert "-A MESHTOOL_INBOUND -p tcp --dport 22 -j RETURN" in lines


def test_bad_values_are_usage_errors():
    r = meshtool("proxy", "init", "--dry-run", "--exclude-inbound-ports", "ssh")
    assert r.returncode == 64 and "'ssh' is not a port" in r.stderr


def test_applying_needs_root(monkeypatch):
    from meshtool.cli import proxy_init

    monkeypatch.setattr(proxy_init.os, "geteuid", lambda: 1000)
    with pytest.raises(MeshtoolError, match="must run as root"):
        proxy_init.apply_rules("*nat\nCOMMIT\n")


def test_applying_needs_iptables(monkeypatch):
    from meshtool.cli import proxy_init

    monkeypatch.setattr(proxy_init.os, "geteuid", lambda: 0)
    monkeypatch.setattr(proxy_init.shutil, "which", lambda name: None)
    with pytest.raises(MeshtoolError, match="iptables-restore not found"):
        proxy_init.apply_rules("*nat\nCOMMIT\n")

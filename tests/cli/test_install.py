"""install / uninstall / check / webhook wiring without a cluster: dry run, one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml

from meshtool.cli.main import main

UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters: [{name: x, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: x, user: u}}]
current-context: x
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_dry_run_needs_no_cluster(capsys, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    code, out, err = run(capsys, "install", "--dry-run", "-n", "mesh", "--image", "reg.example/m:1",
                         "--failure-policy", "Fail")
    assert code == 0 and err == ""
    docs = list(yaml.safe_load_all(out))
    assert docs[0]["kind"] == "CustomResourceDefinition"
    assert [d["kind"] for d in docs[-2:]] == ["MutatingWebhookConfiguration",
                                              "ValidatingWebhookConfiguration"]
    assert [d["webhooks"][0]["failurePolicy"] for d in docs[-2:]] == ["Fail", "Fail"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "mesh"
    assert {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]} == {"reg.example/m:1"}


@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_an_unreachable_cluster_is_one_line(capsys, tmp_path, command):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(UNREACHABLE)
    code, out, err = run(capsys, command, "--kubeconfig", str(kubeconfig))
    assert code == 1 and out == ""
    assert err.startswith("error: cannot reach the Kubernetes API server at https://127.0.0.1:1")
    assert err.count("\n") == 1


def test_check_marks_an_unreachable_cluster(capsys, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(UNREACHABLE)
    code, out, _ = run(capsys, "check", "--kubeconfig", str(kubeconfig))
    assert code == 1
    assert "× can reach the API server" in out and "Status check results are ×" in out


def test_webhook_refuses_a_bad_key_pair_with_one_line(capsys, tmp_path):
    from meshtool.kube.certs import generate

    one, other = generate(["localhost"]), generate(["localhost"])
    (tmp_path / "tls.crt").write_bytes(one.cert_pem)
    (tmp_path / "tls.key").write_bytes(other.key_pem)
    code, _, err = run(capsys, "webhook", "--tls-cert", str(tmp_path / "tls.crt"),
                       "--tls-key", str(tmp_path / "tls.key"))
    assert code == 64 and err.startswith("error: --tls-cert/--tls-key:") and err.count("\n") == 1


def test_webhook_serves_and_stops_on_sigterm(tmp_path):
    import signal
    import socket
    import ssl
    import urllib.request

    from meshtool.kube.certs import generate

    certs = generate(["localhost"], ["127.0.0.1"])
    (tmp_path / "tls.crt").write_bytes(certs.cert_pem)
    (tmp_path / "tls.key").write_bytes(certs.key_pem)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "meshtool", "webhook", "--listen", f"127.0.0.1:{port}",
                                "--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key")],
                               stderr=subprocess.PIPE, text=True)
    try:
        context = ssl.create_default_context(cadata=certs.ca_pem.decode())
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context,
                                            timeout=2) as response:
                    assert response.read() == b"ok\n"
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "webhook did not start"
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert "injection webhook listening on https://127.0.0.1:" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

"""A real Kubernetes API server on loopback: etcd and kube-apiserver, for tests and benchmarks.

`kube_cluster(log_dir)` starts both and yields a KubeCluster (admin token, kubeconfig, API client);
leaving the context stops them. No controllers run: nothing is scheduled, namespaces get no
ServiceAccount by themselves and deleted namespaces stay Terminating. Pods get no IP or readiness
unless the caller sets them through the status subresource (`set_pod_status`).

The binaries come from MESHTOOL_KUBE_BIN_DIR when set, else from the cache directory of
scripts/kube-binaries.sh, which is run to build them when they are missing. Any failure raises
ClusterError with the log's tail (the test fixture turns it into a failure; nothing skips).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime
import ipaddress
import os
import secrets
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshtool.ports import free_port

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "kube-binaries.sh"
BINARIES = ("etcd", "kube-apiserver")
STARTUP_TIMEOUT = 90.0
LOG_TAIL_LINES = 60
CONTEXT = "meshtool-test"  # the kubeconfig's only context


class ClusterError(RuntimeError):
    """The API server could not be started (the message says why, with its log's tail)."""


@dataclass
class KubeCluster:
    """What a caller needs to talk to the API server as cluster admin (group system:masters)."""

    server: str  # https://127.0.0.1:PORT
    token: str
    kubeconfig: Path
    ca_file: Path
    ca_pem: bytes  # the CA that signed the server's certificate
    api_client: ApiClient  # built from `kubeconfig`
    log_dir: Path  # etcd.log and kube-apiserver.log
    pids: dict[str, int] = field(default_factory=dict)  # etcd, kube-apiserver: their process ids


# -- binaries --------------------------------------------------------------------------------


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in BINARIES)


def find_binaries() -> Path:
    override = os.environ.get("MESHTOOL_KUBE_BIN_DIR")
    if override:
        if not _has_binaries(Path(override)):
            raise ClusterError(f"MESHTOOL_KUBE_BIN_DIR={override} lacks executable "
                               f"{' and '.join(BINARIES)}")
        return Path(override)
    cached = subprocess.run([SCRIPT, "--print-dir"], capture_output=True, text=True, check=True)
    directory = Path(cached.stdout.strip())
    if _has_binaries(directory):
        return directory
    # Not built yet: build now (slow; `make test` does this before pytest starts).
    built = subprocess.run([SCRIPT], capture_output=True, text=True)
    if built.returncode != 0:
        raise ClusterError(f"{SCRIPT.name} failed (exit {built.returncode}):\n"
                           f"{built.stderr[-4000:]}")
    return Path(built.stdout.strip())


# -- certificates ----------------------------------------------------------------------------


def _write_key(path: Path, key) -> None:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_certificates(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a serving certificate for 127.0.0.1 and a service-account signing key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)

    def builder(subject: str, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meshtool-test-ca")])
    ca_cert = (
        builder("meshtool-test-ca", ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    server_cert = (
        builder("kube-apiserver", ca_name, server_key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    sa_key = ec.generate_private_key(ec.SECP256R1())
    paths = {
        "ca": directory / "ca.crt",
        "cert": directory / "apiserver.crt",
        "key": directory / "apiserver.key",
        "sa_key": directory / "sa.key",
        "sa_pub": directory / "sa.pub",
    }
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(paths["key"], server_key)
    _write_key(paths["sa_key"], sa_key)
    paths["sa_pub"].write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return paths


# -- processes -------------------------------------------------------------------------------


def _die_with_parent() -> None:
    # If the parent is killed without cleaning up, the kernel kills the servers too.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start(argv: list[str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(
    url: str, token: str, ca_file: Path, processes: dict[str, subprocess.Popen], logs: dict[str, Path]
) -> None:
    """Poll /readyz until it answers 200; ClusterError with the log's tail when a process dies
    or time runs out."""
    context = ssl.create_default_context(cafile=str(ca_file))
    request = urllib.request.Request(f"{url}/readyz", headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise ClusterError(f"{name} exited with {process.returncode} during start-up; "
                                   f"last lines of {logs[name]}:\n{tail(logs[name])}")
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}: {e.read()[-500:].decode(errors='replace')}"
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    raise ClusterError(f"kube-apiserver not ready after {STARTUP_TIMEOUT:.0f} s ({last}); "
                       f"last lines of {logs['kube-apiserver']}:\n{tail(logs['kube-apiserver'])}")


def write_kubeconfig(path: Path, server: str, ca_pem: bytes, token: str) -> None:
    import yaml

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        }}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin",
                                                   "namespace": "default"}}],
        "current-context": CONTEXT,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def _scratch_root() -> str | None:
    # etcd fsyncs every write; on tmpfs that costs nothing.
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@contextlib.contextmanager
def kube_cluster(log_dir: Path) -> Iterator[KubeCluster]:
    """etcd + kube-apiserver on free loopback ports, logs in `log_dir` (kept); stopped on exit."""
    binaries = find_binaries()
    with contextlib.ExitStack() as cleanup:
        scratch = tempfile.TemporaryDirectory(prefix=f"meshtool-kube-{os.getpid()}-",
                                              dir=_scratch_root())
        work = Path(cleanup.enter_context(scratch))
        certs = make_certificates(work)
        token = secrets.token_urlsafe(24)
        tokens = work / "tokens.csv"
        tokens.write_text(f'{token},admin,admin-uid,"system:masters"\n')

        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
        server = f"https://127.0.0.1:{api_port}"
        logs = {"etcd": log_dir / "etcd.log", "kube-apiserver": log_dir / "kube-apiserver.log"}
        processes: dict[str, subprocess.Popen] = {}

        etcd = start([
            str(binaries / "etcd"), "--name=meshtool-test", f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=meshtool-test={peer_url}",
        ], logs["etcd"])
        cleanup.callback(stop, etcd)
        processes["etcd"] = etcd

        apiserver = start([
            str(binaries / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", f"--secure-port={api_port}", "--advertise-address=127.0.0.1",
            f"--tls-cert-file={certs['cert']}", f"--tls-private-key-file={certs['key']}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={certs['sa_pub']}",
            f"--service-account-signing-key-file={certs['sa_key']}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",  # the mesh's init container may need it, as on real clusters
            "--profiling=false",
            # The `kubernetes` Service may not point at a loopback address, and nothing in the
            # cluster needs it: don't keep trying (and logging errors) to reconcile it.
            "--endpoint-reconciler-type=none",
        ], logs["kube-apiserver"])
        cleanup.callback(stop, apiserver)  # stopped before etcd (callbacks run in reverse)
        processes["kube-apiserver"] = apiserver

        wait_ready(server, token, certs["ca"], processes, logs)

        from kubernetes import config

        kubeconfig = work / "kubeconfig"
        ca_pem = certs["ca"].read_bytes()
        write_kubeconfig(kubeconfig, server, ca_pem, token)
        api_client = config.new_client_from_config(config_file=str(kubeconfig))
        cleanup.callback(api_client.close)
        yield KubeCluster(
            server=server, token=token, kubeconfig=kubeconfig, ca_file=certs["ca"], ca_pem=ca_pem,
            api_client=api_client, log_dir=log_dir,
            pids={name: p.pid for name, p in processes.items()},
        )


# -- objects (what no controller or kubelet does here) ---------------------------------------


def create_namespace(api_client: Any, name: str) -> None:
    """A namespace with its `default` ServiceAccount (no controller would create it)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_service_account(name, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="default")))


def pod_status(ip: str, ready: bool) -> dict:
    """What the kubelet would report: Running at `ip`, Ready or not."""
    flag = "True" if ready else "False"
    return {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "192.0.2.2",
            "conditions": [{"type": "Ready", "status": flag},
                           {"type": "ContainersReady", "status": flag}]}


def remote_secret(remote: KubeCluster, name: str) -> dict:
    """What a user does to join a cluster: the real `meshtool create-remote-secret` run against
    the `remote` cluster; the Secret it prints (for meshtool-system of the primary)."""
    import sys

    import yaml

    made = subprocess.run(
        [sys.executable, "-m", "meshtool", "create-remote-secret", "--context", CONTEXT,
         "--name", name], capture_output=True, text=True, timeout=60,
        env={**os.environ, "KUBECONFIG": str(remote.kubeconfig)})
    if made.returncode != 0:
        raise ClusterError(f"meshtool create-remote-secret: exit {made.returncode}: "
                           f"{made.stderr.strip()}")
    return yaml.safe_load(made.stdout)

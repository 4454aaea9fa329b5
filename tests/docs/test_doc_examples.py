"""Every shell example in README.md, docs/*.md and the commands' --help runs as written.

Each document's ```sh and ```console blocks run in order, as a user following it would, in a
scratch directory holding a copy of samples/ with its own state directory and store. A block is
preceded by HTML comments (invisible on GitHub) when it needs something:

    <!-- doctest: skip REASON -->     not run (needs a cluster, kubectl, docker, the network...)
    <!-- doctest: setup COMMAND -->   run first, e.g. to put the `app.yaml` the block names there

In ```console blocks the commands are the `$ ` lines; when the output shown starts with `error:`
the command must fail, else it must succeed. In ```sh blocks every line is a command. A
command whose comment starts with `# exit N` must exit with N (`meshtool diff`: 1 = changes).

Servers (a line ending in `&`, and `meshtool control-plane`, `proxy run`, `dashboard`, `--watch` shown in the
foreground, as if in a second terminal) run in the background; the next command waits until the
ports they name (--listen, --port, --admin-port, else meshtool's defaults) accept connections.
Each document runs in its own network namespace, so the fixed ports the docs show (15010,
15001, ...) never meet another test's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = ("sh", "console", "bash", "shell")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_DIRECTIVE = re.compile(r"<!--\s*doctest:\s*(skip|setup)\s+(.*?)\s*-->")


@dataclass
class Command:
    text: str
    line: int
    fails: bool = False  # the document shows it failing

    @property
    def exit_code(self) -> int | None:
        m = re.search(r"\s#\s*exit (\d+)\b", self.text)
        return int(m.group(1)) if m else None


@dataclass
class Block:
    doc: Path
    line: int
    commands: list[Command]
    skip: str | None = None
    setup: list[str] = field(default_factory=list)


def blocks_of(doc: Path) -> list[Block]:
    text = doc.read_text()
    out = []
    for m in _FENCE.finditer(text):
        if m.group(1) not in SHELLS:
            continue
        line = text.count("\n", 0, m.start()) + 1
        before = text[:m.start()].rstrip("\n").splitlines()
        directives = []
        while before and _DIRECTIVE.fullmatch(before[-1].strip()):
            directives.insert(0, _DIRECTIVE.fullmatch(before.pop().strip()).groups())
        block = Block(doc, line, _commands(m.group(1), m.group(2), line + 1))
        for kind, arg in directives:
            if kind == "skip":
                block.skip = arg
            else:
                block.setup.append(arg)
        out.append(block)
    return out


def _commands(lang: str, body: str, first_line: int) -> list[Command]:
    commands: list[Command] = []
    pending: Command | None = None
    for i, raw in enumerate(body.splitlines()):
        if pending is not None:  # a continued line
            pending.text += "\n" + raw
            if not raw.rstrip().endswith("\\"):
                pending = None
            continue
        if lang == "console":
            if not raw.startswith("$ "):
                if commands and raw.startswith("error:") and not commands[-1].fails:
                    commands[-1].fails = True
                continue
            raw = raw[2:]
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cmd = Command(raw, first_line + i)
        commands.append(cmd)
        if raw.rstrip().endswith("\\"):
            pending = cmd
    return commands


@pytest.fixture
def scratch(tmp_path):
    """A directory like the repository's root for the examples: samples/ and a private state."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(ROOT / "samples", work / "samples")
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHTOOL_")}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "state"),
               PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", NO_COLOR="1", EDITOR="true",
               KUBECONFIG=str(tmp_path / "no-kubeconfig"))
    return work, env


_SERVERS = {"meshtool control-plane": ("15010",), "meshtool proxy run": ("15020",),
            "meshtool dashboard": ("5681",), "meshtool gateway run": ("8080",)}


def server_ports(text: str) -> list[str] | None:
    """The ports a background command will listen on; None when it is not a background command."""
    line = text.split("#", 1)[0].strip()
    default = next((ports for prefix, ports in _SERVERS.items() if line.startswith(prefix)), None)
    if not line.endswith("&") and default is None and not re.search(r"(--watch|\s-w)\b", line):
        return None
    named = re.findall(r"--(?:listen\s+\S*:|(?:http-|https-)?port\s+|admin-port\s+)(\d+)", line)
    if line.startswith("meshtool proxy run") and "--admin-port" not in line:
        named.append("15020")
    return named or list(default or ())


class Namespace:
    """A private network namespace (with lo up) for one document, when this machine allows it."""

    def __init__(self):
        self.name = f"mtdoc-{os.getpid()}-{id(self) % 100000}"
        ok = os.geteuid() == 0 and shutil.which("ip") and subprocess.run(
            ["ip", "netns", "add", self.name], capture_output=True).returncode == 0
        self.prefix = ["ip", "netns", "exec", self.name] if ok else None
        if ok:
            subprocess.run([*self.prefix, "ip", "link", "set", "lo", "up"], check=True)

    def close(self):
        if self.prefix:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def _listening(ns: Namespace, port: str, env: dict) -> bool:
    probe = [*(ns.prefix or []), "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"]
    return subprocess.run(probe, capture_output=True, env=env).returncode == 0


def _wait_for_ports(ns: Namespace, ports: list[str], env: dict, where: str, text: str,
                    log: Path) -> None:
    import time

    deadline = time.monotonic() + 30
    for port in ports:
        while not _listening(ns, port, env):
            if time.monotonic() > deadline:
                pytest.fail(f"{where}: `{text}` did not listen on port {port} within 30 s:\n"
                            f"{log.read_text()[-2000:]}")
            time.sleep(0.1)


def _run(text: str, where: str, cwd: Path, env: dict, groups: list[int],
         ns: Namespace) -> subprocess.CompletedProcess:
    ports = server_ports(text)
    if ports is not None and not text.split("#", 1)[0].rstrip().endswith("&"):
        text = text.split("#", 1)[0].rstrip() + " &"  # a server shown in the foreground
    # output to files, not pipes: a background server keeps its copy open for its whole life
    logs = cwd.parent / "logs"
    logs.mkdir(exist_ok=True)
    out_path, err_path = logs / f"{len(groups)}.out", logs / f"{len(groups)}.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([*(ns.prefix or []), "bash", "-o", "pipefail", "-c", text], cwd=cwd,
                                env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    groups.append(proc.pid)  # background jobs (`cmd &`) stay in this group: stopped at the end
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"{where}: `{text}` ran for more than 120 s")
    if ports:
        _wait_for_ports(ns, ports, env, where, text, err_path)
    return subprocess.CompletedProcess(text, proc.returncode, out_path.read_text(),
                                       err_path.read_text())


def _stop(groups: list[int]) -> None:
    """SIGTERM what the examples started (each command is its own process group), then SIGKILL
    what is still there after 10 s."""
    import time

    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while groups and time.monotonic() < deadline:
            groups = [g for g in groups if _alive(g)]
            time.sleep(0.05)


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def run_blocks(title: str, blocks: list[Block], work: Path, env: dict) -> None:
    """Run the blocks in order in `work`, in a private network namespace; stop what they started."""
    groups: list[int] = []
    skipped = []
    ns = Namespace()
    if ns.prefix is None and any(server_ports(c.text) is not None for b in blocks if not b.skip
                                 for c in b.commands):
        ns.close()
        pytest.skip("its servers need a private network namespace for their fixed ports (root)")
    try:
        for block in blocks:
            name = f"{title}:{block.line}"
            if block.skip:
                skipped.append(f"{name}: {block.skip}")
                continue
            for setup in block.setup:
                r = _run(setup, name, work, env, groups, ns)
                assert r.returncode == 0, f"{name}: setup `{setup}` failed:\n{r.stderr}"
            for cmd in block.commands:
                where = f"{title}:{cmd.line}"
                r = _run(cmd.text, where, work, env, groups, ns)
                assert "internal error" not in r.stderr and "Traceback" not in r.stderr, \
                    f"{where}: `{cmd.text}`:\n{r.stderr}"
                if cmd.exit_code is not None:
                    assert r.returncode == cmd.exit_code, (
                        f"{where}: `{cmd.text}` exited {r.returncode}:\n{r.stderr[-2000:]}")
                elif cmd.fails:
                    assert r.returncode != 0, f"{where}: `{cmd.text}` should fail as shown"
                else:
                    assert r.returncode == 0, (f"{where}: `{cmd.text}` exited {r.returncode}:\n"
                                               f"{r.stderr[-2000:]}")
    finally:
        _stop(groups)
        ns.close()
    for line in skipped:
        print(f"skipped {line}")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_document_examples_run_as_written(doc, scratch):
    work, env = scratch
    run_blocks(doc.relative_to(ROOT).as_posix(), blocks_of(doc), work, env)


def test_every_skip_states_its_reason():
    for doc in DOCS:
        for block in blocks_of(doc):
            if block.skip is not None:
                assert len(block.skip.split()) >= 2, f"{doc}:{block.line}: say why it is skipped"


# -- the Examples: of every command's --help ------------------------------------------------------

# Commands whose examples all need what this machine does not have, each said once.
HELP_SKIPS = {
    "install": "needs a Kubernetes cluster (tests/kube/install runs it against a real API server)",
    "check": "needs a Kubernetes cluster (tests/kube/install runs it against a real API server)",
    "uninstall": "needs a Kubernetes cluster (tests/kube/install runs it against a real API server)",
    "webhook": "needs a TLS certificate for the webhook's service (tests/kube/webhook makes one)",
    "demo": "runs a whole scenario for minutes (tests/localmesh/test_demo.py runs each one)",
    "create-remote-secret": "needs two Kubernetes clusters (tests/kube/controlplane/"
                            "test_multicluster.py runs it against two real API servers)",
}
# Example lines that need a cluster or another shell, recognised by what they contain.
HELP_LINE_SKIPS = {
    "kubectl": "needs kubectl and a cluster",
    "--store kubernetes": "needs a Kubernetes cluster",
    "--kubernetes": "needs a Kubernetes cluster",
    "--workloads kubernetes": "needs a Kubernetes cluster",
    "--use-kube": "needs a Kubernetes cluster",
    "${fpath[1]}": "zsh syntax, for zsh users",
}
# What the examples of a command expect to exist, as the text around them says.
RULES = ("meshtool create -f samples/canary/rules/route-90-10.yaml "
         "-f samples/egress/rules/egress-msgd.yaml -f samples/egress/rules/route-svcb-50-50.yaml")
FILES = ("cp samples/canary/kubernetes.yaml app.yaml && cp -r samples/egress k8s && "
         "meshtool kube-inject -q -f samples/canary/kubernetes.yaml > injected.yaml && "
         "mkdir -p ~/.local/share/bash-completion/completions ~/.config/fish/completions")
CONTROL_PLANE = "meshtool control-plane &"
PROXY = ("meshtool proxy run --service benigno --label version=v1 --app-port 5000 "
         "--control-plane 127.0.0.1:15010 --proxy-id benigno-v1.default &")
HELP_SETUP = {
    "replace": [RULES], "delete": [RULES], "get": [RULES], "diff": [RULES], "describe": [RULES],
    "proxy-status": [CONTROL_PLANE, PROXY], "version": [CONTROL_PLANE],
    "graph": [CONTROL_PLANE, PROXY], "dashboard": [CONTROL_PLANE],
    "simulate": [CONTROL_PLANE, PROXY],
}


def help_blocks() -> list[tuple[str, Block]]:
    import click

    from meshtool.cli.main import COMMANDS, cli

    out = []
    ctx = click.Context(cli)
    for name in ["", *COMMANDS]:
        command = cli if not name else cli.get_command(ctx, name)
        commands = [(name, command)]
        if isinstance(command, click.Group) and name:
            commands += [(f"{name} {sub}", command.get_command(ctx, sub))
                         for sub in command.list_commands(ctx)]
        for full, cmd in commands:
            text = "\n".join(t for t in (cmd.help, cmd.epilog) if t)
            m = re.search(r"^\s*Examples?:\n((?:[ \t]+\S.*\n?)+)", text, re.M)
            if not m:
                continue
            lines = [line.strip() for line in m.group(1).splitlines()]
            block = Block(Path(f"meshtool {full}".strip()), 1,
                          _commands("sh", "\n".join(lines), 1),
                          skip=HELP_SKIPS.get(full), setup=[FILES, *HELP_SETUP.get(full, [])])
            out.append((f"meshtool {full} --help".replace("  ", " "), block))
    return out


def _help_ids(item):
    return item[0]


@pytest.mark.parametrize("item", help_blocks(), ids=_help_ids)
def test_help_examples_run_as_written(item, scratch):
    title, block = item
    work, env = scratch
    kept, skipped = [], []
    for cmd in block.commands:
        reason = next((why for marker, why in HELP_LINE_SKIPS.items() if marker in cmd.text), None)
        (skipped if reason else kept).append((cmd, reason))
    block.commands = [c for c, _ in kept]
    for cmd, reason in skipped:
        print(f"skipped {title}: `{cmd.text}`: {reason}")
    run_blocks(title, [block], work, env)


def test_every_command_with_examples_is_covered():
    titles = [t for t, _ in help_blocks()]
    assert len(titles) > 20 and len(set(titles)) == len(titles)

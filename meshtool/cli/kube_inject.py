"""`meshtool kube-inject` and `meshtool uninject`: add or remove the sidecar in manifests, offline."""

from __future__ import annotations

import os

import click

from meshtool.cli.options import files_option, quiet_option
from meshtool.cli.render import report
from meshtool.errors import DataError, Finding, MeshtoolError, UsageError

_EXAMPLES = """
\b
Examples:
  meshtool kube-inject -f app.yaml | kubectl apply -f -
  meshtool kube-inject -f k8s/ -o injected.yaml
  meshtool kube-inject -f app.yaml --in-place
  kubectl get deploy svca -o json | meshtool kube-inject -f - --image registry.local/meshtool:dev
"""


def _io_options(func):
    func = quiet_option(func)
    func = click.option("--in-place", "in_place", is_flag=True,
                        help="Rewrite each input file (atomically: a temporary file, then rename).")(func)
    func = click.option("-o", "--output", "output", default=None, metavar="FILE",
                        help="Write to FILE (atomically) instead of standard output.")(func)
    return files_option(func)


@click.command("kube-inject", epilog=_EXAMPLES)
@_io_options
@click.option("--injectConfigFile", "--inject-config-file", "config_file", default=None, metavar="FILE",
              type=click.Path(dir_okay=False), help="YAML file overriding the built-in injection settings.")
@click.option("--image", default=None, help="Image of the sidecar and init containers.")
@click.option("--image-pull-policy", default=None,
              type=click.Choice(["Always", "IfNotPresent", "Never"]), help="Their imagePullPolicy.")
@click.option("--proxy-uid", type=click.IntRange(0, 2**31 - 1), default=None,
              help="UID the proxy runs as; its traffic is never redirected (default 1337).")
@click.option("--control-plane", default=None, metavar="HOST:PORT",
              help="Discovery address the sidecars connect to.")
def kube_inject(files, output, in_place, quiet, config_file, image, image_pull_policy, proxy_uid,
                control_plane) -> int:
    """Add the meshtool sidecar to the workloads in Kubernetes manifests.

    Pods, Deployments, ReplicaSets, ReplicationControllers, StatefulSets, DaemonSets, Jobs and
    CronJobs (also inside `kind: List`) get the `meshtool-init` init container, the
    `meshtool-proxy` sidecar and a status annotation; every other document passes through
    unchanged. Comments, key order and quoting are kept; injecting twice gives the same bytes.
    No cluster is needed. One report line per resource goes to stderr.
    """
    from meshtool.inject.config import InjectConfig

    config = _load_config(config_file) if config_file else InjectConfig()
    config = config.with_overrides(image=image, image_pull_policy=image_pull_policy,
                                   proxy_uid=proxy_uid, control_plane=control_plane)
    return _run(files, output, in_place, quiet, "inject", config)


@click.command("uninject", epilog="""
\b
Examples:
  meshtool uninject -f injected.yaml > app.yaml
  meshtool uninject -f k8s/ --in-place
  kubectl get deploy svca -o yaml | meshtool uninject -f - | kubectl apply -f -
""")
@_io_options
def uninject(files, output, in_place, quiet) -> int:
    """Remove what kube-inject added, restoring the manifests byte for byte."""
    from meshtool.inject.config import InjectConfig

    return _run(files, output, in_place, quiet, "uninject", InjectConfig())


def _run(files, output, in_place, quiet, mode, config) -> int:
    from meshtool.inject.pipeline import transform_source
    from meshtool.rules.sources import read_sources

    if in_place and output:
        raise UsageError("--in-place and -o/--output cannot be used together")
    sources = read_sources(files)
    if in_place and any(s.path is None for s in sources):
        raise UsageError("--in-place needs files, not standard input")
    results, findings = [], []
    for source in sources:  # everything is transformed before anything is written
        try:
            results.append((source, *transform_source(source, mode, config)))
        except DataError as exc:
            findings.extend(exc.findings)
    if findings:
        raise DataError(findings=findings)
    for _, _, located in results:
        for item in located:
            report(item.report.line, quiet)
            for warning in item.report.warnings:
                report(f"warning: {item.file}:{item.line}: {warning}", quiet)
    if in_place:
        for source, text, _ in results:
            if text != source.text:
                write_atomically(source.path, text)
        return 0
    text = join_outputs([(s, t) for s, t, _ in results])
    if output:
        write_atomically(output, text)
    else:
        click.echo(text, nl=False)
    return 0


def join_outputs(items) -> str:
    """One stream from several sources: YAML documents separated by '---'."""
    out, prev_json = "", True
    for source, text in items:
        if out and not out.endswith("\n"):
            out += "\n"
        if out and not (prev_json and source.is_json) and not text.lstrip().startswith("---"):
            out += "---\n"  # a stream of JSON objects needs no separator; anything with YAML does
        out += text
        prev_json = source.is_json
    return out


def write_atomically(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary file in the same directory, then rename over the target,
    so a reader (or the input, when it is the same file) never sees a half-written file.
    A symlink is written through (its target is replaced, the link stays); a new file gets
    the mode the umask gives, an existing one keeps its mode."""
    import tempfile  # only writes need it: not imported for the usual pipe to stdout

    path = os.path.realpath(path)
    directory, name = os.path.split(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise MeshtoolError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, os.stat(path).st_mode & 0o7777 if os.path.exists(path)
                 else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def _load_config(file: str):
    from meshtool.inject.config import InjectConfig, config_from_mapping
    from meshtool.rules.sources import read_source
    from meshtool.rules.yamlio import load_documents

    source = read_source(file)
    docs = load_documents(source)
    data = docs[0].data if docs else {}
    values, problems = config_from_mapping(data)
    if problems:
        raise DataError(findings=[
            Finding(msg, source.name, docs[0].locate([key]) if docs and key else 1, key or None)
            for key, msg in problems])
    return InjectConfig().with_overrides(**values)

"""`meshtool analyze`: cross-resource checks of rules and manifests, for people and for CI."""

from __future__ import annotations

import os
import sys

import click

from meshtool.cli.options import files_option, kube_options, namespace_option, store_option

LEVELS = click.Choice(["Info", "Warning", "Error"], case_sensitive=False)


@click.command()
@files_option
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@namespace_option
@click.option("--use-store", is_flag=True,
              help="Also analyse the rules in the config store (see --store); files win.")
@store_option
@click.option("--use-kube", is_flag=True,
              help="Also analyse the cluster's Namespaces, Services, Deployments, StatefulSets, "
                   "DaemonSets and Pods; files win. With -n, only that namespace.")
@kube_options
@click.option("-o", "--output", type=click.Choice(["text", "json", "sarif", "junit", "github"]),
              default="text", show_default=True, help="Report format (written to stdout).")
@click.option("--failure-threshold", type=LEVELS, default="Error", show_default=True,
              help="Exit 79 when a message is at this level or above.")
@click.option("--output-threshold", type=LEVELS, default="Info", show_default=True,
              help="Print messages at this level or above.")
@click.option("-S", "--suppress", "suppress", multiple=True, metavar='"CODE[=KIND NAME]"',
              help='Hide a code, everywhere or for matching resources; patterns allowed: '
                   '-S MT0300, -S "MT0103=Deployment reviews-*". Repeatable.')
@click.option("--list-analyzers", is_flag=True, help="List the analyzers and their codes, then exit.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr.")
@click.option("--allow-empty", is_flag=True,
              help="Succeed when the inputs hold no object (by default that fails with 65: a CI "
                   "gate that checked nothing must not pass).")
@click.option("--control-plane-namespace", default="meshtool-system", show_default=True,
              metavar="NS", help="With --use-kube: where the remote secrets of a multi-cluster "
                                 "mesh are; their clusters are read and checked too.")
def analyze(files, paths, namespace, use_store, store, use_kube, kubeconfig, context, output,
            failure_threshold, output_threshold, suppress, list_analyzers, quiet,
            allow_empty, control_plane_namespace) -> int:
    """Check how rules, Services and workloads fit together.

    Reads rules and ordinary Kubernetes manifests together (-f FILE|DIR|- or
    PATHs), optionally merged with the config store (--use-store) and a live
    cluster (--use-kube); an object given in a file hides the same object from
    the store or the cluster. Every message has a level, a code (MT0001...),
    the resource, file:line and what to do. Suppress a message for one
    resource with the annotation analysis.meshtool.io/suppress: "MT0300".

    Exit codes: 0 nothing at or above --failure-threshold, 79 something is,
    65 an input is not YAML/JSON or holds no object (unless --allow-empty), 64 bad usage.

    \b
    Examples:
      meshtool analyze samples/canary/kubernetes.yaml samples/canary/rules/route-90-10.yaml
      meshtool analyze -f samples/ --failure-threshold Warning
      meshtool analyze -f samples/ -o sarif > meshtool.sarif
      meshtool analyze -f rules/ --use-kube --context staging -S "MT0300=Service legacy-*"
      meshtool analyze --list-analyzers
    """
    from meshtool.errors import ExitCode, UsageError

    if list_analyzers:
        click.echo(_analyzer_table(output), nl=False)
        return int(ExitCode.OK)
    sources = files + paths
    if not (sources or use_store or use_kube):
        raise UsageError("nothing to analyse: give -f FILE|DIR|-, --use-store or --use-kube")

    from meshtool.analysis import Level, analyze as run_analysis
    from meshtool.analysis.formatters import Options, render
    from meshtool.analysis.inputs import Inputs, merge, read_files
    from meshtool.analysis.suppress import parse_suppression

    try:
        suppressions = [parse_suppression(s) for s in suppress]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    inputs = Inputs()
    if sources:
        from meshtool.rules.sources import read_sources

        inputs = read_files(read_sources(sources), namespace=namespace)
    layers = [inputs.items]
    load_findings = list(inputs.load_findings)
    if use_store:
        from meshtool.analysis.inputs import read_store
        from meshtool.store import open_store

        with open_store(store, kubeconfig=kubeconfig, context=context) as st:
            stored = read_store(st, namespace=namespace, hidden={i.key for i in inputs.items})
        layers.append(stored.items)
        load_findings += stored.load_findings
    if use_kube:
        from meshtool.analysis.kube import read_cluster

        layers.append(read_cluster(kubeconfig=kubeconfig, context=context, namespace=namespace,
                                   remote_secrets_namespace=control_plane_namespace))
    inputs = Inputs(merge(*layers), load_findings)

    report = run_analysis(inputs, suppressions=suppressions)
    failure, shown = Level.parse(failure_threshold), Level.parse(output_threshold)
    messages = report.at_or_above(shown)
    color = output == "text" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    click.echo(render(output, report, messages, Options(color, failure)), nl=False)
    if not quiet:
        click.echo(_summary(report, messages), err=True)
    if report.at_or_above(failure):
        return int(ExitCode.ISSUES)
    if not report.resources and not allow_empty:
        click.echo("error: no objects in the input, so nothing was analysed (--allow-empty "
                   "accepts that)", err=True)
        return int(ExitCode.DATAERR)
    return int(ExitCode.OK)


def _summary(report, shown) -> str:
    from meshtool.analysis import Level

    n = report.resources
    scope = f"{n} resource{'' if n == 1 else 's'}"
    if not report.messages:
        text = f"no issues found in {scope}"
    else:
        parts = []
        for level in (Level.ERROR, Level.WARNING, Level.INFO):
            count = report.counts.get(level, 0)
            if count:
                word = level.title.lower() + ("s" if count != 1 and level != Level.INFO else "")
                parts.append(f"{count} {word}")
        text = f"{', '.join(parts)} in {scope}"
        hidden = len(report.messages) - len(shown)
        if hidden:
            text += f" ({hidden} below the output threshold not shown)"
    if report.suppressed:
        text += f"; {report.suppressed} suppressed"
    return text


def _analyzer_table(output: str) -> str:
    from meshtool.analysis.messages import MESSAGES
    from meshtool.analysis.registry import all_analyzers

    analyzers = all_analyzers()
    if output == "json":
        import json

        return json.dumps([{"name": a.name, "description": a.description, "kinds": list(a.kinds),
                            "codes": [{"code": c, "name": MESSAGES[c].name,
                                       "level": MESSAGES[c].level.title} for c in a.codes]}
                           for a in analyzers], indent=2) + "\n"
    lines = []
    for a in analyzers:
        lines.append(f"{a.name}: {a.description}")
        lines.append(f"  reads: {', '.join(a.kinds)}")
        for code in a.codes:
            m = MESSAGES[code]
            lines.append(f"  {code} {m.level.title:<7} {m.name}")
    return "\n".join(lines) + "\n"

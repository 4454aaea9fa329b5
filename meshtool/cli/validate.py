"""`meshtool validate -f PATH...`: offline schema and semantic checks of rule files."""

from __future__ import annotations

import click

from meshtool.cli.options import files_option, namespace_option, output_option, quiet_option


@click.command()
@files_option
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@namespace_option
@output_option("text", "json", default="text")
@quiet_option
@click.option("--allow-empty", is_flag=True,
              help="Succeed when the inputs hold no rule (by default that fails with 65: a CI "
                   "gate that checked nothing must not pass).")
def validate(files: tuple[str, ...], paths: tuple[str, ...], namespace: str | None, output: str,
             quiet: bool, allow_empty: bool) -> int:
    """Check rule files without storing them: schema, semantics, conversion.

    Every rule document in the inputs is checked: native rules
    (config.meshtool.io/v1alpha1) and the formats meshtool converts (Istio
    config.istio.io/v1alpha2 and networking.istio.io VirtualService,
    DestinationRule, ServiceEntry; Kuma TrafficRoute). Other Kubernetes objects
    are skipped with a note on stderr.

    Prints one line per finding, FILE:LINE: KIND/NAME: FIELD: MESSAGE, and
    exits 65 when there is any (0 when there is none). Inputs with no rule at
    all also exit 65, unless --allow-empty. -o json prints one JSON report
    instead, for machines.

    \b
    Examples:
      meshtool validate samples/
      meshtool validate -f samples/canary/rules/route-90-10.yaml -f samples/helloworld/istio/
      kubectl get virtualservices -o yaml | meshtool validate -f - -o json
    """
    from meshtool.cli.render import dump_json, report
    from meshtool.errors import ExitCode
    from meshtool.rules.loader import load_rules
    from meshtool.rules.sources import read_sources

    result = load_rules(read_sources(files + paths), namespace=namespace)
    if output == "json":
        click.echo(dump_json({
            "valid": result.ok,
            "resources": [{"kind": r.kind, "name": r.name, "namespace": r.namespace,
                           "file": r.file, "line": r.line} for r in result.resources],
            "findings": [f.to_dict() for f in result.findings],
            "skipped": [{"where": w, "reason": why} for w, why in result.skipped],
            "warnings": [{"where": w, "warning": what} for w, what in result.warnings],
        }), nl=False)
    else:
        for finding in result.findings:
            click.echo(str(finding))
        for where, why in result.skipped:
            report(f"{where}: {why} (skipped)", quiet)
        for where, what in result.warnings:
            report(f"{where}: warning: {what}", quiet)
    report(summary(result), quiet)
    if result.findings:
        return int(ExitCode.DATAERR)
    if not result.resources and not allow_empty:
        click.echo("error: no rules in the input, so nothing was checked (--allow-empty accepts "
                   "that)", err=True)
        return int(ExitCode.DATAERR)
    return int(ExitCode.OK)


def summary(result) -> str:
    rules = len(result.resources)
    text = f"{rules} valid rule{'' if rules == 1 else 's'}"
    if result.findings:
        n = len(result.findings)
        text = f"{n} finding{'' if n == 1 else 's'}; " + text
    if result.skipped:
        text += f", {len(result.skipped)} other document{'' if len(result.skipped) == 1 else 's'} " \
                f"skipped"
    return text

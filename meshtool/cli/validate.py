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
def validate(files: tuple[str, ...], paths: tuple[str, ...], namespace: str | None, output: str,
             quiet: bool) -> int:
    """Check rule files without storing them: schema, semantics, conversion.

    Every rule document in the inputs is checked: native rules
    (config.meshtool.io/v1alpha1) and the formats meshtool converts (Istio
    config.istio.io/v1alpha2 and networking.istio.io VirtualService,
    DestinationRule, ServiceEntry; Kuma TrafficRoute). Other Kubernetes objects
    are skipped with a note on stderr.

    Prints one line per finding, FILE:LINE: KIND/NAME: FIELD: MESSAGE, and
    exits 65 when there is any (0 when there is none). -o json prints one JSON
    report instead, for machines.

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
        }), nl=False)
    else:
        for finding in result.findings:
            click.echo(str(finding))
        for where, why in result.skipped:
            report(f"{where}: {why} (skipped)", quiet)
    report(summary(result), quiet)
    return int(ExitCode.DATAERR) if result.findings else int(ExitCode.OK)


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

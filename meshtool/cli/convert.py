"""`meshtool convert -f FILE`: Istio and Kuma rules in the native form."""

from __future__ import annotations

import click

from meshtool.cli.options import files_option, namespace_option, output_option, quiet_option


@click.command()
@files_option
@namespace_option
@output_option("yaml", "json", default="yaml")
@quiet_option
def convert(files: tuple[str, ...], namespace: str | None, output: str, quiet: bool) -> int:
    """Print rules in the native form (config.meshtool.io/v1alpha1).

    Reads Istio config.istio.io/v1alpha2 RouteRule, EgressRule and
    DestinationPolicy; networking.istio.io VirtualService (with the
    DestinationRule that defines its subsets, given in the same call),
    DestinationRule and ServiceEntry; Kuma TrafficRoute (relative weights
    become percentages); native rules pass through. What cannot be converted
    is an error naming the field, and nothing is printed.

    \b
    Examples:
      meshtool convert -f samples/canary/kuma/trafficroute-90-10.yaml
      meshtool convert -f samples/helloworld/istio/ -o json
      meshtool convert -f samples/helloworld/istio/ | meshtool create -f -
    """
    from meshtool.cli.render import dump_manifests_json, dump_yaml_stream, report
    from meshtool.errors import DataError
    from meshtool.rules.loader import load_rules
    from meshtool.rules.sources import read_sources

    # Not unique: a folder may hold the stages of one rule (90/10, 50/50, 100); each converts.
    result = load_rules(read_sources(files), namespace=namespace)
    if result.findings:
        raise DataError(findings=result.findings)
    for where, why in result.skipped:
        report(f"{where}: {why} (skipped)", quiet)
    for where, what in result.converted:
        report(f"{where}: converted {what}", quiet)
    if not result.resources:
        raise DataError(f"no rules found in {', '.join(files)}")
    manifests = [r.to_manifest() for r in result.resources]
    if output == "json":
        click.echo(dump_manifests_json(manifests, single=len(manifests) == 1), nl=False)
    else:
        click.echo(dump_yaml_stream(manifests), nl=False)
    return 0

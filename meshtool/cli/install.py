"""`meshtool install`, `uninstall` and `check`: meshtool's control plane and webhook in a cluster."""

from __future__ import annotations

import contextlib

import click

from meshtool.cli.options import kube_options

_namespace = click.option("-n", "--namespace", default="meshtool-system", show_default=True,
                          metavar="NS", help="Namespace of the control plane and the webhook.")


@contextlib.contextmanager
def _cluster(kubeconfig, context):
    """The cluster's API client, closed afterwards. An API server refusal (422 invalid, 409
    conflict...) or a timeout is one line, not a traceback; so is an unreachable server."""
    from kubernetes.client.exceptions import ApiException

    from meshtool.errors import MeshtoolError
    from meshtool.kube.client import api_errors, api_message, connect

    cluster = connect(kubeconfig, context)
    try:
        with api_errors(cluster.server):
            try:
                yield cluster.api_client
            except ApiException as exc:
                raise MeshtoolError(f"the API server refused the change: {api_message(exc)}") from None
            except TimeoutError as exc:
                raise MeshtoolError(str(exc)) from None
    finally:
        cluster.close()


@click.command("install")
@kube_options
@_namespace
@click.option("--dry-run", is_flag=True,
              help="Print the manifests as YAML on stdout (for review or `kubectl apply -f -`); "
                   "contact no cluster.")
@click.option("--check", "check_only", is_flag=True, help="Only check the install (as `meshtool check`).")
@click.option("--image", default=None, metavar="IMAGE",
              help="Image of the control plane, webhook and injected containers "
                   "(default: meshtool/meshtool:<version>, built from the Dockerfile).")
@click.option("--failure-policy", type=click.Choice(["Ignore", "Fail"]), default="Ignore",
              show_default=True,
              help="What the API server does when the webhooks cannot be reached: create a Pod "
                   "without a sidecar and store a rule unchecked (Ignore), or refuse (Fail).")
@click.option("--addons", "addons", multiple=True, type=click.Choice(["prometheus"]),
              help="Also install: prometheus (a Prometheus scrape config for the sidecars and "
                   "Grafana dashboards, as ConfigMaps; docs/observability.md). Repeatable.")
@click.option("--gateway", is_flag=True,
              help="Also install the ingress gateway: a Deployment running `meshtool gateway "
                   "run`, its Service (LoadBalancer, port 80) and ServiceAccount, and the default "
                   "IngressClass meshtool (docs/gateway.md).")
@click.option("-q", "--quiet", is_flag=True, help="No report lines on stderr.")
def install(kubeconfig, context, namespace, dry_run, check_only, image, failure_policy, addons,
            gateway, quiet) -> int:
    """Install meshtool in a cluster: CRDs, control plane, injection and validating webhooks.

    \b
    Applies, with server-side apply (field manager "meshtool"): the rule CRDs; the namespace;
    the control plane's ServiceAccount, ClusterRole and ClusterRoleBinding (read rules,
    Services, Pods, Namespaces; write rule status and Events); a Deployment running `meshtool control-plane --store
    kubernetes` (port 15010) and `meshtool webhook` (port 15017); their Service; the
    webhook's certificate Secret (a CA generated here, reused on the next install while
    valid); and a MutatingWebhookConfiguration that sends Pods created in namespaces labelled
    meshtool-injection=enabled to the webhook; and a ValidatingWebhookConfiguration that has
    the API server refuse a rule `meshtool validate` refuses. Running it again changes nothing,
    or repairs (an object edited into a shape apply cannot merge is replaced). Nothing is
    written if the API server refuses any object in a dry run first.

    \b
    Examples:
      meshtool install
      meshtool install --dry-run > meshtool.yaml && kubectl apply --server-side -f meshtool.yaml
      meshtool install -n mesh --image registry.example/meshtool:0.1.0
      meshtool install --addons prometheus --dry-run > meshtool.yaml
      meshtool install --gateway --dry-run > meshtool.yaml
      kubectl label namespace default meshtool-injection=enabled
    """
    from meshtool.kube import install as lib

    settings = lib.Settings(namespace=namespace, image=image or lib.IMAGE, failure_policy=failure_policy,
                            addons=tuple(dict.fromkeys(addons)), gateway=gateway)
    if check_only:
        return _check(kubeconfig, context, settings)
    if dry_run:
        from meshtool.cli.render import dump_yaml_stream

        click.echo(dump_yaml_stream(lib.manifests(settings, lib.new_certs(settings))), nl=False)
        return 0
    report = (lambda _: None) if quiet else (lambda line: click.echo(line, err=True))
    with _cluster(kubeconfig, context) as api_client:
        lib.install(api_client, settings, report)
    if not quiet:
        click.echo(f"meshtool {lib.__version__} installed in namespace {namespace}; "
                   f"enable injection with: kubectl label namespace NS {lib.INJECTION_LABEL}=enabled",
                   err=True)
    return 0


@click.command("uninstall")
@kube_options
@_namespace
@click.option("--keep-crds", is_flag=True,
              help="Keep the rule CRDs (deleting them deletes every stored rule).")
@click.option("-q", "--quiet", is_flag=True, help="No report lines on stderr.")
def uninstall(kubeconfig, context, namespace, keep_crds, quiet) -> int:
    """Remove what `meshtool install` wrote, and nothing else.

    \b
    Deletes the webhook configuration first (so no Pod creation waits on a webhook that is
    going away), then the Deployment, Service, Secret, RBAC, namespace and the CRDs - and
    with the CRDs every stored rule (use --keep-crds to keep them). Objects of the same names
    not labelled app.kubernetes.io/managed-by=meshtool for this namespace are left alone.
    Running it again is harmless.

    \b
    Examples:
      meshtool uninstall
      meshtool uninstall --keep-crds -n mesh
    """
    from meshtool.kube import install as lib

    report = (lambda _: None) if quiet else (lambda line: click.echo(line, err=True))
    with _cluster(kubeconfig, context) as api_client:
        done = lib.uninstall(api_client, lib.Settings(namespace=namespace), keep_crds=keep_crds,
                             report=report)
    if not quiet:
        click.echo(f"{len(done.deleted)} deleted, {len(done.absent)} already absent, "
                   f"{len(done.kept)} kept", err=True)
    return 0


@click.command("check")
@kube_options
@_namespace
def check(kubeconfig, context, namespace) -> int:
    """Check the cluster and the install, one mark per check; exit 1 when one fails.

    \b
    √ passed, × failed, ‼ warning (reported, not a failure: e.g. control plane Pods not
    ready yet, which depends on the cluster's controllers rather than on the install).

    \b
    Examples:
      meshtool check
      meshtool install --check -n mesh
    """
    from meshtool.kube import install as lib

    return _check(kubeconfig, context, lib.Settings(namespace=namespace))


MARKS = {"ok": ("√", "green"), "fail": ("×", "red"), "warn": ("‼", "yellow")}


def _check(kubeconfig, context, settings) -> int:
    from meshtool.cli.render import stdout_console
    from meshtool.kube.check import FAIL, run

    with _cluster(kubeconfig, context) as api_client:
        results = run(api_client, settings)
    console = stdout_console()
    section = None
    for item in results:
        if item.section != section:
            if section is not None:
                console.print()
            section = item.section
            console.print(section, style="bold", highlight=False)
            console.print("-" * len(section), highlight=False)
        mark, colour = MARKS[item.status]
        detail = f" ({item.detail})" if item.detail and item.status == "ok" else \
            (f"\n    {item.detail}" if item.detail else "")
        console.print(f"[{colour}]{mark}[/{colour}] {item.name}{detail}", highlight=False, markup=True,
                      soft_wrap=True)
    failed = sum(1 for r in results if r.status == FAIL)
    console.print()
    console.print(f"Status check results are {'×' if failed else '√'}"
                  + (f" ({failed} failed)" if failed else ""), highlight=False)
    return 1 if failed else 0

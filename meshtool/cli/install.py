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
@click.option("--cluster-name", default=None, metavar="NAME",
              help="Multi-cluster: this cluster's name. The control plane then also follows the "
                   "remote secrets of its namespace, and injected sidecars say their cluster.")
@click.option("--remote", is_flag=True,
              help="Install a remote cluster of a multi-cluster mesh (needs --control-plane and "
                   "--cluster-name): the CRDs, the read-only ServiceAccount meshtool-reader for "
                   "the primary's control plane, and an injection webhook calling the primary's.")
@click.option("--control-plane", "control_plane", default=None, metavar="HOST:PORT",
              help="With --remote: the primary control plane's discovery address, reachable "
                   "from the remote cluster's Pods.")
@click.option("--injection-url", default=None, metavar="URL",
              help="With --remote: the primary's webhook (default https://HOST:15017 of "
                   "--control-plane); /inject/cluster/NAME/control-plane/ADDRESS is appended.")
@click.option("--injection-ca", default=None, type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="With --remote: PEM CA of the primary webhook's certificate "
                                   "(default: the API server's own trust roots).")
@click.option("--webhook-address", "webhook_addresses", multiple=True, metavar="ADDRESS",
              help="Multi-cluster: an IP address or DNS name at which remote clusters' API "
                   "servers reach this cluster's webhook (its LoadBalancer); the webhook "
                   "certificate then names it too. Repeatable.")
@click.option("--gateway", is_flag=True,
              help="Also install the ingress gateway: a Deployment running `meshtool gateway "
                   "run`, its Service (LoadBalancer, port 80) and ServiceAccount, and the default "
                   "IngressClass meshtool (docs/gateway.md).")
@click.option("--ca-secret", default=None, metavar="NAME",
              help="Run the mesh CA from this Secret of the control plane's namespace, in "
                   "Istio's cacerts layout (ca-cert.pem, ca-key.pem, root-cert.pem, "
                   "cert-chain.pem); it is mounted into the control plane. Default: a "
                   "self-signed root made by the first install in the Secret meshtool-ca "
                   "(kept by later installs).")
@click.option("--no-mesh-ca", is_flag=True,
              help="No mesh CA: sidecars get no certificates and speak plaintext.")
@click.option("-q", "--quiet", is_flag=True, help="No report lines on stderr.")
def install(kubeconfig, context, namespace, dry_run, check_only, image, failure_policy, addons,
            cluster_name, remote, control_plane, injection_url, injection_ca, webhook_addresses,
            gateway, ca_secret, no_mesh_ca, quiet) -> int:
    """Install meshtool in a cluster: CRDs, control plane, injection and validating webhooks.

    \b
    Applies, with server-side apply (field manager "meshtool"): the rule CRDs; the namespace;
    the control plane's ServiceAccount, ClusterRole and ClusterRoleBinding (read rules,
    Services, Pods, Namespaces; write rule status and Events); a Deployment running `meshtool control-plane --store
    kubernetes` (port 15010) and `meshtool webhook` (port 15017); their Service; the
    webhook's certificate Secret (a CA generated here, reused on the next install while
    valid); the mesh CA's Secret meshtool-ca (a self-signed root made once, kept after;
    --ca-secret names your own, --no-mesh-ca goes without); and a MutatingWebhookConfiguration that sends Pods created in namespaces labelled
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
      meshtool install --ca-secret cacerts --dry-run > meshtool.yaml
      kubectl label namespace default meshtool-injection=enabled
      meshtool install --cluster-name cluster1 --webhook-address 10.0.0.5 --context cluster1
      meshtool install --remote --cluster-name cluster2 --control-plane 10.0.0.5:15010 \
          --injection-ca webhook-ca.pem --context cluster2 --dry-run
    """
    from meshtool.kube import install as lib

    settings = lib.Settings(namespace=namespace, image=image or lib.IMAGE, failure_policy=failure_policy,
                            addons=tuple(dict.fromkeys(addons)), cluster_name=cluster_name,
                            gateway=gateway, webhook_addresses=tuple(webhook_addresses),
                            ca_secret=ca_secret, mesh_ca=not no_mesh_ca)
    if remote and webhook_addresses:
        from meshtool.errors import UsageError

        raise UsageError("--webhook-address goes with the primary's install (its webhook "
                         "serves the remote clusters)")
    items = _remote_items(settings, remote, control_plane, cluster_name, injection_url,
                          injection_ca, check_only or bool(addons))
    if check_only:
        return _check(kubeconfig, context, settings)
    if dry_run:
        from meshtool.cli.render import dump_yaml_stream

        click.echo(dump_yaml_stream(items or lib.manifests(
            settings, lib.new_certs(settings),
            lib.new_mesh_ca() if settings.generates_ca else None)),
                   nl=False)
        return 0
    report = (lambda _: None) if quiet else (lambda line: click.echo(line, err=True))
    with _cluster(kubeconfig, context) as api_client:
        lib.install(api_client, settings, report, items=items)
    if remote:
        if not quiet:
            click.echo(f"meshtool {lib.__version__} remote cluster {cluster_name} installed in "
                       f"namespace {namespace}; now apply its remote secret in the primary: "
                       f"meshtool create-remote-secret --name {cluster_name}", err=True)
        return 0
    if not quiet:
        click.echo(f"meshtool {lib.__version__} installed in namespace {namespace}; "
                   f"enable injection with: kubectl label namespace NS {lib.INJECTION_LABEL}=enabled",
                   err=True)
    return 0


def _remote_items(settings, remote: bool, control_plane: str | None, cluster_name: str | None,
                  url: str | None, ca_file: str | None, conflicting: bool) -> list[dict] | None:
    """The remote cluster's manifests with --remote; None for a primary install."""
    from meshtool.errors import UsageError

    if not remote:
        if control_plane or url or ca_file:
            raise UsageError("--control-plane, --injection-url and --injection-ca go with --remote")
        return None
    if not control_plane or not cluster_name:
        raise UsageError("--remote needs --control-plane HOST:PORT (the primary's control "
                         "plane) and --cluster-name NAME (this cluster's name)")
    if conflicting:
        raise UsageError("--remote installs no control plane: --check and --addons go with "
                         "the primary's install")
    from meshtool.kube import remoteinstall

    ca_pem = None
    if ca_file:
        with open(ca_file, "rb") as f:
            ca_pem = f.read()
    return remoteinstall.manifests(settings, control_plane, cluster_name, url, ca_pem)


@click.command("uninstall")
@kube_options
@_namespace
@click.option("--keep-crds", is_flag=True,
              help="Keep the rule CRDs (deleting them deletes every stored rule).")
@click.option("--remote", is_flag=True,
              help="Remove what `install --remote` wrote in a remote cluster.")
@click.option("-q", "--quiet", is_flag=True, help="No report lines on stderr.")
def uninstall(kubeconfig, context, namespace, keep_crds, remote, quiet) -> int:
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
    settings = lib.Settings(namespace=namespace)
    items = None
    if remote:  # the names are fixed: any address and cluster name give the same objects
        from meshtool.kube import remoteinstall

        items = remoteinstall.manifests(settings, "placeholder:15010", "placeholder")
    with _cluster(kubeconfig, context) as api_client:
        done = lib.uninstall(api_client, settings, keep_crds=keep_crds, report=report,
                             items=items)
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

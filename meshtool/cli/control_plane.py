"""`meshtool control-plane`: run the discovery server in the foreground."""

from __future__ import annotations

import click

from meshtool.cli.options import kube_options, seconds, store_option
from meshtool.cli.serving import log_level_option, serve_until_signal, setup_logging


@click.command("control-plane")
@store_option
@click.option("--listen", default="127.0.0.1:15010", show_default=True, metavar="HOST:PORT",
              help="Where the discovery server listens (push streams, /debug/syncz).")
@click.option("--grace", default="2s", show_default=True, callback=seconds, metavar="DURATION",
              help="How long a disconnected sidecar stays an endpoint of its service.")
@click.option("--debounce", default="5ms", show_default=True, callback=seconds,
              metavar="DURATION",
              help="Rule changes within this window become one push.")
@click.option("--endpoint-debounce", default="50ms", show_default=True, callback=seconds,
              metavar="DURATION",
              help="Endpoint changes (sidecars coming, going) are pushed after this long "
                   "without another one...")
@click.option("--endpoint-max-delay", default="1s", show_default=True, callback=seconds,
              metavar="DURATION", help="...but at most this long after the first.")
@click.option("--warmup", default="10s", show_default=True, callback=seconds, metavar="DURATION",
              help="After a restart, how long sidecars of the previous run count as endpoints "
                   "while they reconnect (local mode; they are kept in <store>.workloads.db); "
                   "with --cluster-name, how long remote clusters not listed yet hold back the "
                   "first push.")
@click.option("--dashboard", "dashboard", default=None, metavar="HOST:PORT",
              help="Also serve the web dashboard (/gui) there, e.g. 127.0.0.1:5681 "
                   "(off by default; `meshtool dashboard` serves one for any control plane).")
@click.option("--id", "instance", default=None, metavar="NAME",
              help="Name shown in proxy-status's CONTROL PLANE column (default: HOST-PID).")
@log_level_option
@click.option("--workloads", type=click.Choice(["sidecars", "kubernetes"]), default=None,
              help="Where endpoints come from: the connected sidecars, or the cluster's Services "
                   "and Ready Pods (default: kubernetes with --store kubernetes, else sidecars).")
@kube_options
@click.option("-n", "--namespace", default=None, metavar="NS",
              help="With --workloads kubernetes: watch Services and Pods of this namespace only "
                   "(default: all namespaces).")
@click.option("--cluster-name", default=None, metavar="NAME",
              help="With --workloads kubernetes: name this cluster and also watch the remote "
                   "clusters that remote secrets register (label multicluster.meshtool.io/"
                   "cluster=true, in $POD_NAMESPACE, else meshtool-system); endpoints are "
                   "labelled topology.meshtool.io/cluster.")
@click.option("--ca-dir", default=None, metavar="DIR",
              help="Run the mesh CA from DIR (Istio's cacerts layout: ca-cert.pem, ca-key.pem, "
                   "root-cert.pem, cert-chain.pem); a self-signed root is made there when it "
                   "holds none. Sidecars then get SPIFFE certificates and speak mTLS.")
@click.option("--trust-domain", default="cluster.local", show_default=True, metavar="NAME",
              help="With --ca-dir: spiffe://NAME/ns/NS/sa/SA.")
@click.option("--cert-ttl", default="24h", show_default=True, callback=seconds,
              metavar="DURATION", help="With --ca-dir: how long workload certificates are "
                                       "valid (sidecars renew them at half that).")
@click.option("--gateway-service-account", default=None, metavar="NAMESPACE/NAME",
              help="With --workloads kubernetes: the service account a gateway's token must "
                   "prove before it is sent the TLS Secrets' certificates and keys (default: "
                   "$POD_NAMESPACE/meshtool-gateway, else meshtool-system/meshtool-gateway).")
def control_plane(store: str | None, listen: str, grace: float, debounce: float,
                  endpoint_debounce: float, endpoint_max_delay: float, warmup: float,
                  dashboard: str | None, instance: str | None,
                  log_level: str, workloads: str | None, kubeconfig: str | None,
                  context: str | None, namespace: str | None, cluster_name: str | None,
                  ca_dir: str | None, trust_domain: str, cert_ttl: float,
                  gateway_service_account: str | None) -> int:
    """Run the control plane: follow the store, push snapshots to the sidecars.

    \b
    Sidecars connect to it (`meshtool proxy run --control-plane HOST:PORT`), get a snapshot
    at once and again whenever a rule or an endpoint changes, and ACK or NACK each one.
    `meshtool proxy-status` shows who has what. Stop it with Ctrl-C or SIGTERM; sidecars
    keep their last snapshot and reconnect when it is back.

    \b
    Kubernetes mode (`--store kubernetes`): rules come from the cluster's CRDs and endpoints
    from its Services and Ready Pods (a Service's selector picks the Pods; Pod labels such
    as `version` name the subsets; cluster IPs are the services' virtual addresses).

    \b
    Examples:
      meshtool control-plane
      meshtool control-plane --store ./mesh.db --listen 127.0.0.1:15011
      meshtool control-plane --store ./mesh.db --dashboard 127.0.0.1:5681
      meshtool control-plane --store ./mesh.db --ca-dir ./cacerts --cert-ttl 1h
      meshtool control-plane --store kubernetes --listen 0.0.0.0:15010
      meshtool control-plane --store ./mesh.db --workloads kubernetes --context kind-dev -n shop
      curl -s http://127.0.0.1:15010/debug/syncz
    """
    import os

    from meshtool.controlplane.server import serve
    from meshtool.discovery.protocol import split_address
    from meshtool.errors import UsageError
    from meshtool.store import open_store

    try:
        host, port = split_address(listen)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}") from None
    try:
        board = split_address(dashboard) if dashboard else None
    except ValueError as exc:
        raise UsageError(f"--dashboard: {exc}") from None
    setup_logging(log_level)
    kube_store = (store or os.environ.get("MESHTOOL_STORE")) == "kubernetes"

    def opener():
        if kube_store:
            return open_store(store, kubeconfig=kubeconfig, context=context)
        return open_store(store)

    first = opener()  # fail now, with one clear line, if the store cannot be opened
    first.close()
    if workloads is None:
        workloads = "kubernetes" if kube_store else "sidecars"
    if workloads == "sidecars" and namespace:
        raise UsageError("-n/--namespace scopes the cluster's workloads: it needs "
                         "--workloads kubernetes (or --store kubernetes)")
    source = registrations = secrets = None
    if workloads == "sidecars" and not kube_store:
        from meshtool.controlplane.registrations import registrations_path

        registrations = str(registrations_path(first.location))
    if workloads == "kubernetes":
        from meshtool.controlplane.kubewatch import KubernetesWorkloads
        from meshtool.kube.client import connect

        api_client = connect(kubeconfig, context).api_client
        source = KubernetesWorkloads(api_client, namespace)
        from meshtool.controlplane.kubesecrets import KubernetesSecrets

        # the certificates Ingresses and Gateways name, for the gateway proxies only
        secrets = KubernetesSecrets(api_client, namespace)
        if cluster_name:
            from meshtool.controlplane.multicluster import MultiCluster

            source = MultiCluster(source, api_client,
                                  os.environ.get("POD_NAMESPACE") or "meshtool-system",
                                  cluster=cluster_name, namespace=namespace, warmup=warmup)
    elif cluster_name:
        raise UsageError("--cluster-name watches clusters: it needs --workloads kubernetes "
                         "(or --store kubernetes)")

    ca = None
    if ca_dir:
        from meshtool.errors import DataError
        from meshtool.security.ca import CAError, MeshCA

        if cert_ttl <= 0:
            raise UsageError("--cert-ttl: must be longer than 0s")
        try:
            ca = MeshCA.load_or_create(ca_dir, trust_domain)
        except CAError as exc:
            raise DataError(str(exc)) from None

    gateway_account = None
    if workloads == "kubernetes":
        from meshtool.conventions import GATEWAY_SERVICE
  # the account a gateway proves to get the certificates
        text = gateway_service_account or (f"{os.environ.get('POD_NAMESPACE') or 'meshtool-system'}"
                                           f"/{GATEWAY_SERVICE}")
        ns_part, _, name_part = text.partition("/")
        if not ns_part or not name_part or "/" in name_part:
            raise UsageError(f"--gateway-service-account {text!r}: expected NAMESPACE/NAME")
        gateway_account = (ns_part, name_part)
    elif gateway_service_account:
        raise UsageError("--gateway-service-account needs --workloads kubernetes")

    reviewer = None
    # CSRs carry service account tokens, and so do gateways asking for TLS certificates
    if (ca is not None or secrets is not None) and workloads == "kubernetes":
        from meshtool.controlplane.tokenreview import TokenReviewer
        from meshtool.kube.client import connect

        # A sidecar of a remote cluster is reviewed by its own cluster's API server.
        reviewer = TokenReviewer(connect(kubeconfig, context).api_client, cluster=cluster_name,
                                 remote=getattr(source, "api_client_of", None))

    reporter = None
    if kube_store:  # invalid rules get a status condition and an Event in the cluster
        from meshtool.controlplane.kubestatus import KubeStatusReporter
        from meshtool.kube.client import connect

        reporter = KubeStatusReporter(connect(kubeconfig, context).api_client)

    serve_until_signal(
        lambda stop: serve(opener, host, port, stop, instance=instance, debounce=debounce,
                           endpoint_debounce=endpoint_debounce,
                           endpoint_max_delay=endpoint_max_delay, grace=grace, workloads=source,
                           registrations=registrations, warmup=warmup, reporter=reporter,
                           dashboard=board, ca=ca, cert_ttl=cert_ttl,
                           token_reviewer=reviewer, credentials=secrets,
                           gateway_account=gateway_account),
        listen)
    return 0

"""`meshtool webhook`: the sidecar injection and rule validating webhooks (HTTPS, AdmissionReview v1)."""

from __future__ import annotations

import click

from meshtool.cli.serving import log_level_option, serve_until_signal, setup_logging


@click.command("webhook")
@click.option("--listen", default="0.0.0.0:15017", show_default=True, metavar="HOST:PORT",
              help="Where to serve https://HOST:PORT/inject, /validate (and /healthz).")
@click.option("--tls-cert", required=True, type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="PEM serving certificate (valid for the Service's DNS names).")
@click.option("--tls-key", required=True, type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="PEM private key of that certificate.")
@click.option("--injectConfigFile", "--inject-config-file", "config_file", default=None,
              metavar="FILE", type=click.Path(dir_okay=False),
              help="YAML file overriding the built-in injection settings (as kube-inject).")
@click.option("--image", default=None, help="Image of the injected sidecar and init containers.")
@click.option("--control-plane", default=None, metavar="HOST:PORT",
              help="Discovery address the injected sidecars connect to.")
@click.option("--cluster", default=None, metavar="NAME",
              help="The cluster the injected Pods run in ($MESHTOOL_CLUSTER of their sidecars). "
                   "A remote cluster's Pods come to /inject/cluster/NAME/control-plane/HOST:PORT "
                   "(what `meshtool install --remote` registers) and get those instead.")
@log_level_option
def webhook(listen: str, tls_cert: str, tls_key: str, config_file: str | None, image: str | None,
            control_plane: str | None, cluster: str | None, log_level: str) -> int:
    """Serve the injection webhook: the API server sends each new Pod, we answer with a patch.

    \b
    It injects exactly what `meshtool kube-inject` would (the same injector), into Pods
    created in namespaces labelled meshtool-injection=enabled (the selection is made by the
    MutatingWebhookConfiguration that `meshtool install` writes). Opt-outs and skips are
    answered "allowed, unchanged" with the reason; an invalid meshtool annotation refuses
    the Pod with the field and the reason. At /validate it judges meshtool rules being
    created or updated with the checks of `meshtool validate` and refuses an invalid one with
    its message (the ValidatingWebhookConfiguration `meshtool install` writes sends them).
    `meshtool install` runs it beside the control plane; run it by hand to test a webhook
    registered by URL.

    \b
    Examples:
      meshtool webhook --tls-cert tls.crt --tls-key tls.key
      meshtool webhook --listen 127.0.0.1:8443 --tls-cert tls.crt --tls-key tls.key \\
          --control-plane meshtool-control-plane.mesh.svc:15010
    """
    import ssl

    from meshtool.controlplane.webhook import serve_webhook, tls_context
    from meshtool.discovery.protocol import split_address
    from meshtool.errors import UsageError
    from meshtool.inject.config import InjectConfig

    try:
        host, port = split_address(listen, default_port=15017)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}") from None
    if config_file:
        from meshtool.cli.kube_inject import _load_config

        config = _load_config(config_file)
    else:
        config = InjectConfig()
    config = config.with_overrides(image=image, control_plane=control_plane, cluster=cluster)
    try:
        tls_context(tls_cert, tls_key)  # fail now, with one line, on a bad pair
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"--tls-cert/--tls-key: cannot load the certificate and key: {exc}") from None
    setup_logging(log_level)

    serve_until_signal(lambda stop: serve_webhook(host, port, tls_cert, tls_key, stop, config),
                       listen)
    return 0

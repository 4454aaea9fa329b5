"""`meshtool proxy-config secret PROXY`: a sidecar's workload certificate (as istioctl's)."""

from __future__ import annotations

import click

from meshtool.cli.options import output_option, seconds


@click.command("proxy-config")
@click.argument("what", type=click.Choice(["secret"]))
@click.argument("proxy")
@click.option("--control-plane", "address", default="127.0.0.1:15010", show_default=True,
              metavar="HOST:PORT", help="The control plane the proxy is connected to (it knows "
                                        "the proxy's admin address).")
@click.option("--admin", default=None, metavar="HOST:PORT",
              help="Ask the proxy's admin port directly (loopback only).")
@click.option("--wait", default="5s", show_default=True, callback=seconds, metavar="DURATION",
              help="How long to wait for a proxy that is still connecting or still waiting "
                   "for its first certificate.")
@output_option("table", "json", "yaml", default="table")
def proxy_config(what: str, proxy: str, address: str, admin: str | None, wait: float,
                 output: str) -> int:
    """Show what a sidecar holds: `secret` is its workload certificate chain, SPIFFE ID,
    serial and expiry (never its private key, which never leaves the sidecar), its inbound mTLS
    mode, and the inbound connections it counted by security (mutual_tls, plaintext, refused,
    tls_failed) and source: plaintext sources are the callers whose links are unencrypted.

    \b
    Examples:
      meshtool proxy-config secret benigno-v1.default
      meshtool proxy-config secret benigno-v1 --control-plane 127.0.0.1:15010 -o json
    """
    import json
    import time

    from meshtool.controlplane.inspect import _get_json, fetch_sync_table, find_proxy
    from meshtool.discovery.protocol import http_url
    from meshtool.errors import MeshtoolError

    from meshtool.errors import NotFoundError

    deadline = time.monotonic() + wait  # a proxy that just started may not have its certificate
    while True:
        try:
            if admin is None:
                entry = find_proxy(fetch_sync_table(address), proxy)
                admin = entry.get("adminAddress")
                if not admin:
                    raise MeshtoolError(f"proxy {entry['proxyId']} did not announce an admin "
                                        f"address", hint="pass --admin HOST:PORT")
            doc = _get_json(http_url(admin, "/certs"), "the proxy's admin port", 5.0,
                            hint="the admin port listens on loopback only")
        except NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        if doc.get("state") != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if output == "json":
        click.echo(json.dumps(doc, indent=2))
        return 0
    if output == "yaml":
        import yaml
        click.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)
        return 0
    if doc.get("state") != "active":
        click.echo(f"no workload certificate: {doc.get('state')}"
                   + (f" ({doc['error']})" if doc.get("error") else "")
                   + ": this proxy sends and receives plaintext only")
        _inbound(doc.get("inbound"))
        return 1
    left = doc["notAfter"] - time.time()
    click.echo(f"SPIFFE ID   {doc['spiffeId']}")
    click.echo(f"serial      {doc['serial']}")
    click.echo(f"valid       until {doc['chain'][0]['notAfter']} ({_span(left)} left, "
               f"renewed in {_span(doc['renewAt'] - time.time())})")
    click.echo("chain")
    for cert in doc["chain"] + [dict(r, root=True) for r in doc["roots"]]:
        kind = "root" if cert.get("root") else "cert"
        click.echo(f"  {kind}  {cert['subject'] or '(no subject)'}  issuer {cert['issuer']}  "
                   f"serial {cert['serial'][:16]}  sha256 {cert['sha256'][:16]}")
    _inbound(doc.get("inbound"))
    return 0


def _inbound(view: dict | None) -> None:
    """The inbound mode and who sent what: plaintext sources are the links still unencrypted."""
    if not view:
        return
    ports = "".join(f", port {p} {m}" for p, m in sorted(view.get("ports", {}).items()))
    click.echo(f"inbound     {view['mode']}{ports}"
               + (f" (set by {view['policy']})" if view.get("policy") else " (the default)"))
    for c in view.get("connections") or []:
        click.echo(f"  {c['security']:<11} {c['count']:>6}  from {c['source']}")


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"

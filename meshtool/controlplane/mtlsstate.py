"""Each proxy's mTLS state as proxy-status shows it: the inbound mode its sidecar enforces,
resolved from the MTLSPolicies as the sidecar resolves them (model.peermodes), and whether it
holds a certificate at all (without one it sends and receives plaintext only)."""

from __future__ import annotations

import time

from meshtool.model import types as t
from meshtool.model.peermodes import DEFAULT_MODE, peer_modes


def mtls_state(policies: list[t.PeerAuth], proxy: dict, ca: bool) -> dict:
    """`proxy`: a sync table entry (service, namespace, labels, certificate)."""
    modes = peer_modes(policies, proxy.get("service") or "", proxy.get("namespace") or "",
                       proxy.get("labels") or {}) if policies else None
    cert = proxy.get("certificate")
    return {"mode": modes.default if modes else DEFAULT_MODE,
            "policy": modes.policy if modes else None,
            "ports": {str(p): m for p, m in modes.ports.items()} if modes else {},
            # mutual_tls: it has a certificate; plaintext: it has none (so neither does its side
            # of any link), "no CA": the control plane issues none
            "state": "mutual_tls" if cert else ("plaintext" if ca else "no CA")}


def mtls_text(proxy: dict, now: float | None = None) -> str:
    """The MTLS column, one word for grep and awk: 'STRICT(23h)' (the inbound mode and the
    certificate's time left), 'off:no-cert' (none yet, or refused), 'off:no-CA'."""
    m = proxy.get("mtls")
    if not m:
        return "-"
    if m["state"] != "mutual_tls":
        return "off:no-CA" if m["state"] == "no CA" else "off:no-cert"
    cert = proxy.get("certificate") or {}
    left = max(0, int(cert.get("notAfter", 0) - (now or time.time())))
    span = f"{left // 3600}h" if left >= 3600 else f"{left // 60}m" if left >= 60 else f"{left}s"
    return f"{m['mode']}({span})"

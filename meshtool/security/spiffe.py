"""SPIFFE IDs: spiffe://<trust domain>/ns/<namespace>/sa/<service account>."""

from __future__ import annotations

from dataclasses import dataclass

from meshtool.conventions import TRUST_DOMAIN

SCHEME = "spiffe://"


@dataclass(frozen=True)
class SpiffeId:
    trust_domain: str
    namespace: str
    service_account: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.principal}"

    @property
    def principal(self) -> str:
        """The form Istio's AuthorizationPolicy principals use: no scheme."""
        return f"{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"


def workload_id(namespace: str, service_account: str, trust_domain: str = TRUST_DOMAIN) -> SpiffeId:
    for what, value in (("namespace", namespace), ("service account", service_account),
                        ("trust domain", trust_domain)):
        if not value or "/" in value:
            raise ValueError(f"{what} {value!r} cannot be part of a SPIFFE ID")
    return SpiffeId(trust_domain, namespace, service_account)


def parse(text: str) -> SpiffeId:
    """'spiffe://cluster.local/ns/default/sa/sleep' -> SpiffeId; ValueError otherwise."""
    if not text.startswith(SCHEME):
        raise ValueError(f"{text!r} is not a SPIFFE ID")
    parts = text[len(SCHEME):].split("/")
    if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa" or not all(parts):
        raise ValueError(f"{text!r} is not a workload SPIFFE ID (spiffe://TD/ns/NS/sa/SA)")
    return SpiffeId(parts[0], parts[2], parts[4])


def of_certificate(cert) -> str | None:
    """The SPIFFE ID in a cryptography certificate's URI SANs, or None."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(SCHEME):
            return uri
    return None


def principal_matches(pattern: str, principal: str) -> bool:
    """Istio's string match for principals and namespaces: exact, '*', 'prefix*' or '*suffix'."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return principal.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return principal.endswith(pattern[1:])
    return principal == pattern

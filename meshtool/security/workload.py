"""A workload's side of its identity: its key (made here, never sent) and the certificate
the mesh CA returned for it."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meshtool.security import spiffe


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_pem(key: ec.EllipticCurvePrivateKey) -> str:
    """A CSR proving possession of `key`; the CA decides the identity, so it names none."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(
        key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class WorkloadCert:
    """A key and the chain the CA issued for it, checked to belong together."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]  # the leaf first
    roots: tuple[x509.Certificate, ...]
    spiffe_id: str
    serial: int
    not_before: float
    not_after: float

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    def describe(self) -> dict:
        """What `proxy-config secret` shows: never the key."""
        def one(c: x509.Certificate) -> dict:
            return {"subject": c.subject.rfc4514_string(), "issuer": c.issuer.rfc4514_string(),
                    "serial": format(c.serial_number, "x"),
                    "notBefore": c.not_valid_before_utc.isoformat(),
                    "notAfter": c.not_valid_after_utc.isoformat(),
                    "sha256": c.fingerprint(hashes.SHA256()).hex()}
        return {"spiffeId": self.spiffe_id, "serial": format(self.serial, "x"),
                "notBefore": self.not_before, "notAfter": self.not_after,
                "chain": [one(c) for c in self.chain], "roots": [one(r) for r in self.roots]}


def accept(key: ec.EllipticCurvePrivateKey, chain_pem: list[str], roots_pem: list[str]) -> WorkloadCert:
    """Check what the CA sent: PEM that parses, a leaf for our key, with a SPIFFE ID, and at
    least one trust anchor. ValueError says what is wrong."""
    try:
        chain = [x509.load_pem_x509_certificate(p.encode()) for p in chain_pem]
        roots = [x509.load_pem_x509_certificate(p.encode()) for p in roots_pem]
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"certificate: not PEM: {exc}") from None
    if not chain or not roots:
        raise ValueError("certificate: an empty chain or no trust anchors")
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if chain[0].public_key().public_bytes(der, pub) != key.public_key().public_bytes(der, pub):
        raise ValueError("certificate: it is not for this workload's key")
    ident = spiffe.of_certificate(chain[0])
    if ident is None:
        raise ValueError("certificate: it names no SPIFFE ID")
    leaf = chain[0]
    return WorkloadCert(key, tuple(chain), tuple(roots), ident, leaf.serial_number,
                        leaf.not_valid_before_utc.timestamp(), leaf.not_valid_after_utc.timestamp())

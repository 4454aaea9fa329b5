"""The mesh CA: signs short-lived workload certificates from CSRs.

Its key material lives in a directory in Istio's `cacerts` layout, so that a user's own
intermediate (or one root shared by several clusters) drops in unchanged:

    ca-cert.pem     the certificate that signs workload certificates
    ca-key.pem      its private key (0600)
    root-cert.pem   the trust anchors sidecars verify peers against (one or more roots)
    cert-chain.pem  the chain from ca-cert.pem up to the root, sent along with every leaf

When the directory holds none of these, a self-signed root is made there on first start.
The identity a certificate carries is decided by the caller (from the workload's registration),
never taken from the CSR, which only proves possession of the key.
"""

from __future__ import annotations

import datetime
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshtool.conventions import TRUST_DOMAIN

CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN = "ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"
CA_FILES = (CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN)
ROOT_DAYS = 3650
DEFAULT_TTL = 24 * 3600.0
CLOCK_SKEW = datetime.timedelta(seconds=60)  # peers whose clocks lag ours a little still accept


class CAError(ValueError):
    """The CA's files are missing, unreadable or do not fit together (one line, naming the file)."""


@dataclass(frozen=True)
class Issued:
    chain: list[str]  # PEM: the leaf first, then the intermediates (never the root)
    roots: list[str]  # PEM trust anchors
    serial: int
    not_after: float  # epoch seconds
    spiffe_id: str


def _usage(**on: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def create_root(directory: Path, trust_domain: str = TRUST_DOMAIN) -> None:
    """A self-signed root in `directory`, in the cacerts layout (the key 0600)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain),
                      x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"meshtool root CA {secrets.token_hex(4)}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + datetime.timedelta(days=ROOT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(digital_signature=True, key_cert_sign=True, crl_sign=True),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_private(directory / CA_KEY, key_pem)
    for fname in (CA_CERT, ROOT_CERT, CERT_CHAIN):
        (directory / fname).write_text(_pem(cert), encoding="utf-8")


def _read_certs(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise CAError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CAError(f"{path}: not a PEM certificate: {exc}") from None
    return certs


def _stamp(directory: Path) -> tuple:
    out = []
    for name in CA_FILES:
        try:
            st = os.stat(Path(directory) / name)
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


class MeshCA:
    def __init__(self, cert: x509.Certificate, key, chain: list[x509.Certificate],
                 roots: list[x509.Certificate], trust_domain: str = TRUST_DOMAIN,
                 directory: Path | None = None):
        self.cert, self._key, self.trust_domain, self.directory = cert, key, trust_domain, directory
        self.roots = roots
        root_fps = {r.fingerprint(hashes.SHA256()) for r in roots}
        # what follows a leaf: the chain without the roots themselves (peers have those)
        self.intermediates = [c for c in chain if c.fingerprint(hashes.SHA256()) not in root_fps]
        self._tail = [_pem(c) for c in self.intermediates]
        self._roots_pem = [_pem(r) for r in roots]
        self.issued = 0
        self._stamp = _stamp(directory) if directory is not None else None

    @classmethod
    def load_or_create(cls, directory: str | Path, trust_domain: str = TRUST_DOMAIN) -> "MeshCA":
        """The CA in `directory` (cacerts layout); a new self-signed root when it has none."""
        path = Path(directory)
        present = [f for f in CA_FILES if (path / f).exists()]
        if not present:
            create_root(path, trust_domain)
        elif len(present) < len(CA_FILES):
            missing = ", ".join(f for f in CA_FILES if f not in present)
            raise CAError(f"{path}: the CA files are incomplete: {missing} missing (a cacerts "
                          f"directory holds {', '.join(CA_FILES)})")
        return cls.load(path, trust_domain)

    @classmethod
    def load(cls, path: Path, trust_domain: str = TRUST_DOMAIN) -> "MeshCA":
        cert = _read_certs(path / CA_CERT)[0]
        try:
            key = serialization.load_pem_private_key((path / CA_KEY).read_bytes(), password=None)
        except OSError as exc:
            raise CAError(f"{path / CA_KEY}: {exc.strerror or exc}") from None
        except (ValueError, TypeError) as exc:
            raise CAError(f"{path / CA_KEY}: not an unencrypted PEM private key: {exc}") from None
        pub = lambda k: k.public_bytes(serialization.Encoding.DER,  # noqa: E731
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
        if pub(key.public_key()) != pub(cert.public_key()):
            raise CAError(f"{path / CA_KEY}: does not belong to {path / CA_CERT}")
        return cls(cert, key, _read_certs(path / CERT_CHAIN), _read_certs(path / ROOT_CERT),
                   trust_domain, path)

    def reloaded(self) -> "MeshCA":
        """This CA, or the one its directory holds now if its files changed since they were
        read: root rotation without a restart (add the new root to root-cert.pem, let every
        workload renew, then switch ca-cert/ca-key to it, then drop the old root). Files that
        do not load (caught mid-edit) leave this CA in force."""
        if self.directory is None or _stamp(self.directory) == self._stamp:
            return self
        try:
            fresh = MeshCA.load(self.directory, self.trust_domain)
        except CAError:
            return self
        fresh.issued = self.issued
        return fresh

    @property
    def roots_pem(self) -> list[str]:
        return list(self._roots_pem)

    def sign(self, csr_pem: str | bytes, spiffe_id: str, ttl: float = DEFAULT_TTL) -> Issued:
        """A certificate for the CSR's key naming `spiffe_id`; ValueError for a bad CSR."""
        data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
        try:
            csr = x509.load_pem_x509_csr(data)
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate request: {exc}") from None
        if not csr.is_signature_valid:
            raise ValueError("the certificate request's signature does not verify")
        now = datetime.datetime.now(datetime.timezone.utc)
        not_after = now + datetime.timedelta(seconds=ttl)
        ca_end = self.cert.not_valid_after_utc
        not_after = min(not_after, ca_end)  # never outlive the signer
        serial = x509.random_serial_number()
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                                            self.trust_domain)]))
                .issuer_name(self.cert.subject).public_key(csr.public_key())
                .serial_number(serial)
                .not_valid_before(now - min(CLOCK_SKEW, datetime.timedelta(seconds=ttl / 4)))
                .not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_usage(digital_signature=True, key_encipherment=True), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(spiffe_id)]), critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.cert.public_key()), critical=False)
                .sign(self._key, hashes.SHA256()))
        self.issued += 1
        return Issued([_pem(cert), *self._tail], list(self._roots_pem), serial,
                      not_after.timestamp(), spiffe_id)

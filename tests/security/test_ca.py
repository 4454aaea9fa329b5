"""The mesh CA and the workload side of certificates, with real keys and real signatures."""

import os
import stat
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from meshtool.security import spiffe, workload
from meshtool.security.ca import CA_FILES, CAError, MeshCA, create_root


def test_first_start_makes_a_root_with_a_private_key_file(tmp_path):
    ca = MeshCA.load_or_create(tmp_path / "ca", "example.org")
    assert sorted(os.listdir(tmp_path / "ca")) == sorted(CA_FILES)
    mode = stat.S_IMODE(os.stat(tmp_path / "ca" / "ca-key.pem").st_mode)
    assert mode == 0o600
    again = MeshCA.load_or_create(tmp_path / "ca", "example.org")  # the same root, not a new one
    assert again.cert.fingerprint(hashes.SHA256()) == ca.cert.fingerprint(hashes.SHA256())


def test_signed_leaf_names_the_given_identity_not_the_csr(tmp_path):
    ca = MeshCA.load_or_create(tmp_path / "ca")
    key = workload.new_key()
    issued = ca.sign(workload.csr_pem(key), "spiffe://cluster.local/ns/default/sa/benigno", ttl=30)
    cert = workload.accept(key, issued.chain, issued.roots)
    assert cert.spiffe_id == "spiffe://cluster.local/ns/default/sa/benigno"
    assert 25 < cert.not_after - time.time() <= 30
    leaf = cert.leaf
    leaf.verify_directly_issued_by(ca.cert)  # raises when the signature is not the CA's
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {o._name for o in eku} == {"serverAuth", "clientAuth"}
    assert len(issued.chain) == 1 and len(issued.roots) == 1  # the root is not sent twice


def test_a_chain_for_another_key_is_refused(tmp_path):
    ca = MeshCA.load_or_create(tmp_path / "ca")
    issued = ca.sign(workload.csr_pem(workload.new_key()), "spiffe://cluster.local/ns/a/sa/b")
    with pytest.raises(ValueError, match="not for this workload's key"):
        workload.accept(workload.new_key(), issued.chain, issued.roots)


def test_istio_cacerts_layout_with_an_intermediate(tmp_path):
    """A user's root signs an intermediate; the CA signs with the intermediate and sends it
    along, and the leaf verifies up to the root (what the Istio multi-cluster setup does)."""
    import datetime

    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    create_root(tmp_path / "root")
    root = MeshCA.load(tmp_path / "root")
    ikey = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    inter = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cluster1 CA")]))
             .issuer_name(root.cert.subject).public_key(ikey.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now)
             .not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
             .sign(root._key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    d = tmp_path / "cacerts"
    d.mkdir()
    (d / "ca-cert.pem").write_bytes(pem(inter))
    (d / "ca-key.pem").write_bytes(ikey.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (d / "root-cert.pem").write_bytes(pem(root.cert))
    (d / "cert-chain.pem").write_bytes(pem(inter) + pem(root.cert))
    ca = MeshCA.load_or_create(d)
    key = workload.new_key()
    issued = ca.sign(workload.csr_pem(key), "spiffe://cluster.local/ns/sample/sa/sleep")
    assert len(issued.chain) == 2  # leaf + intermediate, not the root
    cert = workload.accept(key, issued.chain, issued.roots)
    cert.leaf.verify_directly_issued_by(inter)
    cert.chain[1].verify_directly_issued_by(root.cert)


def test_incomplete_or_mismatched_ca_files_are_one_clear_error(tmp_path):
    d = tmp_path / "ca"
    create_root(d)
    (d / "root-cert.pem").unlink()
    with pytest.raises(CAError, match="root-cert.pem missing"):
        MeshCA.load_or_create(d)
    create_root(tmp_path / "other")
    (d / "root-cert.pem").write_bytes((tmp_path / "other" / "root-cert.pem").read_bytes())
    (d / "ca-cert.pem").write_bytes((tmp_path / "other" / "ca-cert.pem").read_bytes())
    with pytest.raises(CAError, match="ca-key.pem: does not belong"):
        MeshCA.load_or_create(d)


def test_a_csr_with_a_bad_signature_is_refused(tmp_path):
    ca = MeshCA.load_or_create(tmp_path / "ca")
    import base64

    pem = workload.csr_pem(workload.new_key())
    body = pem.split("-----")[2]
    der = bytearray(base64.b64decode(body))
    der[-3] ^= 0x01  # inside the signature's integers: the DER still parses
    forged = ("-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode()
              + "-----END CERTIFICATE REQUEST-----\n")
    with pytest.raises(ValueError, match="signature does not verify"):
        ca.sign(forged, "spiffe://cluster.local/ns/a/sa/b")


def test_spiffe_ids_and_principal_patterns():
    sid = spiffe.workload_id("default", "sleep")
    assert str(sid) == "spiffe://cluster.local/ns/default/sa/sleep"
    assert spiffe.parse(str(sid)) == sid
    with pytest.raises(ValueError):
        spiffe.parse("spiffe://cluster.local/sa/sleep")
    with pytest.raises(ValueError):
        spiffe.workload_id("a/b", "sleep")
    assert spiffe.principal_matches("cluster.local/ns/default/*", sid.principal)
    assert spiffe.principal_matches("*/sa/sleep", sid.principal)
    assert not spiffe.principal_matches("cluster.local/ns/other/sa/sleep", sid.principal)

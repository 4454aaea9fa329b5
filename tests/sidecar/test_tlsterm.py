"""The gateway's SNI table: certificates pushed at run time beside the --tls-cert files."""

import logging

from meshtool.discovery.protocol import ServedCertificate, TlsMessage
from meshtool.sidecar.tlsterm import CertificatePair, TlsTerminator
from meshtool.testing.certs import self_signed


def served(tmp_path, name, hosts=None):
    directory = tmp_path / name.replace("*", "w")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(directory, name)
    return ServedCertificate(f"shop/{name}", tuple(hosts if hosts is not None else [name]),
                             cert.read_text(), key.read_text())


def test_pushed_certificates_replace_the_previous_set_whole(tmp_path):
    term = TlsTerminator([])
    assert term.choose("a.example.com") is None  # nothing yet: the handshake is refused
    a, b = served(tmp_path, "a.example.com"), served(tmp_path, "*.b.example.com")
    term.install(TlsMessage("v1", (a, b)))
    ctx_a = term.choose("a.example.com")
    assert ctx_a is not None and term.choose("x.b.example.com") not in (None, ctx_a)
    assert term.choose("unknown.test") is ctx_a  # the first is the default
    term.install(TlsMessage("v2", (b,)))
    assert term.names == ["*.b.example.com"]
    assert term.describe()["pushedVersion"] == "v2"


def test_a_broken_certificate_is_logged_once_and_the_others_serve(tmp_path, caplog):
    good = served(tmp_path, "a.example.com")
    broken = ServedCertificate("shop/broken", ("c.example.com",), "garbage", good.key)
    term = TlsTerminator([])
    with caplog.at_level(logging.ERROR, logger="meshtool.sidecar"):
        term.install(TlsMessage("v1", (broken, good)))
        term.install(TlsMessage("v2", (broken, good)))
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "certificate shop/broken not served"]
    assert term.names == ["a.example.com"]
    assert [p.get("error") is not None for p in term.describe()["pushed"]] == [True, False]


def test_pushed_hosts_come_before_the_files_and_the_file_stays_default(tmp_path):
    cert, key = self_signed(tmp_path, "a.example.com")
    term = TlsTerminator([CertificatePair(str(cert), str(key))])
    from_file = term.choose("a.example.com")
    term.install(TlsMessage("v1", (served(tmp_path / "pushed", "a.example.com"),)))
    assert term.choose("a.example.com") is not from_file
    assert term.choose("other.test") is from_file

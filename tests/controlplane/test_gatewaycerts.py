"""The gateways' certificates: which Secrets are served and why not (pure), and that a real
control plane pushes them, over real WebSockets, to gateway proxies and never to a sidecar."""

import asyncio
import json

from meshtool.controlplane.gatewaycerts import bundle
from meshtool.controlplane.kubesecrets import SecretInfo, secret_info
from meshtool.controlplane.server import ControlPlane
from meshtool.discovery.client import DiscoveryClient
from meshtool.discovery.protocol import TLS, Identity
from meshtool.discovery.wire import decode_message
from meshtool.model.gatewaytls import INGRESS, TlsReference
from meshtool.model.resource import Resource
from meshtool.testing.certs import self_signed

from tests.controlplane.test_incremental import Endpoints


def pem(tmp_path, name):
    directory = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}"
    directory.mkdir()
    cert, key = self_signed(directory, name)
    return cert.read_text(), key.read_text()


def tls(ns, name, cert, key, kind="kubernetes.io/tls"):
    return SecretInfo(ns, name, kind, {"tls.crt": cert, "tls.key": key} if cert else {})


def ref(secret, hosts=(), source="web"):
    return TlsReference((INGRESS, "shop", source), "networking.k8s.io/v1", "shop", secret,
                        tuple(hosts))


def test_a_tls_secret_is_served_for_the_hosts_named_else_its_own(tmp_path):
    cert, key = pem(tmp_path, "a.example.com")
    secrets = {("shop", "a"): tls("shop", "a", cert, key)}
    named = bundle([ref("a", ["www.example.com"])], lambda ns, n: secrets.get((ns, n)))
    assert [(c.name, c.hosts) for c in named.certificates] == [("shop/a", ("www.example.com",))]
    assert named.certificates[0].key == key and named.problems == ()
    own = bundle([ref("a")], lambda ns, n: secrets.get((ns, n)))
    assert own.certificates[0].hosts == ("a.example.com",)
    # the same Secret named twice: served once, for both resources' hosts
    both = bundle([ref("a", ["x.test"]), ref("a", ["y.test"], source="other")],
                  lambda ns, n: secrets.get((ns, n)))
    assert [c.hosts for c in both.certificates] == [("x.test", "y.test")]
    assert both.describe()["certificates"][0]["sources"] == [
        f"{INGRESS}/shop/web", f"{INGRESS}/shop/other"]
    assert "PRIVATE KEY" not in json.dumps(both.describe())


def test_what_cannot_be_served_says_why_and_the_rest_is_served(tmp_path):
    cert, key = pem(tmp_path, "a.example.com")
    other_cert, other_key = pem(tmp_path, "b.example.com")
    secrets = {
        ("shop", "good"): tls("shop", "good", cert, key),
        ("shop", "opaque"): tls("shop", "opaque", None, None, kind="Opaque"),
        ("shop", "garbage"): tls("shop", "garbage", "not a certificate", key),
        ("shop", "nokey"): tls("shop", "nokey", cert, "nope"),
        ("shop", "mismatch"): tls("shop", "mismatch", cert, other_key),
    }
    out = bundle([ref(n) for n in ("missing", "opaque", "garbage", "nokey", "mismatch", "good")],
                 lambda ns, n: secrets.get((ns, n)))
    assert [c.name for c in out.certificates] == ["shop/good"]
    assert [(p.reference.secret, p.message) for p in out.problems] == [
        ("missing", "Secret 'missing' (namespace 'shop') not found"),
        ("opaque", "Secret 'opaque' (namespace 'shop') is of type 'Opaque', not kubernetes.io/tls"),
        ("garbage", "Secret 'garbage' (namespace 'shop'): tls.crt is not a PEM certificate"),
        ("nokey", "Secret 'nokey' (namespace 'shop'): tls.key is not an unencrypted PEM "
                  "private key"),
        ("mismatch", "Secret 'mismatch' (namespace 'shop'): tls.key is not the private key of "
                     "the certificate in tls.crt")]


def test_a_secret_of_another_namespace_is_not_served_without_a_reference_grant(tmp_path):
    cert, key = pem(tmp_path, "a.example.com")
    secrets = {("shop", "a"): tls("shop", "a", cert, key),
               ("bank", "b"): tls("bank", "b", cert, key)}
    elsewhere = TlsReference(("Gateway.gateway.networking.k8s.io", "shop", "gw"),
                             "gateway.networking.k8s.io/v1", "bank", "b", ("a.example.com",))
    out = bundle([ref("a"), elsewhere], lambda ns, n: secrets.get((ns, n)))
    assert [c.name for c in out.certificates] == ["shop/a"]
    assert [p.reference.secret_id for p in out.problems] == ["bank/b"]
    assert "ReferenceGrant" in out.problems[0].message


def test_the_version_names_the_content(tmp_path):
    cert, key = pem(tmp_path, "a.example.com")
    cert2, key2 = pem(tmp_path, "a.example.com")
    first = bundle([ref("a")], lambda ns, n: tls("shop", "a", cert, key))
    again = bundle([ref("a")], lambda ns, n: tls("shop", "a", cert, key))
    rotated = bundle([ref("a")], lambda ns, n: tls("shop", "a", cert2, key2))
    assert first.version == again.version != rotated.version


def test_secret_info_keeps_data_of_tls_secrets_only():
    import base64

    data = {"tls.crt": base64.b64encode(b"CERT").decode(),
            "tls.key": base64.b64encode(b"KEY").decode()}
    assert secret_info({"metadata": {"name": "a", "namespace": "s"}, "type": "kubernetes.io/tls",
                        "data": data}).data == {"tls.crt": "CERT", "tls.key": "KEY"}
    assert secret_info({"metadata": {"name": "b", "namespace": "s"}, "type": "Opaque",
                        "data": data}) == SecretInfo("s", "b", "Opaque", {})


class Secrets:
    """The Secrets source's interface (Kubernetes mode lists and watches them: tests/kube)."""

    def __init__(self, secrets):
        self.secrets, self.ready, self.on_change = secrets, True, lambda: None

    def start(self, loop, on_change):
        self.on_change = on_change

    def stop(self):
        pass

    def get(self, ns, name):
        return self.secrets.get((ns, name))

    def put(self, info):
        self.secrets[info.key] = info
        self.on_change()


class Reviewer:
    """Stands in for the TokenReview (the real API server reviews tokens in tests/kube)."""

    def review(self, token, cluster=None):
        accounts = {"gw-token": ("meshtool-system", "meshtool-gateway"),
                    "app-token": ("shop", "web")}
        if token not in accounts:
            raise ValueError("the service account token does not authenticate")
        return accounts[token]


def test_certificates_reach_gateways_only_and_follow_the_secret(tmp_path):
    cert, key = pem(tmp_path, "shop.example.com")
    cert2, key2 = pem(tmp_path, "shop.example.com")
    ingress = Resource.from_manifest({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                 "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}})
    source = Secrets({("shop", "shop-tls"): tls("shop", "shop-tls", cert, key)})

    async def main():
        cp = ControlPlane(None, debounce=0.001, credentials=source, workloads=Endpoints([
            {"name": "web", "namespace": "shop", "ports": [80], "endpoints": []}]),
            token_reviewer=Reviewer(), gateway_account=("meshtool-system", "meshtool-gateway"))
        addr = await cp.start("127.0.0.1", 0)
        cp.set_rules(1, [ingress])
        seen = {"gw": [], "side": []}

        def recording(who):
            def decode(data):
                message = decode_message(data)
                seen[who].append(message)
                return message
            return decode

        gw = DiscoveryClient(addr, Identity("gw.shop", "meshtool-gateway", namespace="shop",
                                            kind="gateway"), lambda d: None,
                             decode=recording("gw"))
        side = DiscoveryClient(addr, Identity("web.shop", "web", namespace="shop"),
                               lambda d: None, decode=recording("side"))
        gw.hello_fields = lambda: {"token": "gw-token"}
        # say "gateway" with no token, or with an app's token: nothing
        impostors = [DiscoveryClient(addr, Identity(f"fake{i}.shop", "meshtool-gateway",
                                                    namespace="shop", kind="gateway"),
                                     lambda d: None, decode=recording("side"))
                     for i in range(2)]
        impostors[1].hello_fields = lambda: {"token": "app-token"}
        got = []
        gw.handlers[TLS] = got.append
        for c in (gw, side, *impostors):
            c.start()

        async def until(predicate):
            for _ in range(500):
                if predicate():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(cp.sync_table())

        await until(lambda: got and all(c.snapshot is not None for c in (gw, side, *impostors)))
        assert [(c["name"], c["hosts"], c["privateKey"]) for c in got[0]["certificates"]] == [
            ("shop/shop-tls", ["shop.example.com"], key)]
        source.put(tls("shop", "shop-tls", cert2, key2))  # rotated
        await until(lambda: len(got) == 2)
        assert got[1]["certificates"][0]["certChain"] == cert2
        source.put(tls("shop", "unrelated", cert, key))  # nobody names it: nothing sent
        cp.set_rules(2, [ingress])
        await until(lambda: side.version is not None and side.version.startswith("2."))
        assert len(got) == 2
        assert not [m for m in seen["side"] if m.get("type") == TLS]
        assert all("PRIVATE KEY" not in json.dumps(m) for m in seen["side"])
        rows = {p["proxyId"]: p.get("tls") for p in cp.sync_table()["proxies"]}
        assert rows == {
            "gw.shop": {"version": got[1]["version"], "certificates": 1}, "web.shop": None,
            "fake0.shop": {"refused": "no certificates: its hello carries no service account "
                                      "token"},
            "fake1.shop": {"refused": "no certificates: its token is service account shop/web's, "
                                      "the gateway's is meshtool-system/meshtool-gateway"}}
        for c in (gw, side, *impostors):
            await c.stop()
        await cp.stop()

    asyncio.run(main())

"""The security policies a sidecar compiles for itself: which apply, the mode, the verdicts."""

from meshtool.model import native
from meshtool.sidecar.security import Request, access_table, peer_modes

MAGNANIMO = "spiffe://cluster.local/ns/default/sa/magnanimo"
OTHER = "spiffe://cluster.local/ns/prod/sa/sleep"


def parsed(kind, ns, name, spec):
    result = native.parse(kind, ns, name, spec)
    assert not result.problems, result.problems
    return result.value


def req(principal=MAGNANIMO, method="GET", path="/", port=5000, headers=None):
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    return Request(principal, method, path, port, headers.get)


def test_the_most_specific_mode_wins_and_ports_beat_it():
    mesh = parsed("MTLSPolicy", "istio-system", "mesh", {"mode": "STRICT"})
    ns = parsed("MTLSPolicy", "default", "ns", {"mode": "PERMISSIVE"})
    unset = parsed("MTLSPolicy", "default", "benigno", {
        "destination": {"name": "benigno"}, "ports": [{"port": 5000, "mode": "DISABLE"}]})
    modes = peer_modes([mesh, ns, unset], "benigno", "default", {"version": "v1"})
    assert modes.mode() == "PERMISSIVE" and modes.mode(5000) == "DISABLE"  # unset: inherited
    assert peer_modes([mesh], "benigno", "prod", {}).mode() == "STRICT"  # mesh-wide
    assert peer_modes([ns], "benigno", "prod", {}) is None  # another namespace's policy
    other = parsed("MTLSPolicy", "default", "x", {"destination": {"name": "helloworld"},
                                                   "mode": "STRICT"})
    assert peer_modes([other], "benigno", "default", {}) is None


def test_deny_wins_then_allow_then_default_allow():
    allow = parsed("AccessPolicy", "default", "allow", {
        "action": "ALLOW", "rules": [{"from": [{"principals": ["cluster.local/ns/default/*"]}],
                                      "to": [{"methods": ["GET"], "paths": ["/api/*"]}]}]})
    deny = parsed("AccessPolicy", "default", "deny", {
        "action": "DENY", "rules": [{"when": [{"header": "x-user", "values": ["mallory"]}]}]})
    table = access_table([allow, deny], "benigno", "default", {})
    assert table.decide(req(path="/api/x")).allowed
    assert table.decide(req(path="/api/x?q=1")).allowed  # the query is not part of the path
    v = table.decide(req(path="/other"))
    assert not v.allowed and v.policy == "ALLOW default/allow (no rule matched)"
    assert not table.decide(req(method="POST", path="/api/x")).allowed
    assert not table.decide(req(principal=OTHER, path="/api/x")).allowed
    v = table.decide(req(path="/api/x", headers={"X-User": "mallory"}))
    assert not v.allowed and v.policy == "DENY default/deny"
    assert access_table([deny], "benigno", "default", {}).decide(req()).allowed


def test_plaintext_has_no_identity_and_not_fields_exclude():
    allow = parsed("AccessPolicy", "default", "a", {
        "rules": [{"from": [{"notNamespaces": ["prod"]}], "to": [{"notPorts": [9000]}]}]})
    table = access_table([allow], "benigno", "default", {})
    assert table.decide(req()).allowed
    assert not table.decide(req(principal=OTHER)).allowed
    assert not table.decide(req(port=9000)).allowed
    by_principal = parsed("AccessPolicy", "default", "p", {
        "rules": [{"from": [{"principals": ["*"]}]}]})
    table = access_table([by_principal], "benigno", "default", {})
    assert table.decide(req()).allowed and not table.decide(req(principal=None)).allowed
    assert table.identity_based


def test_audit_counts_and_never_denies_and_no_rules_match_nothing():
    audit = parsed("AccessPolicy", "default", "audit", {
        "action": "AUDIT", "rules": [{"from": [{"principals": ["*/sa/magnanimo"]}]}]})
    nothing = parsed("AccessPolicy", "default", "deny-none", {"action": "DENY"})
    table = access_table([audit, nothing], "benigno", "default", {})
    v = table.decide(req())
    assert v.allowed and v.audited == ("default/audit",)
    assert table.decide(req(principal=OTHER)).audited == ()


def test_bad_native_specs_are_named_problems():
    problems = native.parse("AccessPolicy", "default", "x", {
        "action": "LOG", "rules": [{"to": [{"ports": ["80"]}], "when": [{}]}]}).problems
    paths = {".".join(map(str, p)) for p, _ in problems}
    assert paths == {"spec.action", "spec.rules.0.to.0.ports", "spec.rules.0.when.0.header"}
    problems = native.parse("MTLSPolicy", "default", "x", {"mode": "OFF"}).problems
    assert [m for _, m in problems] == ["must be one of STRICT, PERMISSIVE, DISABLE"]

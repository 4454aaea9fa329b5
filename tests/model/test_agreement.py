"""No drift: for random rules that pass the schema, `validate` (schema + semantic checks) accepts
exactly those the sidecar accepts when they arrive in a snapshot (and NACKs the others)."""

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from meshtool.model.semantic import check
from meshtool.rules import schema
from meshtool.sidecar.snapshot import compile_snapshot

DURATIONS = st.sampled_from(["10s", "1.5s", "250ms", "2m", "1h", "1m30s", "0s", "1.5", "10",
                             "2 minutes", "1d", "", "s"])
REGEXES = st.sampled_from(["^/api", "v[12]", "(a|b)+", "([", "a{2", "*x", ".*"])
WEIGHTS = st.one_of(st.integers(-10, 110), st.sampled_from([0, 10, 50, 90, 100, 90.0, 10.5]))
PERCENTS = st.one_of(st.integers(-5, 105), st.floats(-1, 101, allow_nan=False))
LABELS = st.dictionaries(st.sampled_from(["version", "app"]), st.sampled_from(["v1", "v2"]),
                         max_size=2)
HEADER_NAMES = st.sampled_from(["x-user", "X-User", "uri", "authority", "cookie"])
CONDITIONS = st.one_of(st.builds(lambda v: {"exact": v}, st.sampled_from(["jason", "/a"])),
                       st.builds(lambda v: {"prefix": v}, st.sampled_from(["/api", ""])),
                       st.builds(lambda v: {"regex": v}, REGEXES))


def _optional(**fields):
    """A mapping with any subset of the given strategies' keys."""
    return st.fixed_dictionaries({}, optional=fields)


ROUTES = st.lists(_optional(labels=LABELS, weight=WEIGHTS), min_size=1, max_size=3)
ROUTE_SPECS = st.builds(lambda base, extra: {**base, **extra},
                        st.just({"destination": {"name": "benigno"}}),
                        _optional(
                            precedence=st.integers(0, 5),
                            route=ROUTES,
                            match=st.builds(lambda h: {"request": {"headers": h}},
                                            st.dictionaries(HEADER_NAMES, CONDITIONS, max_size=2)),
                            redirect=st.just({"uri": "/v2"}),
                            rewrite=st.just({"uri": "/v1"}),
                            httpReqTimeout=st.builds(lambda d: {"simpleTimeout": {"timeout": d}},
                                                     DURATIONS),
                            httpReqRetries=st.builds(
                                lambda a, d: {"simpleRetry": {"attempts": a, "perTryTimeout": d}},
                                st.integers(0, 5), DURATIONS),
                            httpFault=st.builds(
                                lambda p, d, s: {"delay": {"percent": p, "fixedDelay": d},
                                                 "abort": {"percent": p, "httpStatus": s}},
                                PERCENTS, DURATIONS, st.integers(200, 599)),
                            corsPolicy=st.builds(lambda d: {"allowOrigin": ["*"], "maxAge": d},
                                                 DURATIONS)))
HOSTS = st.sampled_from(["msgd.example.com", "*.example.com", "*", "10.100.35.27", "10.0.0.0/8",
                         "msgd*.example.com", "a..b", "127.0.0.5"])
EGRESS_SPECS = st.builds(
    lambda host, ports: {"destination": {"service": host}, **({"ports": ports} if ports else {})},
    HOSTS, st.lists(st.fixed_dictionaries({"port": st.sampled_from([80, 443, 9997]),
                                           "protocol": st.sampled_from(["http", "https", "tcp"])}),
                    max_size=3))
POLICY_SPECS = st.builds(
    lambda labels, lb, cb: {"destination": {"name": "benigno", "labels": labels},
                            "loadBalancing": {"name": lb}, "circuitBreaker": {"simpleCb": cb}},
    LABELS, st.sampled_from(["ROUND_ROBIN", "LEAST_CONN", "RANDOM"]),
    _optional(maxConnections=st.integers(0, 10), sleepWindow=DURATIONS,
              httpDetectionInterval=DURATIONS, httpMaxEjectionPercent=st.integers(-5, 120)))
RULES = st.one_of(st.tuples(st.just("RouteRule"), ROUTE_SPECS),
                  st.tuples(st.just("EgressRule"), EGRESS_SPECS),
                  st.tuples(st.just("DestinationPolicy"), POLICY_SPECS))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(RULES)
def test_validate_and_sidecar_agree(rule):
    kind, spec = rule
    manifest = {"apiVersion": "config.meshtool.io/v1alpha1", "kind": kind,
                "metadata": {"name": "r", "namespace": "default"}, "spec": spec}
    assume(not schema.validate(kind, manifest))  # a rule the schema lets through
    validate_ok = not check(kind, spec)
    doc = {"version": "1", "services": [
        {"name": "benigno", "namespace": "default", "ports": [5000],
         "endpoints": [{"address": "127.0.0.1", "port": 5001, "labels": {"version": "v1"}}]}],
        "rules": [manifest]}
    try:
        compile_snapshot(doc)
        sidecar_ok, nack = True, ""
    except ValueError as exc:
        sidecar_ok, nack = False, str(exc)
    assert validate_ok == sidecar_ok, (check(kind, spec), nack)

"""Semantic checks: each with a passing and a failing spec, and its own message."""

import pytest

from meshtool.model.semantic import check, valid_host_pattern
from meshtool.rules.yamlio import format_path

DEST = {"destination": {"name": "reviews"}}


def problems(kind, spec):
    return {format_path(path): msg for path, msg in check(kind, spec)}


def rr(**spec):
    return {**DEST, **spec}


# (kind, spec that passes, spec that fails, field, message)
CASES = [
    ("weights total 100", "RouteRule",
     rr(route=[{"labels": {"version": "v1"}, "weight": 90},
               {"labels": {"version": "v2"}, "weight": 10}]),
     rr(route=[{"labels": {"version": "v1"}, "weight": 90},
               {"labels": {"version": "v2"}, "weight": 20}]),
     "spec.route[1].weight", "weights sum to 110, must be 100"),
    ("a single route without weight is 100", "RouteRule",
     rr(route=[{"labels": {"version": "v2"}}]),
     rr(route=[{"labels": {"version": "v2"}, "weight": 50}]),
     "spec.route[0].weight", "weights sum to 50, must be 100"),
    ("several routes need weights", "RouteRule",
     rr(route=[{"labels": {"version": "v1"}, "weight": 0}, {"weight": 100}]),
     rr(route=[{"labels": {"version": "v1"}, "weight": 100}, {"labels": {"version": "v2"}}]),
     "spec.route[1].weight", "a weight is required when there is more than one route"),
    ("route and redirect exclusive", "RouteRule",
     rr(redirect={"uri": "/v2"}),
     rr(redirect={"uri": "/v2"}, route=[{"labels": {"version": "v2"}}]),
     "spec.route", "route and redirect are exclusive: a redirected request is answered, "
                   "not routed"),
    ("fault and redirect exclusive", "RouteRule",
     rr(httpFault={"abort": {"httpStatus": 503}}),
     rr(redirect={"uri": "/v2"}, httpFault={"abort": {"httpStatus": 503}}),
     "spec.httpFault", "httpFault and redirect are exclusive: a redirected request is answered "
                       "before any fault"),
    ("rewrite and redirect exclusive", "RouteRule",
     rr(rewrite={"uri": "/v2"}),
     rr(redirect={"uri": "/v2"}, rewrite={"uri": "/v1"}),
     "spec.rewrite", "rewrite and redirect are exclusive: use redirect.uri or "
                     "redirect.authority"),
    ("request timeout parses", "RouteRule",
     rr(httpReqTimeout={"simpleTimeout": {"timeout": "1.5s"}}),
     rr(httpReqTimeout={"simpleTimeout": {"timeout": "1.5"}}),
     "spec.httpReqTimeout.simpleTimeout.timeout", "invalid duration '1.5'"),
    ("per-try timeout parses", "RouteRule",
     rr(httpReqRetries={"simpleRetry": {"attempts": 3, "perTryTimeout": "250ms"}}),
     rr(httpReqRetries={"simpleRetry": {"attempts": 3, "perTryTimeout": "250 ms"}}),
     "spec.httpReqRetries.simpleRetry.perTryTimeout", "invalid duration '250 ms'"),
    ("retry backoff parses", "RouteRule",
     rr(httpReqRetries={"simpleRetry": {"attempts": 3, "backoff": "25ms"}}),
     rr(httpReqRetries={"simpleRetry": {"attempts": 3, "backoff": "soon"}}),
     "spec.httpReqRetries.simpleRetry.backoff", "invalid duration 'soon'"),
    ("fault delay parses", "RouteRule",
     rr(httpFault={"delay": {"percent": 10, "fixedDelay": "2m"}}),
     rr(httpFault={"delay": {"percent": 10, "fixedDelay": "2 minutes"}}),
     "spec.httpFault.delay.fixedDelay", "invalid duration '2 minutes'"),
    ("CORS max age parses", "RouteRule",
     rr(corsPolicy={"maxAge": "24h"}),
     rr(corsPolicy={"maxAge": "1d"}),
     "spec.corsPolicy.maxAge", "invalid duration '1d'"),
    ("header names lowercase", "RouteRule",
     rr(match={"request": {"headers": {"x-user": {"exact": "jason"}}}}),
     rr(match={"request": {"headers": {"X-User": {"exact": "jason"}}}}),
     "spec.match.request.headers.X-User", "header name 'X-User' must be lowercase ('x-user')"),
    ("regexes compile", "RouteRule",
     rr(match={"request": {"headers": {"cookie": {"regex": "^(.*?;)?(user=jason)(;.*)?$"}}}}),
     rr(match={"request": {"headers": {"cookie": {"regex": "^(user=jason"}}}}),
     "spec.match.request.headers.cookie.regex", "invalid regular expression '^(user=jason'"),
    ("fault percentages", "RouteRule",
     rr(httpFault={"abort": {"percent": 100, "httpStatus": 503}}),
     rr(httpFault={"abort": {"percent": 100.5, "httpStatus": 503}}),
     "spec.httpFault.abort.percent", "percentage 100.5 is outside 0..100"),
    ("delay percentages", "RouteRule",
     rr(httpFault={"delay": {"percent": 0, "fixedDelay": "1s"}}),
     rr(httpFault={"delay": {"percent": -5, "fixedDelay": "1s"}}),
     "spec.httpFault.delay.percent", "percentage -5 is outside 0..100"),
    ("route weight percentages", "RouteRule",
     rr(route=[{"weight": 100}, {"weight": 0}]),
     rr(route=[{"weight": 150}, {"weight": -50}]),
     "spec.route[0].weight", "percentage 150 is outside 0..100"),
    ("no duplicate egress ports", "EgressRule",
     {"destination": {"service": "msgd.example.com"},
      "ports": [{"port": 9997, "protocol": "http"}, {"port": 443, "protocol": "https"}]},
     {"destination": {"service": "msgd.example.com"},
      "ports": [{"port": 9997, "protocol": "http"}, {"port": 9997, "protocol": "tcp"}]},
     "spec.ports[1].port", "port 9997 is listed twice (first at spec.ports[0])"),
    ("IP and CIDR destinations allow HTTP ports (the Host header is the address)", "EgressRule",
     {"destination": {"service": "10.100.35.27"}, "ports": [{"port": 9997, "protocol": "http"}]},
     {"destination": {"service": "10.0.0.0/8"}, "ports": [{"port": 0, "protocol": "http"}]},
     "spec.ports[0].port", "0 is outside 1..65535"),
    ("weights are integers", "RouteRule",
     rr(route=[{"labels": {"version": "v1"}, "weight": 90},
               {"labels": {"version": "v2"}, "weight": 10}]),
     rr(route=[{"labels": {"version": "v1"}, "weight": 90.0},
               {"labels": {"version": "v2"}, "weight": 10}]),
     "spec.route[0].weight", "must be an integer, got 90.0"),
    ("egress host form", "EgressRule",
     {"destination": {"service": "*.example.com"}, "ports": [{"port": 443, "protocol": "https"}]},
     {"destination": {"service": "msgd*.example.com"},
      "ports": [{"port": 443, "protocol": "https"}]},
     "spec.destination.service", "'msgd*.example.com' is not a host"),
    ("circuit breaker sleep window parses", "DestinationPolicy",
     {**DEST, "circuitBreaker": {"simpleCb": {"sleepWindow": "15m"}}},
     {**DEST, "circuitBreaker": {"simpleCb": {"sleepWindow": "15"}}},
     "spec.circuitBreaker.simpleCb.sleepWindow", "invalid duration '15'"),
    ("circuit breaker detection interval parses", "DestinationPolicy",
     {**DEST, "circuitBreaker": {"simpleCb": {"httpDetectionInterval": "5m"}}},
     {**DEST, "circuitBreaker": {"simpleCb": {"httpDetectionInterval": "fast"}}},
     "spec.circuitBreaker.simpleCb.httpDetectionInterval", "invalid duration 'fast'"),
    ("ejection percentage", "DestinationPolicy",
     {**DEST, "circuitBreaker": {"simpleCb": {"httpMaxEjectionPercent": 100}}},
     {**DEST, "circuitBreaker": {"simpleCb": {"httpMaxEjectionPercent": 120}}},
     "spec.circuitBreaker.simpleCb.httpMaxEjectionPercent", "percentage 120 is outside 0..100"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_check_passes_good_spec(case):
    _, kind, good, *_ = case
    assert problems(kind, good) == {}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_check_reports_bad_spec_with_its_own_message(case):
    _, kind, _, bad, field, message = case
    found = problems(kind, bad)
    assert field in found, found
    assert found[field].startswith(message), found[field]


@pytest.mark.parametrize("spec", [None, [], "x", {"route": "x"}, {"route": [1, None]},
                                  {"match": {"request": {"headers": [1]}}},
                                  {"ports": {"a": 1}}, {"destination": 5},
                                  {"circuitBreaker": {"simpleCb": {"sleepWindow": 15}}}])
@pytest.mark.parametrize("kind", ["RouteRule", "EgressRule", "DestinationPolicy", "Other"])
def test_odd_shapes_never_raise(kind, spec):
    check(kind, spec)


@pytest.mark.parametrize("pattern,ok", [
    ("msgd.example.com", True), ("*.example.com", True), ("*", True), ("msgd", True),
    ("", False), ("*.", False), ("a..b", False), ("msgd*.example.com", False),
    ("-a.example.com", False), ("a b", False),
])
def test_host_patterns(pattern, ok):
    assert valid_host_pattern(pattern) is ok


def test_a_redirect_code_is_one_of_the_redirect_statuses_and_a_redirect_goes_somewhere():
    from meshtool.model import native
    ok = native.parse("RouteRule", "default", "r", {
        "destination": {"name": "benigno"}, "redirect": {"uri": "/new", "redirectCode": 308}})
    assert ok.problems == [] and ok.value.redirect_code == 308
    for redirect, message in (({"uri": "/new", "redirectCode": 200}, "must be one of 301"),
                              ({"redirectCode": 302}, "needs uri or authority")):
        parsed = native.parse("RouteRule", "default", "r", {"destination": {"name": "benigno"},
                                                            "redirect": redirect})
        assert any(message in m for _, m in parsed.problems), parsed.problems

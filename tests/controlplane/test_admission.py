"""The validating webhook's decision, driven directly (the real API server: tests/kube/webhook)."""

from meshtool.controlplane.admission import validate_request


def request(spec, kind="RouteRule", operation="CREATE", **extra):
    return {"uid": "1", "kind": {"group": "config.meshtool.io", "version": "v1alpha1",
                                 "kind": kind},
            "operation": operation, "object": {
                "apiVersion": "config.meshtool.io/v1alpha1", "kind": kind,
                "metadata": {"name": "r", "namespace": "default", "uid": "u",
                             "creationTimestamp": "2026-01-01T00:00:00Z",
                             "managedFields": [{"manager": "kubectl"}]},
                "spec": spec}, **extra}


GOOD = {"destination": {"name": "reviews"}, "route": [{"labels": {"version": "v1"}}]}


def test_a_valid_rule_with_server_metadata_is_allowed():
    assert validate_request(request(GOOD)) == (True, "valid")


def test_weights_that_do_not_add_up_are_refused_in_one_line():
    bad = {"destination": {"name": "reviews"},
           "route": [{"labels": {"version": "v1"}, "weight": 50},
                     {"labels": {"version": "v2"}, "weight": 20}]}
    for operation in ("CREATE", "UPDATE"):
        assert validate_request(request(bad, operation=operation)) == (
            False, "RouteRule/r: spec.route[1].weight: weights sum to 70, must be 100")


def test_a_selector_label_kubernetes_refuses_is_refused():
    spec = {"destination": {"name": "reviews", "labels": {"team": "platform engineering"}}}
    allowed, message = validate_request(request(spec, kind="DestinationPolicy"))
    assert not allowed and message.startswith(
        "DestinationPolicy/r: spec.destination.labels.team: label value 'platform engineering'")


def test_other_kinds_status_updates_and_deletes_pass():
    bad = {"route": "nonsense"}
    assert validate_request(request(bad, kind="Pod"))[0]
    assert validate_request(request(bad, subResource="status"))[0]
    assert validate_request(request(bad, operation="DELETE"))[0]

"""kuma.io HealthCheck -> DestinationPolicy.healthCheck."""

from meshtool.model.convert import Context, converter_for
from meshtool.rules.yamlio import format_path


def health_check(conf, destination="backend_shop_svc_80", sources=None):
    return {"apiVersion": "kuma.io/v1alpha1", "kind": "HealthCheck", "mesh": "default",
            "metadata": {"name": "backend-check", "namespace": "shop"},
            "spec": {"sources": sources or [{"match": {"kuma.io/service": "*"}}],
                     "destinations": [{"match": {"kuma.io/service": destination}}],
                     "conf": conf}}


def convert(doc):
    return converter_for("kuma.io/v1alpha1", "HealthCheck")(doc, Context([doc]))


def test_conf_becomes_the_native_health_check():
    out = convert(health_check({"interval": "10s", "timeout": "2s", "unhealthyThreshold": 3,
                                "healthyThreshold": 1, "tcp": {},
                                "http": {"path": "/health", "expectedStatuses": [200]}}))
    assert out.problems == []
    [converted] = out.converted
    assert converted.manifest["kind"] == "DestinationPolicy"
    assert converted.manifest["spec"] == {
        "destination": {"name": "backend", "namespace": "shop"},
        "healthCheck": {"interval": "10s", "timeout": "2s", "unhealthyThreshold": 3,
                        "healthyThreshold": 1, "http": {"path": "/health",
                                                        "expectedStatuses": [200]}}}


def test_a_source_and_unsupported_knobs():
    out = convert(health_check({"interval": "1s", "initialJitter": "1s", "tcp": {"send": "x"}},
                               sources=[{"match": {"kuma.io/service": "web_shop_svc_80"}}]))
    assert out.converted[0].manifest["spec"]["source"] == {"name": "web", "namespace": "shop"}
    assert {format_path(p) for p, _ in out.problems} == {"spec.conf.initialJitter",
                                                         "spec.conf.tcp.send"}


def test_one_destination_service():
    out = convert(health_check({"interval": "1s"}, destination="*"))
    assert out.converted == []
    assert [format_path(p) for p, _ in out.problems] == [
        "spec.destinations[0].match.kuma.io/service"]

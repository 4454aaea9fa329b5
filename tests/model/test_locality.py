"""DestinationPolicy loadBalancing.locality: the native form of locality-aware balancing."""

import pytest

from meshtool.model import native
from meshtool.model import types as t


def policy(locality):
    spec = {"destination": {"name": "helloworld"}, "loadBalancing": {"locality": locality}}
    return native.parse("DestinationPolicy", "default", "hw", spec)


def test_enabled_without_labels_prefers_cluster_then_region_then_zone():
    parsed = policy({})
    assert parsed.problems == [] and parsed.value.lb == "ROUND_ROBIN"
    assert parsed.value.locality == t.DEFAULT_FAILOVER_PRIORITY
    assert t.DEFAULT_FAILOVER_PRIORITY[0] == "topology.meshtool.io/cluster"


def test_failover_priority_as_written_and_disabled_is_off():
    assert policy({"failoverPriority": ["zone"]}).value.locality == ("zone",)
    assert policy({"enabled": False, "failoverPriority": ["zone"]}).value.locality == ()


@pytest.mark.parametrize("locality,field", [
    ({"failoverPriority": []}, "failoverPriority"),
    ({"failoverPriority": [1]}, "failoverPriority"),
    ({"enabled": "yes"}, "enabled"),
    ({"failover": [{"from": "a", "to": "b"}]}, "failover"),
])
def test_bad_locality_names_the_field(locality, field):
    problems = policy(locality).problems
    assert [path for path, _ in problems] == [("spec", "loadBalancing", "locality", field)]

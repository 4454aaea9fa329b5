from collections import Counter

from hypothesis import given, strategies as st

from meshtool.sidecar.balancer import EndpointPicker, ExactRate, SmoothWeighted


def test_smooth_weighted_90_10_is_exactly_9_of_every_10():
    sw = SmoothWeighted([("v1", 90), ("v2", 10)])
    for _ in range(100):
        window = [sw.pick() for _ in range(10)]
        assert Counter(window) == {"v1": 9, "v2": 1}


def test_smooth_weighted_interleaves_50_50():
    sw = SmoothWeighted([("a", 50), ("b", 50)])
    picks = [sw.pick() for _ in range(6)]
    assert picks in (["a", "b"] * 3, ["b", "a"] * 3)


@given(st.lists(st.integers(0, 100), min_size=1, max_size=5).filter(lambda ws: sum(ws) > 0))
def test_smooth_weighted_exact_over_one_cycle(weights):
    sw = SmoothWeighted(list(enumerate(weights)))
    total = sum(weights)
    counts = Counter(sw.pick() for _ in range(total))
    assert counts == {i: w for i, w in enumerate(weights) if w}


@given(st.integers(0, 100))
def test_exact_rate_hits_the_percentage_every_100(percent):
    rate = ExactRate(percent)
    assert sum(rate.fire() for _ in range(100)) == percent
    assert sum(rate.fire() for _ in range(1000)) == percent * 10


class Ep:
    def __init__(self, key):
        self.key = key


def test_round_robin_rotates_and_lists_the_rest_for_retries():
    eps = [Ep("a"), Ep("b"), Ep("c")]
    p = EndpointPicker(eps, "ROUND_ROBIN", {})
    orders = [[e.key for e in p.order()] for _ in range(4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_least_conn_prefers_the_idlest_endpoint():
    eps = [Ep("a"), Ep("b"), Ep("c")]
    active = {"a": 3, "b": 0, "c": 1}
    p = EndpointPicker(eps, "LEAST_CONN", active)
    assert [p.order()[0].key for _ in range(3)] == ["b", "b", "b"]
    active["b"] = 5
    assert p.order()[0].key == "c"


def test_random_uses_the_generator():
    eps = [Ep("a"), Ep("b"), Ep("c")]
    p = EndpointPicker(eps, "RANDOM", {}, rng=lambda n: 2)
    assert p.order()[0].key == "c"


def test_locality_prefers_the_callers_cluster_then_zone_and_keeps_the_rest_for_failover():
    from meshtool.discovery.snapshot import Endpoint
    from meshtool.sidecar.balancer import LocalityPicker, locality_tiers

    def ep(addr, cluster, zone):
        return Endpoint(addr, 80, {"topology.meshtool.io/cluster": cluster,
                                   "topology.kubernetes.io/zone": zone}, f"{addr}:80")

    same_zone, other_zone = ep("10.0.0.1", "c1", "z1"), ep("10.0.0.2", "c1", "z2")
    remote_a, remote_b = ep("10.1.0.1", "c2", "z1"), ep("10.1.0.2", "c2", "z3")
    priority = ("topology.meshtool.io/cluster", "topology.kubernetes.io/zone")
    caller = {"topology.meshtool.io/cluster": "c1", "topology.kubernetes.io/zone": "z1"}
    eps = [remote_a, other_zone, remote_b, same_zone]
    # a remote endpoint in the caller's zone is no nearer: the cluster weighs first
    assert locality_tiers(eps, caller, priority) == [[same_zone], [other_zone],
                                                     [remote_a, remote_b]]
    picker = LocalityPicker(eps, caller, priority, "ROUND_ROBIN", {})
    orders = [picker.order() for _ in range(2)]
    assert [o[0] for o in orders] == [same_zone, same_zone]
    assert [o[2:] for o in orders] == [[remote_a, remote_b], [remote_b, remote_a]]  # rotating
    # the local cluster gone: the remote ones share the traffic
    only_remote = LocalityPicker([remote_a, remote_b], caller, priority, "ROUND_ROBIN", {})
    assert {only_remote.order()[0].address for _ in range(2)} == {"10.1.0.1", "10.1.0.2"}
    # a caller that names no cluster has no preference
    assert locality_tiers(eps, {}, priority) == [eps]

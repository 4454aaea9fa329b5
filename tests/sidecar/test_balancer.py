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

"""--resolve: HOST[:PORT]=ADDR[:PORT] overrides."""

import pytest

from meshtool.sidecar.resolve import Resolver


def test_host_only_keeps_the_port_and_host_port_maps_both():
    r = Resolver({"msgd.example.com": "127.0.0.1", "api.example.com:9997": "127.0.0.1:41234",
                  "v6.example.com:80": "[::1]:8080"})
    assert r("msgd.example.com", 9997) == ("127.0.0.1", 9997)
    assert r("MSGD.example.com", 80) == ("127.0.0.1", 80)
    assert r("api.example.com", 9997) == ("127.0.0.1", 41234)
    assert r("api.example.com", 443) == ("api.example.com", 443)  # another port: untouched
    assert r("v6.example.com", 80) == ("::1", 8080)
    assert r("other.example.com", 80) == ("other.example.com", 80)


@pytest.mark.parametrize("key, value", [("h:0", "a"), ("h", "a:70000"), (":80", "a"), ("h", "[::1]x")])
def test_bad_overrides_are_refused(key, value):
    with pytest.raises(ValueError, match="--resolve"):
        Resolver({key: value})

"""The redirect rules of `proxy init`: what is captured and what never is."""

from __future__ import annotations

import pytest

from meshtool.inject.iptables import Redirect, parse_ip_ranges, parse_ports, rules


def test_defaults_capture_all_tcp_but_the_proxy_loopback_and_admin_port():
    text = rules(Redirect())
    lines = text.splitlines()
    assert lines[0] == "*nat" and lines[-1] == "COMMIT"
    assert "-A MESHTOOL_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in lines
    assert "-A MESHTOOL_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006" in lines
    out = [line for line in lines if line.startswith("-A MESHTOOL_OUTPUT")]
    # the exemptions come before the catch-all redirect
    assert out[:4] == ["-A MESHTOOL_OUTPUT -m owner --uid-owner 1337 -j RETURN",
                       "-A MESHTOOL_OUTPUT -o lo -j RETURN",
                       "-A MESHTOOL_OUTPUT -d 127.0.0.0/8 -j RETURN",
                       "-A MESHTOOL_OUTPUT -p tcp --dport 15020 -j RETURN"]
    assert out[-1] == "-A MESHTOOL_OUTPUT -p tcp -j MESHTOOL_REDIRECT"
    inbound = [line for line in lines if line.startswith("-A MESHTOOL_INBOUND")]
    assert inbound == ["-A MESHTOOL_INBOUND -p tcp --dport 15020 -j RETURN",
                       "-A MESHTOOL_INBOUND -p tcp --dport 15021 -j RETURN",  # health: kubelet
                       "-A MESHTOOL_INBOUND -p tcp -j MESHTOOL_IN_REDIRECT"]


def test_include_and_exclude_lists():
    r = Redirect(proxy_uid=2000, include_outbound_ip_ranges=("10.0.0.0/8",),
                 exclude_outbound_ip_ranges=("10.96.0.1/32",), include_inbound_ports=(8080, 9090),
                 exclude_inbound_ports=(22,), exclude_outbound_ports=(5432,))
    lines = rules(r).splitlines()
    assert "-A MESHTOOL_OUTPUT -m owner --uid-owner 2000 -j RETURN" in lines
    assert lines.index("-A MESHTOOL_OUTPUT -d 10.96.0.1/32 -j RETURN") < \
        lines.index("-A MESHTOOL_OUTPUT -p tcp -d 10.0.0.0/8 -j MESHTOOL_REDIRECT")
    assert "-A MESHTOOL_OUTPUT -p tcp --dport 5432 -j RETURN" in lines
    assert "-A MESHTOOL_INBOUND -p tcp --dport 22 -j RETURN" in lines
    assert "-A MESHTOOL_INBOUND -p tcp --dport 8080 -j MESHTOOL_IN_REDIRECT" in lines
    assert "-A MESHTOOL_INBOUND -p tcp -j MESHTOOL_IN_REDIRECT" not in lines
    assert "-A MESHTOOL_OUTPUT -p tcp -j MESHTOOL_REDIRECT" not in lines


def test_no_inbound_ports_means_no_inbound_capture():
    text = rules(Redirect(include_inbound_ports=()))
    assert "PREROUTING" not in text and "MESHTOOL_INBOUND -p" not in text


def test_parsers():
    assert parse_ip_ranges("10.0.0.0/8, 192.168.1.1", allow_star=True) == ("10.0.0.0/8", "192.168.1.1/32")
    assert parse_ip_ranges("*", allow_star=True) == ("*",)
    assert parse_ip_ranges("", allow_star=False) == ()
    assert parse_ports("80,443", allow_star=False) == (80, 443)
    for bad in ("10.0.0.0/33", "example.com", "::1/128"):
        with pytest.raises(ValueError):
            parse_ip_ranges(bad, allow_star=True)
    for bad in ("0", "65536", "http", "*"):
        with pytest.raises(ValueError):
            parse_ports(bad, allow_star=False)

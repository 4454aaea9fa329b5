"""The push protocol's messages: parsing refuses what is malformed, with a sentence."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshtool.discovery.protocol import (Identity, ack, encode_snapshot, nack, parse_hello,
                                         parse_reply, parse_snapshot, split_address, stream_url)


def test_hello_round_trip():
    ident = Identity("benigno-v1.default", "benigno", "default", {"version": "v1"},
                     "127.0.0.1:15006", (5000,), "127.0.0.1:15020")
    assert parse_hello(json.loads(json.dumps(ident.hello()))) == ident


def test_hello_minimal_defaults_namespace():
    ident = parse_hello({"type": "hello", "proxyId": "p", "service": "s"})
    assert (ident.namespace, ident.labels, ident.inbound_address, ident.ports) == ("default", {},
                                                                                  None, ())


@pytest.mark.parametrize("msg, words", [
    ({"type": "ack", "proxyId": "p", "service": "s"}, "expected a hello"),
    ({"type": "hello", "service": "s"}, "proxyId"),
    ({"type": "hello", "proxyId": "p", "service": ""}, "service"),
    ({"type": "hello", "proxyId": "p", "service": "s", "labels": {"v": 1}}, "labels"),
    ({"type": "hello", "proxyId": "p", "service": "s", "ports": [0]}, "ports"),
    ({"type": "hello", "proxyId": "p", "service": "s", "inboundAddress": "h:99999"}, "bad port"),
    ([], "JSON object"),
])
def test_bad_hello_says_what_is_wrong(msg, words):
    with pytest.raises(ValueError, match=words):
        parse_hello(msg)


def test_snapshot_message_is_valid_json_with_the_snapshot_inside():
    text = encode_snapshot('7."x', "n-1", json.dumps({"version": '7."x', "rules": []}))
    msg = parse_snapshot(json.loads(text))
    assert (msg.version, msg.nonce, msg.snapshot) == ('7."x', "n-1", {"version": '7."x',
                                                                      "rules": []})


def test_replies_round_trip_and_nack_needs_error():
    assert parse_reply(ack("1.a", "n").to_dict()) == ack("1.a", "n")
    assert parse_reply(nack("1.a", "n", "bad").to_dict()).error == "bad"
    with pytest.raises(ValueError, match="error"):
        parse_reply({"type": "nack", "version": "1", "nonce": "n"})
    with pytest.raises(ValueError, match="ack or nack"):
        parse_reply({"type": "hello"})


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:15010", ("127.0.0.1", 15010)), ("cp.example", ("cp.example", 15010)),
    ("ws://h:1/v1/stream", ("h", 1)), ("[::1]:9", ("::1", 9)), ("http://h", ("h", 15010)),
])
def test_split_address(text, expected):
    assert split_address(text) == expected


def test_stream_url():
    assert stream_url("127.0.0.1:1") == "ws://127.0.0.1:1/v1/stream"
    assert stream_url("[::1]:2") == "ws://[::1]:2/v1/stream"


@given(st.text())
def test_split_address_only_raises_value_error(text):
    try:
        host, port = split_address(text)
    except ValueError:
        return
    assert host and 0 < port < 65536


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=10))
def test_parsers_only_raise_value_error(value):
    for parse in (parse_hello, parse_reply, parse_snapshot):
        try:
            parse(value)
        except ValueError:
            pass

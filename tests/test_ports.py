"""free_ports: distinct loopback ports that can be bound right away."""

import socket

from meshtool.ports import free_port, free_ports


def test_ports_are_distinct_and_bindable():
    ports = free_ports(20)
    assert len(set(ports)) == 20
    for port in ports + [free_port()]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))

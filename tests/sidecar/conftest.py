"""Shared helpers for the sidecar tests: snapshot documents and running flows through addons."""

from __future__ import annotations

import asyncio

import pytest


def rule(kind: str, name: str, spec: dict, namespace: str = "default") -> dict:
    return {"apiVersion": "config.meshtool.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def canary_doc(v1: int = 90, v2: int = 10, version: str = "1", extra_rules=(), v1_port=5001,
               v2_port=5002) -> dict:
    return {
        "version": version,
        "services": [{"name": "benigno", "namespace": "default", "ports": [5000], "endpoints": [
            {"address": "127.0.0.1", "port": v1_port, "labels": {"version": "v1"}},
            {"address": "127.0.0.1", "port": v2_port, "labels": {"version": "v2"}}]}],
        "rules": [rule("RouteRule", "benigno-canary", {
            "destination": {"name": "benigno"},
            "route": [{"labels": {"version": "v1"}, "weight": v1},
                      {"labels": {"version": "v2"}, "weight": v2}]}), *extra_rules],
    }


class Chain:
    """Runs flows through a list of addons in the real hook order (request, then response)."""

    def __init__(self, addons):
        self.addons = addons

    async def run(self, flow):
        from mitmproxy.test import taddons

        with taddons.context(*self.addons, loadcore=False):
            for a in self.addons:
                if hasattr(a, "request"):  # addons return early on a flow already answered
                    r = a.request(flow)
                    if asyncio.iscoroutine(r):
                        await r
            for a in self.addons:
                if flow.response is not None and hasattr(a, "response"):
                    a.response(flow)
        return flow


@pytest.fixture
def make_rule():
    return rule


@pytest.fixture
def canary():
    return canary_doc


@pytest.fixture
def chain():
    return Chain


@pytest.fixture
def outbound_flow():
    from mitmproxy.test import tflow

    def make(url: str = "http://benigno:5000/hw2", method: str = "GET", headers=None):
        from mitmproxy import http
        req = http.Request.make(method, url, b"", headers or {})
        return tflow.tflow(req=req)
    return make

"""Shared helpers for the sidecar tests: snapshot documents and running flows through addons."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from sidecar_mesh import Mesh, canary_doc, rule  # noqa: E402


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


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    m = Mesh(tmp_path_factory.mktemp("mesh"))
    yield m
    m.close()

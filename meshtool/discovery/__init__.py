"""Discovery: the push protocol between the control plane and the sidecars.

Transport: one long-lived WebSocket per sidecar, opened by the sidecar to
``ws://HOST:15010/v1/stream``. Every message is one JSON object in one text frame,
with a ``type`` field.

1. The sidecar opens the stream and sends ``hello`` once::

       {"type": "hello", "proxyId": "benigno-v1.default", "service": "benigno",
        "namespace": "default", "labels": {"version": "v1"},
        "inboundAddress": "127.0.0.1:15006", "ports": [5000],
        "adminAddress": "127.0.0.1:15020"}

   ``proxyId`` and ``service`` are required. ``inboundAddress`` (where other sidecars reach
   this workload) makes the workload an endpoint of its service in local mode; a sidecar
   without one only calls out. ``ports`` (the service ports clients use) and
   ``adminAddress`` (for ``meshtool proxy-status PROXY``) are optional.

2. The control plane answers with a ``snapshot`` on connect and again on every relevant
   change (bursts of changes within a few milliseconds are coalesced into one push)::

       {"type": "snapshot", "version": "7.3f9c01ab", "nonce": "a41c-12", "snapshot": {...}}

   ``snapshot`` is the sidecar's configuration in the format of docs/snapshot.md; its own
   ``version`` field equals the message's. The nonce is unique per send.

3. The sidecar answers every snapshot, in order, with exactly one of::

       {"type": "ack", "version": "7.3f9c01ab", "nonce": "a41c-12"}
       {"type": "nack", "version": "7.3f9c01ab", "nonce": "a41c-12",
        "error": "route-rule/default/x: spec.route[0].labels: no endpoints match"}

   A NACKed snapshot is never half-applied: the sidecar keeps serving the last one it ACKed.

The data plane never polls for policy. A sidecar that loses the stream keeps its last good
snapshot and reconnects with capped exponential backoff and jitter; the control plane then
pushes the current snapshot again, so a restarted control plane resynchronises every sidecar.
Either side closes the stream on a malformed message (close code 1003 with the reason).

Modules: ``protocol`` (messages, stdlib only), ``client`` (DiscoveryClient, aiohttp),
``simulate`` (lightweight simulated proxies for tests and benchmarks).
"""

from meshtool.discovery.protocol import DEFAULT_ADDRESS, DEFAULT_PORT, STREAM_PATH, Identity

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_PORT", "STREAM_PATH", "Identity"]

"""The keys under which the sidecar's addons leave facts for each other in flow.metadata.

One place for them, so a misspelt key is an AttributeError at import, not a fact silently
missing; the addon that sets each is named (the order is meshtool.sidecar.master's list).
All start with "meshtool." so they never meet mitmproxy's own keys.
"""

# Routing: the request's place in the mesh.
SNAPSHOT = "meshtool.snapshot"          # the snapshot pinned for the whole request
DIRECTION = "meshtool.direction"        # "inbound" or "outbound"
SERVICE = "meshtool.service"            # the destination mesh service (also set by the gateway)
SERVICE_PORT = "meshtool.service_port"  # gateway: the Service port its route's backend names
RULE = "meshtool.rule"                  # the compiled route that matched
SUBSET = "meshtool.subset"              # the subset the weighted split chose
ENDPOINTS = "meshtool.endpoints"        # endpoints in load-balancing order (circuit breaker filters)
EXTERNAL = "meshtool.external"          # (host, port) when the destination is not a mesh service
GATEWAY_ROUTE = "meshtool.gateway_route"  # gateway: the GatewayRoute that matched
RESPONSE_HEADERS_DONE = "meshtool.response_headers_done"  # response header ops applied once

# Egress: external destinations.
EGRESS_RULE = "meshtool.egress_rule"    # name of the EgressRule that allowed it
DENIED = "meshtool.denied"              # host refused by egress policy
TLS = "meshtool.tls"                    # the allowed external port speaks TLS
UPSTREAM = "meshtool.upstream"          # resolved (address, port) of the external host

# Security.
PRINCIPAL = "meshtool.principal"        # the peer's SPIFFE ID from its mTLS certificate
MTLS = "meshtool.mtls"                  # the connection (inbound or upstream) is mutual TLS
FORBIDDEN = "meshtool.forbidden"        # why the access policy refused the request

# Forwarding (stream.py reads these while it tries endpoints).
TARGETS = "meshtool.targets"            # (host, port, tls, identity) to try, in order
ACTIVE = "meshtool.active"              # the shared in-flight request counters
RETRY = "meshtool.retry"                # the route's retry policy
DEADLINE = "meshtool.deadline"          # monotonic time the route's timeout ends
ATTEMPTS = "meshtool.attempts"          # how many upstream attempts were made
ATTEMPT_LOG = "meshtool.attempt_log"    # (endpoint key, status) of each attempt
ERROR = "meshtool.error"                # why the last attempt failed, when all did
MIRROR_TO = "meshtool.mirror_to"        # endpoint a copy of the request goes to

# Circuit breaking.
CB_SLOT = "meshtool.cb_slot"            # the concurrency slot held until the response
OVERFLOW = "meshtool.overflow"          # the limit that refused the request (503)
EJECTED = "meshtool.ejected"            # endpoints this request's failures ejected

# Policies applied to the response.
FAULT = "meshtool.fault"                # injected faults ("delay", "abort", "delay+abort")
CORS = "meshtool.cors"                  # "preflight" (answered here) or "allowed"

# Telemetry.
SPAN = "meshtool.span"                  # the open trace span
SOURCE = "meshtool.source"              # the calling workload, from x-meshtool-source
PEER = "meshtool.peer"                  # the answering workload, for metrics only
REQUEST_ID = "meshtool.request_id"      # x-request-id, kept or generated
TRACE_HEADERS_DONE = "meshtool.trace_headers_done"  # trace headers added once

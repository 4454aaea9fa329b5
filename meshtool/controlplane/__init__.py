"""The control plane: follows the config store and the workloads, pushes snapshots to sidecars.

`server.ControlPlane` is the discovery server (push streams, sync table, debug endpoints);
`registry` holds the workloads of connected sidecars (local mode); `snapshot` computes what a
proxy gets; `follower` reads the store's watch from a thread; `synctable` records, per proxy,
what was sent and what was answered. The protocol is in `meshtool.discovery`.
"""

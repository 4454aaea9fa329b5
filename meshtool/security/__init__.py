"""Workload identity: SPIFFE IDs, the mesh CA and workload keys, with `cryptography`.

Shared by the control plane (which signs) and the sidecar (which makes its key, asks for a
certificate and checks its peers'); no policy, no I/O beyond the CA's own files.
"""

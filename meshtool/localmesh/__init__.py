"""The local mesh: the control plane, sample services and their sidecars as processes on one machine.

Sits just below cli/, above controlplane/ and sidecar/: it starts those as processes through the
`meshtool` command line, so a crash in one never takes the supervisor down, and talks to them only
over their HTTP endpoints (the control plane's sync table through controlplane.inspect).
"""

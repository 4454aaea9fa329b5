"""The local mesh: the control plane, sample services and their sidecars as processes on one machine.

Sits at the top layer beside cli/, controlplane/ and sidecar/: it starts those as processes through the
`meshtool` command line and imports none of them, so a crash in one never takes the supervisor down.
"""

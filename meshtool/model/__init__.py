"""The rule model: pure, stdlib-only, shared by the CLI, the control plane and the sidecar."""

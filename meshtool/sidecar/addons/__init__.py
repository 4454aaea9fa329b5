"""The sidecar's policies, one addon per file. Addons never import each other: they pass facts
through flow.metadata (keys prefixed "meshtool."), in the order meshtool.sidecar.master lists them."""

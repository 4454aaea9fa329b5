"""The sidecar: an embedded mitmproxy Master with meshtool's policy addons (see docs/sidecar.md)."""

"""meshtool: a declarative service-mesh toolkit."""

__version__ = "0.1.0"

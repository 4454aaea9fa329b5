"""The analyzers, one check per module. Each module defines ANALYZER; the registry
(meshtool.analysis.registry) lists them in the order they run."""

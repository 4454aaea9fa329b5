"""Helpers shared by the tests and the benchmarks (as mitmproxy has mitmproxy/test/):
simulated proxies, free ports, process harnesses. Never imported by the product's runtime code.
"""

"""Shared Kubernetes plumbing: API clients from kubeconfig, and the CRDs of the rule kinds.

The kubernetes python client is imported inside functions only, so that importing this
package costs nothing for commands that never talk to a cluster.
"""

"""Who sent a CSR, in Kubernetes mode: the pod's service account token, checked by the API
server of the pod's cluster with a TokenReview (authentication.k8s.io/v1). The token is never
logged or kept."""

from __future__ import annotations

from typing import Any, Callable

PREFIX = "system:serviceaccount:"


class TokenReviewer:
    """Reviews tokens with the primary cluster's API server, or, for a proxy that says it runs
    in a remote cluster, with that cluster's (a token is only valid where it was issued):
    `remote(cluster)` gives the API client of a cluster a remote secret names, None if none."""

    def __init__(self, api_client, audiences: list[str] | None = None, *,
                 cluster: str | None = None, remote: Callable[[str], Any] | None = None):
        self.api_client = api_client
        self.audiences = audiences
        self.cluster = cluster  # the primary's name (--cluster-name)
        self.remote = remote

    def review(self, token: str, cluster: str | None = None) -> tuple[str, str]:
        """(namespace, service account) the token authenticates in `cluster` (None: the
        primary); ValueError when it does not (the sentence names why, never the token)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        api_client = self.api_client
        if cluster and cluster != self.cluster:
            api_client = self.remote(cluster) if self.remote is not None else None
            if api_client is None:
                raise ValueError(f"the proxy runs in cluster {cluster!r}, which no remote secret "
                                 f"names: its token cannot be reviewed")
        body = client.V1TokenReview(spec=client.V1TokenReviewSpec(
            token=token, audiences=self.audiences))
        try:
            status = client.AuthenticationV1Api(api_client).create_token_review(body).status
        except ApiException as exc:
            raise ValueError(f"the API server refused the TokenReview: {exc.status} "
                             f"{exc.reason}") from None
        if not status or not status.authenticated:
            raise ValueError("the service account token does not authenticate"
                             + (f": {status.error}" if status and status.error else ""))
        user = status.user.username or ""
        if not user.startswith(PREFIX) or user.count(":") != 3:
            raise ValueError(f"the token is {user!r}'s, not a service account's")
        namespace, account = user[len(PREFIX):].split(":")
        return namespace, account

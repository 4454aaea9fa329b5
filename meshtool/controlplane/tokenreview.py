"""Who sent a CSR, in Kubernetes mode: the pod's service account token, checked by the API
server with a TokenReview (authentication.k8s.io/v1). The token is never logged or kept."""

from __future__ import annotations

PREFIX = "system:serviceaccount:"


class TokenReviewer:
    def __init__(self, api_client, audiences: list[str] | None = None):
        self.api_client = api_client
        self.audiences = audiences

    def review(self, token: str) -> tuple[str, str]:
        """(namespace, service account) the token authenticates; ValueError when it does not
        (the sentence names why, never the token)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        body = client.V1TokenReview(spec=client.V1TokenReviewSpec(
            token=token, audiences=self.audiences))
        try:
            status = client.AuthenticationV1Api(self.api_client).create_token_review(body).status
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

"""The validating admission webhook: the API server asks meshtool before storing a rule.

The CRD schema checks shapes; it cannot say "weights sum to 100" or check a label's syntax
inside a spec. With this webhook (`meshtool install` registers it for every kind meshtool owns,
CREATE and UPDATE), `kubectl apply` of a rule `meshtool validate` would refuse is refused by the
API server with meshtool's own one-line message, from the same checker (meshtool.rules.check).
`validate_request` is pure: tests drive it without a server; meshtool.controlplane.webhook
serves it at /validate beside the injection webhook, with the same certificate.
"""

from __future__ import annotations

from meshtool.model.kinds import API_GROUP, NATIVE_KINDS
from meshtool.model.resource import without_server_fields



def validate_request(request: dict) -> tuple[bool, str]:
    """(allowed, message) for one AdmissionReview request. Only our kinds' objects are judged
    (status updates and deletions pass); the message is one line, as `validate` prints it."""
    from meshtool.rules.check import describe, problems

    kind = request.get("kind") if isinstance(request.get("kind"), dict) else {}
    if kind.get("group") != API_GROUP or kind.get("kind") not in NATIVE_KINDS:
        return True, "not a meshtool rule"
    if request.get("subResource") or request.get("operation") not in ("CREATE", "UPDATE"):
        return True, "nothing to validate"
    obj = request.get("object")
    if not isinstance(obj, dict):
        return False, "the request carries no object"
    found = problems(without_server_fields(obj))
    if not found:
        return True, "valid"
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name") or request.get("name") or "?"
    text = "; ".join(describe(path, message) for path, message in found)
    return False, f"{kind['kind']}/{name}: {text}"

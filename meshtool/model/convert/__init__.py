"""Converters from the rule formats users already have into the native model.

One module per foreign format. A converter takes one foreign document (plain data) and
the whole input set (for documents that need each other, such as a VirtualService and
the DestinationRule that defines its subsets) and returns native manifests plus the
problems it met, each naming a field of the foreign document. Nothing is dropped
silently: what has no native equivalent is a problem, and the document is refused.
"""

from __future__ import annotations

from typing import Callable

from meshtool.model.convert.base import Context, Conversion, Converted
from meshtool.model.convert import gateway_api, gateway_api_ingress, ingress, istio_v1alpha2, istio_networking, kuma

Converter = Callable[[dict, Context], Conversion]

# (apiVersion, kind) -> converter
CONVERTERS: dict[tuple[str, str], Converter] = {
    **{(istio_v1alpha2.API_VERSION, kind): istio_v1alpha2.convert for kind in istio_v1alpha2.KINDS},
    **{(api, "VirtualService"): istio_networking.convert_virtual_service
       for api in istio_networking.API_VERSIONS},
    **{(api, "DestinationRule"): istio_networking.convert_destination_rule
       for api in istio_networking.API_VERSIONS},
    **{(api, "ServiceEntry"): istio_networking.convert_service_entry
       for api in istio_networking.API_VERSIONS},
    (kuma.API_VERSION, "TrafficRoute"): kuma.convert,
    **{(api, "HTTPRoute"): gateway_api.convert_http_route for api in gateway_api.HTTP_API_VERSIONS},
    **{(api, "GRPCRoute"): gateway_api.convert_grpc_route for api in gateway_api.GRPC_API_VERSIONS},
    **{(api, "Ingress"): ingress.convert for api in ingress.API_VERSIONS},
    **{(api, "Gateway"): gateway_api_ingress.convert_gateway
       for api in gateway_api_ingress.GATEWAY_API_VERSIONS},
}

# API groups whose other kinds are known but have no native equivalent (skipped with a note)
FOREIGN_GROUPS = ("config.istio.io", "networking.istio.io", "kuma.io", "gateway.networking.k8s.io")


def converter_for(api_version: str, kind: str) -> Converter | None:
    return CONVERTERS.get((api_version, kind))


__all__ = ["CONVERTERS", "FOREIGN_GROUPS", "Context", "Conversion", "Converted", "Converter",
           "converter_for"]

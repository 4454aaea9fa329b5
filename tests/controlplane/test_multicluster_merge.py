"""Services of several clusters merged into one list: ports united by number, protocols kept."""

from meshtool.controlplane.multicluster import merge_services


def test_ports_of_both_clusters_united_by_number_with_their_protocols():
    east = [{"name": "api", "namespace": "shop", "ports": [80, {"port": 50051, "protocol": "grpc"}],
             "endpoints": [{"address": "10.0.0.1", "port": 8080, "labels": {}}]}]
    west = [{"name": "api", "namespace": "shop", "ports": [{"port": 80, "protocol": "http"}, 50051,
                                                           9090],
             "endpoints": [{"address": "10.1.0.1", "port": 8080, "labels": {}}]}]
    (merged,) = merge_services({"east": east, "west": west})
    assert merged["ports"] == [{"port": 80, "protocol": "http"}, 9090,
                               {"port": 50051, "protocol": "grpc"}]
    assert [e["address"] for e in merged["endpoints"]] == ["10.0.0.1", "10.1.0.1"]

"""Names every layer shares (DESIGN.md, Conventions): written in one place so that the injector,
analysis, the control plane and the sidecar never disagree on them.
"""

PROXY_CONTAINER = "meshtool-proxy"
INIT_CONTAINER = "meshtool-init"
DATA_VOLUME = "meshtool-data"
DATA_MOUNT_PATH = "/etc/meshtool"

INJECT_KEY = "sidecar.meshtool.io/inject"
STATUS_KEY = "sidecar.meshtool.io/status"
TRAFFIC_PREFIX = "traffic.sidecar.meshtool.io/"
INJECTION_LABEL = "meshtool-injection"

# Workloads: kind -> path of the pod template inside the object ("" parts: the object is the pod)
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}

PROXY_UID = 1337
OUTBOUND_PORT = 15001
INBOUND_PORT = 15006
ADMIN_PORT = 15020
HEALTH_PORT = 15021
DISCOVERY_PORT = 15010
WEBHOOK_PORT = 15017
DASHBOARD_PORT = 5681
GATEWAY_HTTP_PORT = 8080
GATEWAY_HTTPS_PORT = 8443
GATEWAY_SERVICE = "meshtool-gateway"  # the service name a gateway says in its hello
GATEWAY_CLASS = "meshtool"  # the IngressClass / GatewayClass meshtool's gateway serves
GATEWAY_CONTROLLER = "meshtool.io/gateway"  # its controller name (IngressClass, Gateway API status)

TRUST_DOMAIN = "cluster.local"
DEFAULT_NAMESPACE = "default"
CLUSTER_LABEL = "topology.meshtool.io/cluster"
REMOTE_SECRET_LABEL = "multicluster.meshtool.io/cluster"
# Locality: the well-known node labels, copied onto endpoints from their Pod's node.
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"

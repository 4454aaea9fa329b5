"""mesh.yaml parsing: good files load; every mistake names file:line and the field."""

import pytest

from meshtool.errors import DataError
from meshtool.localmesh.meshfile import parse_meshfile
from meshtool.rules.sources import Source

GOOD = """\
apiVersion: local.meshtool.io/v1alpha1
kind: LocalMesh
metadata:
  name: canary
spec:
  services:
    - name: benigno
      port: 5000
      version: v1
      command: ["{python}", "b.py", "--port", "{port}"]
    - name: benigno
      port: 5000
      labels: {version: v2, tier: web}
      command: "{python} b.py --port {port}"
  external:
    - name: msgd.example.com
      port: 9997
      command: ["{python}", "m.py"]
"""

HEAD = "apiVersion: local.meshtool.io/v1alpha1\nkind: LocalMesh\nmetadata:\n  name: x\nspec:\n"


def test_good_file_loads_every_workload():
    spec = parse_meshfile(Source("mesh.yaml", GOOD))
    assert spec.name == "canary"
    assert [w.instance for w in spec.instances] == ["benigno-v1", "benigno-v2", "msgd.example.com"]
    assert spec.instances[1].labels == {"version": "v2", "tier": "web"}
    assert spec.instances[1].command == ("{python}", "b.py", "--port", "{port}")
    assert [w.in_mesh for w in spec.instances] == [True, True, False]
    assert {w.namespace for w in spec.instances} == {"default"}


def test_a_service_may_live_in_a_namespace():
    text = GOOD.replace("      version: v1\n", "      version: v1\n      namespace: kong-mesh-app\n")
    spec = parse_meshfile(Source("mesh.yaml", text))
    assert [w.namespace for w in spec.instances] == ["kong-mesh-app", "default", "default"]


@pytest.mark.parametrize("text, line, needle", [
    (HEAD + "  services:\n  - name: a\n    port: 99999\n    command: [x]\n", 8, "spec.services[0].port"),
    (HEAD + "  services:\n  - name: a\n    port: 1\n    comand: [x]\n", 9, "unknown field 'comand'"),
    (HEAD + "  services:\n  - name: a\n    port: 1\n", 7, "missing required field 'command'"),
    (HEAD + "  services:\n  - name: A_b\n    port: 1\n    command: [x]\n", 7, "invalid service name"),
    (HEAD + "  services: []\n", 6, "at least one service"),
    (HEAD + "  services:\n  - name: a\n    port: 1\n    command: [x]\n"
     "  - name: a\n    port: 1\n    command: [x]\n", 10, "duplicate instance 'a'"),
    (HEAD + "  services:\n  - name: a\n    port: 1\n    version: 1.0\n    command: [x]\n", 9,
     "version must be a string"),
    (HEAD + "  external:\n  - name: bad_host\n    port: 1\n    command: [x]\n", 7, "invalid host name"),
    (HEAD + "  services:\n  - name: a\n    namespace: Kong_Mesh\n    port: 1\n    command: [x]\n", 8,
     "invalid namespace 'Kong_Mesh'"),
    ("- a\n- b\n", 1, "a mesh file is a mapping"),
    ("apiVersion: local.meshtool.io/v1alpha1\nkind: Mesh\nspec: {}\n", 2,
     "kind: LocalMesh, got 'Mesh'"),
    ("apiVersion: local.meshtool.io/v1alpha1\nkind: LocalMesh\nmetadata: {name: x}\n", 1, "spec"),
])
def test_mistakes_name_file_line_and_field(text, line, needle):
    with pytest.raises(DataError) as exc:
        parse_meshfile(Source("m.yaml", text))
    finding = exc.value.findings[0]
    assert finding.file == "m.yaml"
    assert finding.line == line
    assert needle in str(finding)

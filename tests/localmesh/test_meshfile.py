"""mesh.yaml parsing: good files load; every mistake names file:line and the field."""

import pytest

from meshtool.errors import DataError
from meshtool.localmesh.meshfile import parse_meshfile
from meshtool.sources import Source

GOOD = """\
name: canary
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
  - name: msgd
    port: 9997
    command: ["{python}", "m.py"]
"""


def test_good_file_loads_every_workload():
    spec = parse_meshfile(Source("mesh.yaml", GOOD))
    assert spec.name == "canary"
    assert [w.instance for w in spec.workloads] == ["benigno-v1", "benigno-v2", "msgd"]
    assert spec.workloads[1].labels == {"version": "v2", "tier": "web"}
    assert spec.workloads[1].command == ("{python}", "b.py", "--port", "{port}")
    assert [w.in_mesh for w in spec.workloads] == [True, True, False]


@pytest.mark.parametrize("text, line, needle", [
    ("name: x\nservices:\n  - name: a\n    port: 99999\n    command: [x]\n", 4, "services[0].port"),
    ("name: x\nservices:\n  - name: a\n    port: 1\n    comand: [x]\n", 5, "unknown field 'comand'"),
    ("name: x\nservices:\n  - name: a\n    port: 1\n", 3, "missing required field 'command'"),
    ("name: x\nservices:\n  - name: A_b\n    port: 1\n    command: [x]\n", 3, "invalid service name"),
    ("name: x\nservices: []\n", 2, "at least one service"),
    ("name: x\nservices:\n  - name: a\n    port: 1\n    command: [x]\n"
     "  - name: a\n    port: 1\n    command: [x]\n", 6, "duplicate instance 'a'"),
    ("name: x\nservices:\n  - name: a\n    port: 1\n    version: 1.0\n    command: [x]\n", 5,
     "version must be a string"),
    ("- a\n- b\n", 1, "a mesh file is a mapping"),
])
def test_mistakes_name_file_line_and_field(text, line, needle):
    with pytest.raises(DataError) as exc:
        parse_meshfile(Source("m.yaml", text))
    finding = exc.value.findings[0]
    assert finding.file == "m.yaml"
    assert finding.line == line
    assert needle in str(finding)

"""The wheel carries what the commands need at run time: the schemas, the samples of `demo` and
the CRDs that `install` applies."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_schemas_and_demo_samples(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("meshtool-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in (ROOT / "schemas").glob("*.json"):
        assert f"meshtool/schemas/{schema.name}" in names
    for scenario in ("canary", "egress", "helloworld"):
        assert f"meshtool/samples/{scenario}/mesh.yaml" in names
    from meshtool.localmesh.scenarios import SCENARIOS
    for scenario in SCENARIOS.values():
        for stage in scenario.stages:
            for rule in stage.apply:
                assert f"meshtool/samples/{scenario.name}/{rule}" in names
    assert "meshtool/samples/services/benigno.py" in names
    from meshtool.kube.crds import crd_names
    from meshtool.model.kinds import NATIVE_KINDS
    crds = {n for n in names if n.startswith("meshtool/kube/crds/") and n.endswith(".yaml")}
    assert len(crds) == len(crd_names()) == len(NATIVE_KINDS)
    # the dashboard's assets: nothing to build or fetch at install time
    static = ROOT / "meshtool" / "controlplane" / "dashboard" / "static"
    for asset in static.iterdir():
        assert f"meshtool/controlplane/dashboard/static/{asset.name}" in names
    assert {"index.html", "app.js", "style.css"} <= {p.name for p in static.iterdir()}

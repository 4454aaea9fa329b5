import json
import os

from meshtool.sidecar.master import Sidecar, SidecarConfig


def test_listener_modes_per_mode():
    assert SidecarConfig(app_ports=[4000]).modes() == [
        "reverse:http://127.0.0.1:4000@127.0.0.1:15006", "regular@127.0.0.1:15001"]
    assert SidecarConfig().modes() == ["regular@127.0.0.1:15001"]  # no app: no inbound
    assert SidecarConfig(mode="transparent", app_ports=[4000]).modes() == [
        "transparent@0.0.0.0:15006", "transparent@0.0.0.0:15001"]


def test_snapshot_file_reload_keeps_the_last_good_one(tmp_path, canary):
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(canary(version="1")))
    sc = Sidecar(SidecarConfig(snapshot_file=str(path)))
    assert sc.apply_file() and sc.state.version == "1"
    assert not sc.apply_file()  # unchanged: not read again
    path.write_text("{not json")
    os.utime(path, ns=(1, 1))
    assert not sc.apply_file()
    assert sc.state.version == "1" and "invalid JSON" in sc.state.last_rejected["error"]
    path.unlink()
    assert not sc.apply_file() and not sc.apply_file()  # missing: reported once
    assert sc.state.rejected_total == 2
    yaml_path = tmp_path / "snap.yaml"
    yaml_path.write_text("version: '2'\nservices: []\n")
    sc.config.snapshot_file = str(yaml_path)
    assert sc.apply_file() and sc.state.version == "2"

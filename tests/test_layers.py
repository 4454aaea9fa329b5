"""The layering of DESIGN.md is enforced: lint-imports checks the contracts in .importlinter."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    r = subprocess.run([exe, "--no-logo", "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_every_package_is_placed_in_the_layers():
    """A new package must be put on the map deliberately, not slip past the contract."""
    config = (ROOT / ".importlinter").read_text()
    packages = sorted(p.stem if p.suffix == ".py" else p.name
                      for p in (ROOT / "meshtool").iterdir()
                      if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
                      or (p.is_dir() and (p / "__init__.py").exists()))
    missing = [p for p in packages if f"meshtool.{p}" not in config]
    assert missing == []

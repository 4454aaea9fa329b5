"""The layering of DESIGN.md is enforced: lint-imports checks the contracts in .importlinter, and
the README's architecture table is that layering."""

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


def _linter_layers() -> dict[str, int]:
    """package -> its floor in .importlinter's layers contract (0 = top)."""
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = [ln.strip() for ln in config["importlinter:contract:layers"]["layers"].splitlines()]
    return {name.strip().removeprefix("meshtool."): floor
            for floor, line in enumerate(ln for ln in lines if ln)
            for name in line.split("|")}


def _readme_layers() -> dict[str, int]:
    """package -> its row in the README's architecture table (0 = top)."""
    import re

    text = (ROOT / "README.md").read_text()
    table = text.split("| layer (imports only downwards) |", 1)[1].split("\n\n", 1)[0]
    rows = [ln for ln in table.splitlines()[2:] if ln.startswith("|")]
    placed = [(name, row) for row, line in enumerate(rows)
              for name in re.findall(r"`meshtool/(\w+)`", line.split("|")[2])]
    assert len({name for name, _ in placed}) == len(placed), placed  # each package on one row
    return dict(placed)


def test_the_readme_architecture_table_is_the_importlinter_layering():
    """Same packages, in the same order (the README may share a row between adjacent floors);
    the test helpers sit above everything in the contract and apart in the README."""
    linter, readme = _linter_layers(), _readme_layers()
    linter.pop("testing"), readme.pop("testing")
    assert linter.keys() == readme.keys()
    for a in linter:
        for b in linter:
            if linter[a] < linter[b]:
                assert readme[a] <= readme[b], (a, b)
            if readme[a] < readme[b]:
                assert linter[a] < linter[b], (a, b)

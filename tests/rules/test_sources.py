"""sources: -f arguments to named texts."""

import io

import pytest

from meshtool.errors import DataError, UsageError
from meshtool.rules.sources import read_sources


def test_directory_is_walked_recursively_sorted_and_filtered(tmp_path, monkeypatch):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b" / "z.yml").write_text("a: 1\n")
    (tmp_path / "a.yaml").write_text("a: 2\n")
    (tmp_path / "c.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden" / "x.yaml").write_text("a: 3\n")
    monkeypatch.chdir(tmp_path)
    names = [s.name for s in read_sources(["."])]
    assert names == ["a.yaml", "b/z.yml", "c.json"]


def test_stdin_and_json_detection(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('  {"kind": "X"}'))
    [src] = read_sources(["-"])
    assert src.name == "<stdin>" and src.is_json and src.path is None


def test_missing_path_is_a_usage_error():
    with pytest.raises(UsageError, match="no-such.yaml: no such file"):
        read_sources(["no-such.yaml"])


def test_no_input_is_a_usage_error():
    with pytest.raises(UsageError, match="no input"):
        read_sources([])


def test_binary_file_is_a_data_error_naming_the_file(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(DataError) as exc:
        read_sources([str(p)])
    assert "not UTF-8" in str(exc.value) and "bin.yaml" in str(exc.value)

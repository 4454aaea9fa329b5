"""`-o yaml` output reads back the same with PyYAML (YAML 1.1) and ruamel (YAML 1.2): strings
that a 1.2 reader would take for numbers are quoted (a snapshot version such as 3.02364e34)."""

import yaml
from ruamel.yaml import YAML

from meshtool.cli.render import dump_yaml

LOOK_LIKE_NUMBERS = ["3.02364e34", "1e5", "0o17", "12", "1.5", "-2", ".5", "7.", "1E-3"]
PLAIN = ["3.0236ab34", "benigno", "v1", "1.2.3", "e34", "0x1g"]


def test_every_string_reads_back_as_a_string_under_yaml_1_1_and_1_2():
    data = {"version": "3.02364e34", "items": LOOK_LIKE_NUMBERS + PLAIN, "n": 5, "f": 2.5}
    text = dump_yaml(data)
    assert yaml.safe_load(text) == data
    assert YAML(typ="safe").load(text) == data


def test_only_strings_that_look_like_numbers_are_quoted():
    text = dump_yaml({"a": "3.02364e34", "b": "benigno", "c": 7})
    assert text == "a: '3.02364e34'\nb: benigno\nc: 7\n"

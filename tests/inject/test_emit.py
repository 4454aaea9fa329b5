"""Fragments read back as what the injector built, in the document's style."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from meshtool.inject.emit import Style, block_key_value, block_sequence, scalar


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.integers(), st.booleans(), st.none()))
def test_every_scalar_reads_back_as_itself(value):
    assert yaml.safe_load(f"k: {scalar(value)}") == {"k": value}


def test_numbers_and_bools_as_strings_are_quoted_even_where_pyyaml_would_not():
    for text in ("1e3", "1337", "y", "n", "yes", "0x1F", "1_000", ".5", "*", "~", ""):
        assert scalar(text) != text
    for text in ("--mode", "100m", "1Gi", "10.0.0.0/8", "metadata.name", "v0.1"):
        assert scalar(text) == text


def test_styles():
    value = {"name": "x", "args": ["a", "b"], "env": [{"name": "A", "value": "1"}]}
    kubectl = "\n".join(block_sequence([value], 0, Style()))
    assert kubectl == "- name: x\n  args:\n  - a\n  - b\n  env:\n  - name: A\n    value: \"1\""
    wide = "\n".join(block_key_value("c", [value], 4, Style(mapping=4, sequence=4, gap=4)))
    assert wide.splitlines()[:3] == ["    c:", "        -   name: x", "            args:"]
    assert yaml.safe_load(wide) == {"c": [value]}

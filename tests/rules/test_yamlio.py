"""yamlio: lossless document splitting, fast loading with located errors, line lookup."""

import pytest
from hypothesis import given, strategies as st

from meshtool.errors import DataError
from meshtool.rules.sources import Source
from meshtool.rules.yamlio import format_path, load_documents, split_documents

STREAM = """# leading comment
apiVersion: v1
kind: A
---
# only a comment

---   # separator with a comment
kind: B
spec:
  x: 1
...
--- {kind: C}
"""


def test_split_is_lossless_and_finds_every_document():
    docs = split_documents(STREAM)
    assert "".join(d.text for d in docs) == STREAM
    assert [d.is_blank for d in docs] == [False, True, False, False]
    assert [d.start_line for d in docs] == [1, 4, 7, 12]


@given(st.lists(st.sampled_from(["a: 1\n", "---\n", "# c\n", "\n", "...\n", "b:\n  - x\n",
                                 "--- c: 2\n", "---x: 1\n"]), max_size=20))
def test_split_roundtrips_any_stream(lines):
    text = "".join(lines)
    assert "".join(d.text for d in split_documents(text)) == text


def test_load_skips_empty_documents_and_keeps_lines():
    docs = load_documents(Source("s.yaml", STREAM))
    assert [d.data["kind"] for d in docs] == ["A", "B", "C"]
    assert docs[1].locate(["spec", "x"]) == 10
    assert docs[1].locate(["spec", "missing"]) == 9
    assert docs[0].locate([]) == 1


def test_broken_yaml_names_file_and_line():
    with pytest.raises(DataError) as exc:
        load_documents(Source("bad.yaml", "a: 1\n---\nb: [1, 2\nc: 3\n"))
    line = exc.value.lines()[0]
    assert line.startswith("bad.yaml:") and "invalid YAML" in line
    assert exc.value.findings[0].line in (4, 5)


def test_json_source_is_one_document():
    docs = load_documents(Source("<stdin>", '{"kind": "X"}'))
    assert docs[0].data == {"kind": "X"}
    with pytest.raises(DataError) as exc:
        load_documents(Source("<stdin>", '{\n"kind": }'))
    assert exc.value.findings[0].line == 2


def test_format_path():
    assert format_path(("spec", "route", 1, "weight")) == "spec.route[1].weight"
    assert format_path(()) == ""


def test_dates_stay_strings_and_bad_explicit_dates_are_data_errors():
    [doc] = load_documents(Source("d.yaml", "a: 2020-02-30\nb: 2024-01-01T00:00:00Z\n"))
    assert doc.data == {"a": "2020-02-30", "b": "2024-01-01T00:00:00Z"}
    with pytest.raises(DataError) as exc:
        load_documents(Source("d.yaml", "x: 1\n---\na: !!timestamp 2020-02-30\n"))
    assert exc.value.findings[0].file == "d.yaml" and exc.value.findings[0].line == 3

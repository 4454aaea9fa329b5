"""Schema patterns mean what they mean on the API server: `$` is the end of the text."""

import pytest

from meshtool.rules.loader import load_rules
from meshtool.rules.schemafast import pattern_regex
from meshtool.rules.sources import Source


@pytest.mark.parametrize("pattern, text, ok", [
    (r"^[a-z]+$", "abc", True),
    (r"^[a-z]+$", "abc\n", False),
    (r"^a[$]$", "a$", True),
    (r"^a\$$", "a$", True),
    (r"^(a|b)$", "b\n", False),
])
def test_pattern_end_is_end_of_text(pattern, text, ok):
    assert (pattern_regex(pattern).search(text) is not None) is ok


def test_a_name_with_a_trailing_newline_is_refused():
    doc = ('apiVersion: config.meshtool.io/v1alpha1\nkind: RouteRule\nmetadata:\n  name: "reviews\\n"\n'
           'spec:\n  destination: {name: reviews}\n')
    result = load_rules([Source("nl.yaml", doc)])
    assert result.resources == []
    [finding] = result.findings
    assert finding.field == "metadata.name" and finding.line == 4
    assert "\n" not in str(finding)

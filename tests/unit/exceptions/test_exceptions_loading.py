"""Data files that are missing, not JSON or shaped wrongly are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor_apps.exceptions import CatalogError, load_rules, load_tenants
from conveyor_apps.exceptions.loading import entry_label


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a CatalogError naming the path."""
    path = tmp_path / "absent.json"
    with pytest.raises(CatalogError, match="cannot be read") as caught:
        load_rules(path)
    assert caught.value.entry == str(path), caught.value.entry


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    """Broken JSON is refused with the line of the problem."""
    path = tmp_path / "rules.json"
    path.write_text('{"rules": [\n  {"name": }\n]}', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"not valid JSON \(line 2\)"):
        load_rules(path)


@pytest.mark.parametrize("text", ['[{"name": "x"}]', '{"rule": []}', '{"rules": {}}'])
def test_wrong_shape(tmp_path: Path, text: str) -> None:
    """The document must be an object holding a list under the expected key."""
    path = tmp_path / "tenants.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match="'tenants' list"):
        load_tenants(path)


def test_entry_label_forms() -> None:
    """Labels carry the position, and the name or tenant id when there is one."""
    assert entry_label("rule", 0, {"name": "r1"}) == "rule #0 'r1'"
    assert entry_label("tenant", 2, {"tenant_id": "acme"}) == "tenant #2 'acme'"
    assert entry_label("rule", 3, ["not", "a", "dict"]) == "rule #3"
    assert entry_label("rule", 4, {}) == "rule #4"

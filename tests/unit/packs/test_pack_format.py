"""The pack format's pure parts: data-safe substitution, rule expansion, the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain.packs import RuleTemplate, Substitution, SubstitutionError, expand_rules
from hub.services.packs.catalog import PackInvalid, load_catalog, load_pack


def test_params_are_substituted_as_data_never_as_text() -> None:
    odd = 'x"]}\n  evil: ${input.secret}'
    out = Substitution({"name": odd, "groups": ["a", "b"]}).apply(
        {"title": {"$param": "name"}, "groups": {"$param": "groups"}, "keep": "${input.x}"}
    )
    assert out == {"title": odd, "groups": ["a", "b"], "keep": "${input.x}"}


def test_format_takes_identifiers_only() -> None:
    ok = Substitution({"area": "boiler-house"}).apply({"$format": "areas/{area}/sensors/+"})
    assert ok == "areas/boiler-house/sensors/+"
    for bad in ("a/b", "#", "+", "x y", "${x}"):
        with pytest.raises(SubstitutionError):
            Substitution({"area": bad}).apply({"$format": "areas/{area}/alarm"})
    with pytest.raises(SubstitutionError, match="unknown parameter"):
        Substitution({}).apply({"$param": "missing"})


def test_rule_templates_expand_per_item_dropping_absent_keys() -> None:
    template = RuleTemplate({"tag": {"$item": "tag"}, "lo": {"$item": "lo"},
                             "area": {"$param": "area"}}, "sensors")  # fmt: skip
    params = {"area": "a1", "sensors": [{"tag": "p"}, {"tag": "q", "lo": 1.5}]}
    assert expand_rules(template, params) == [
        {"tag": "p", "area": "a1"},
        {"tag": "q", "lo": 1.5, "area": "a1"},
    ]


def test_the_shipped_catalog_loads() -> None:
    pack = load_catalog()["safety-monitoring"]
    assert pack.version == "1.0.0" and pack.activities
    assert {w["name"] for w in pack.workflows} == {"safety-monitoring", "safety-health-check"}
    assert pack.hashed_parameters == {"override_key"}


def test_a_bad_manifest_names_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "pack.yaml").write_text("name: broken\nversion: one\n")
    with pytest.raises(PackInvalid, match=r"pack\.yaml: version"):
        load_pack(folder)
    (folder / "pack.yaml").write_text("name: broken\nversion: 1.0.0\nworkflows: [nope.yaml]\n")
    with pytest.raises(PackInvalid, match=r"nope\.yaml"):
        load_catalog(tmp_path)

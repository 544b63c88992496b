"""Quantity rules and standard files: the arithmetic of required quantities, and errors that name the line."""

from pathlib import Path

import pytest

from campuspulse.config_files import ConfigError
from campuspulse.server.inventory.quantity_rules import QuantityRule, SchoolFacts, parse_notation, required
from campuspulse.server.inventory.standards import load_standard_file

SCHOOL = SchoolFacts(classes=18, parallel_classes=6, students=850, max_class_size=45, rooms={"physics_lab": 2})


@pytest.mark.parametrize(
    ("notation", "expected"),
    [
        ("1/校", 1),
        ("2/室(physics_lab)", 4),  # two labs
        ("1/室（chemistry_lab）", 1),  # no such room yet: the standard's one-room minimum
        ("13/50人", 221),  # ceil(13 × 850 / 50)
        ("1/组", 23),  # ceil(45 / 2) groups
        ("2/组(4人)", 24),  # 2 × ceil(45 / 4)
    ],
)
def test_notation_gives_the_required_quantity(notation, expected):
    assert required(parse_notation(notation), SCHOOL) == expected


def test_bands_pick_n_by_classes_and_large_schools_get_a_double_set():
    rule = QuantityRule(
        per="school",
        bands=[{"up_to_classes": 12, "n": 1}, {"up_to_classes": 24, "n": 2}, {"n": 3}],
        double_from_parallel=6,
    )
    small = SchoolFacts(classes=12, parallel_classes=2, students=500, max_class_size=40, rooms={})
    assert required(rule, small) == 1
    assert required(rule, SCHOOL) == 4  # band 13–24 → 2, six parallel classes → ×2
    assert required(rule, SchoolFacts(49, 8, 2400, 50, {})) == 6


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"per": "school"}, "give either n or bands"),
        ({"per": "room", "n": 1}, "needs room_type"),
        ({"per": "school", "bands": [{"up_to_classes": 12, "n": 1}]}, "last band"),
    ],
)
def test_incomplete_rules_are_refused(rule, message):
    with pytest.raises(ValueError, match=message):
        QuantityRule.model_validate(rule)


def test_unknown_notation_names_the_accepted_forms():
    with pytest.raises(ValueError, match=r"n/校, n/室\(room_type\)"):
        parse_notation("3 per lab")


def test_a_bad_standard_file_names_file_line_and_field(tmp_path: Path):
    f = tmp_path / "std.yaml"
    f.write_text(
        "code: X\nversion: '1'\nstandard:\n  name: x\n  province: 北京\n  stage: junior\n  subject: physics\n"
        "  valid_from: 2026-09-01\n  threshold: 2\nitems:\n"
        "  - {code: A, name: a, unit: 台, category: 基本, rule: '1/校'}\n"
        "  - {code: B, name: b, unit: 台, category: 必配, rule: '3 per lab'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_standard_file(f)
    text = str(err.value)
    assert f"{f}:9: standard.threshold" in text
    assert f"{f}:12: items.1.category" in text
    assert f"{f}:12: items.1.rule" in text and "n/校" in text


def test_a_bad_items_csv_names_the_row(tmp_path: Path):
    (tmp_path / "std.yaml").write_text(
        "code: X\nversion: '1'\nstandard: {name: x, province: p, stage: primary, subject: science, "
        "valid_from: 2026-09-01}\nitems_csv: items.csv\n",
        encoding="utf-8",
    )
    (tmp_path / "items.csv").write_text(
        "code,name,unit,category,rule,reference_price\nA,a,个,基本,1/校,5\nB,b,个,基本,1/班,5\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        load_standard_file(tmp_path / "std.yaml")
    assert f"{tmp_path / 'items.csv'}:3: rule" in str(err.value)


def test_check_standard_names_the_basic_items_without_a_price(tmp_path: Path):
    from typer.testing import CliRunner

    from campuspulse.cli import app

    standard = tmp_path / "s.yaml"
    standard.write_text(
        """code: T
version: "1"
standard: {name: 测试, province: 北京, stage: junior, subject: physics, valid_from: 2026-09-01}
items:
  - {code: A, name: 学生电源, unit: 台, category: 基本, rule: "1/组", reference_price: 260}
  - {code: P, name: 无价器材, unit: 台, category: 基本, rule: "1/校"}
  - {code: D, name: 小灯泡, unit: 只, category: 基本, rule: "4/组", consumable: true}
  - {code: C, name: 示波器, unit: 台, category: 选配, rule: "1/校"}
"""
    )
    result = CliRunner().invoke(app, ["check-standard", str(standard)])
    said = " ".join(result.output.split())  # as printed, less the terminal's line wrapping
    assert result.exit_code == 1, said
    assert "基本 item P (无价器材) has no reference_price" in said
    assert "item D" not in said and "item C" not in said, "consumables and 选配 are not counted"
    assert "R_val will be null until 1 reference price(s) are given" in said

"""The catalogue, the pandera schemas, the data dictionary and the code's rule references agree."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from contracts.catalogue import load_catalogue, normal_key

ROOT = Path(__file__).resolve().parent.parent
SHARED_DICTIONARY = ROOT.parent / "shared" / "domain" / "data_dictionary.csv"


def dictionary_rows() -> list[dict]:
    return list(
        csv.DictReader((ROOT / "contracts" / "data_dictionary.csv").read_text(encoding="utf-8").splitlines())
    )


def test_bundled_dictionary_is_the_shared_one():
    if not SHARED_DICTIONARY.exists():
        pytest.skip("shared/ is not beside this checkout")
    assert SHARED_DICTIONARY.read_bytes() == (ROOT / "contracts" / "data_dictionary.csv").read_bytes()


def test_catalogue_covers_every_sheet_and_column_of_the_dictionary():
    catalogue = load_catalogue()
    rows = dictionary_rows()
    assert {r["sheet"] for r in rows} == {s.code for s in catalogue.sheets}
    assert len(catalogue.sheets) == 13
    for r in rows:
        column = catalogue.sheet(r["sheet"]).column(r["code"])
        assert (column.label, column.type, column.required) == (r["label_ru"], r["type"], r["required"][0])
        assert catalogue.sheet(r["sheet"]).title == r["sheet_ru"]


def _valid(c):
    """A value the catalogue allows in column `c`."""
    from datetime import date

    typed = {
        "int": int(c.min or 0),
        "decimal": float(c.min or 0),
        "date": date(2025, 10, 1),
        "url": "https://school.ru",
    }
    return c.values[0] if c.values else typed.get(c.type, c.example or "x")


def _one_row_each(sheet, column, values: list) -> dict[str, list]:
    """A sheet's columns with `values` in `column` and allowed values elsewhere."""
    return {c.code: [_valid(c)] * len(values) for c in sheet.columns} | {column: values}


def test_contracts_refuse_off_list_and_out_of_bound_values_under_their_rule_codes():
    """Every list and every bound of the catalogue is enforced by the pandera contracts, and a failure names the
    rule a curator will read, at the row that broke it."""
    from pipeline.rules.contracts import failures

    checked = 0
    for sheet in load_catalogue().sheets:
        for c in sheet.columns:
            cases = []
            if c.type == "enum" and c.values:
                cases.append(("C06", [c.values[0], "не из списка"]))
            if c.min is not None:
                cases.append(("C07", [c.min, c.min - 1]))
            if c.max is not None:
                cases.append(("C07", [c.max, c.max + 1]))
            for rule, values in cases:
                found = [
                    (pos, col, code)
                    for pos, col, code, _ in failures(sheet.code, _one_row_each(sheet, c.code, values))
                ]
                assert found == [(1, c.code, rule)], (sheet.code, c.code, found)
                checked += 1
    assert checked > 40


def test_every_conditional_column_has_a_machine_condition():
    for sheet in load_catalogue().sheets:
        for c in sheet.columns:
            if c.required == "C":
                assert c.required_if is not None, f"{sheet.code}.{c.code}: {c.required_text}"


def test_enum_lists_match_the_dictionary_text():
    catalogue = load_catalogue()
    for r in dictionary_rows():
        column = catalogue.sheet(r["sheet"]).column(r["code"])
        if (
            r["type"] == "enum"
            and "справочник" not in r["allowed_values"]
            and column.reference is None
            and column.values
        ):
            text = r["allowed_values"]
            assert all(v in text for v in column.values), r["code"]


def test_synonyms_from_the_seeds_normalise_to_canonical_forms():
    pairs_form = load_catalogue().sheet("pairs").column("form")
    for spelling, canonical in [
        ("Ученик-ученик", "ученик – ученик"),
        ("педагог-педагог", "педагог – педагог"),
        ("Учитель-учитель", "педагог – педагог"),
        ("«педагог – педагог»", "педагог – педагог"),
        ("РУКОВОДИТЕЛЬ – МОЛОДОЙ РУКОВОДИТЕЛЬ", "руководитель-наставник – молодой руководитель"),
    ]:
        assert pairs_form.canonical(spelling) == canonical
    assert normal_key("Ёлка — ель") == normal_key("елка-ель")
    assert pairs_form.canonical("наставник – ученик") is None


def test_every_rule_used_in_code_is_in_the_catalogue_with_russian_text():
    rules = load_catalogue().rules
    used = set()
    for path in [
        *(ROOT / "pipeline").rglob("*.py"),
        *(ROOT / "contracts").rglob("*.py"),
        *(ROOT / "cabinet").rglob("*.py"),
    ]:
        used |= set(re.findall(r'"([CFMPUX]\d{2}a?)"', path.read_text(encoding="utf-8")))
    assert used, "no rule codes found in the pipeline"
    assert used == set(rules), (
        f"unknown: {sorted(used - set(rules))}, never raised: {sorted(set(rules) - used)}"
    )
    for code in [f"X{n:02d}" for n in range(1, 16)]:
        assert code in rules
    for rule in rules.values():
        assert re.search("[а-яА-Я]", rule.title) and re.search("[а-яА-Я]", rule.fix), rule.code


def test_every_indicator_is_described_in_the_docs():
    """docs/indicators.md names every code: literally, or as the first and last of a numbered breakdown."""
    import re
    from pathlib import Path

    from pipeline.domain.indicators import BY_CODE

    doc = (Path(__file__).parent.parent / "docs" / "indicators.md").read_text(encoding="utf-8")
    numbered: dict[str, int] = {}
    for code in BY_CODE:
        prefix = re.sub(r"\d+$", "", code)
        if prefix != code and prefix not in ("I",) and not re.fullmatch(r"I\d+", code):
            numbered[prefix] = max(numbered.get(prefix, 0), int(code[len(prefix) :]))
        else:
            assert re.search(rf"(?<!\w){code}(?!\w)", doc), code
    for prefix, last in numbered.items():
        assert f"`{prefix}1`" in doc and f"`{prefix}{last}`" in doc, prefix


def test_the_catalogue_names_severities_in_the_vocabulary_words():
    from typing import get_args

    from contracts.catalogue import SeverityWord
    from pipeline.domain.vocabulary import Severity

    assert set(get_args(SeverityWord)) == {s.value for s in Severity}

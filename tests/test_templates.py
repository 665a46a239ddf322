"""Templates: every sheet and column of the catalogue, dropdowns for enumerations, prefilled and protected."""

from __future__ import annotations

import openpyxl

from contracts.catalogue import load_catalogue
from pipeline.config import DEMO_SIGNING_KEY
from pipeline.reference import load_reference
from pipeline.xlsx.school_layout import CODE_ROW, GUIDE_SHEET, IDENTITY_SHEET, LISTS_SHEET, Identity

from .conftest import MUNICIPALITY, PERIOD, SCHOOL


def test_template_has_every_sheet_column_and_dropdown(template):
    wb = openpyxl.load_workbook(template)
    catalogue = load_catalogue()
    assert wb.sheetnames[0] == GUIDE_SHEET
    assert wb[IDENTITY_SHEET].sheet_state == "veryHidden" and wb[LISTS_SHEET].sheet_state == "hidden"
    for sheet in catalogue.sheets:
        ws = wb[sheet.title]
        codes = [ws.cell(CODE_ROW, c).value for c in range(1, ws.max_column + 1)]
        assert codes == [c.code for c in sheet.columns]
        assert ws.row_dimensions[CODE_ROW].hidden
        assert ws.protection.sheet
        lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
        prefilled = sheet.code in ("meta", "roadmap_status")
        enum_columns = [c for c in sheet.columns if c.type == "enum" and c.values]
        if not prefilled:
            assert len(lists) == len(enum_columns), sheet.code
        for dv in lists:
            assert dv.formula1.startswith(f"'{LISTS_SHEET}'!")


def test_template_is_prefilled_and_signed(template):
    wb = openpyxl.load_workbook(template)
    m = load_reference().municipalities[MUNICIPALITY]
    meta = wb[load_catalogue().sheet("meta").title]
    row = {meta.cell(CODE_ROW, c).value: meta.cell(3, c).value for c in range(1, meta.max_column + 1)}
    assert (
        row["school_id"] == SCHOOL
        and row["report_period_code"] == PERIOD
        and row["municipality_code"] == m.name
    )
    roadmap = wb[load_catalogue().sheet("roadmap_status").title]
    codes = [roadmap.cell(r, 1).value for r in range(3, roadmap.max_row + 1) if roadmap.cell(r, 1).value]
    assert codes == [i.code for i in m.roadmap]
    ident = Identity(**{r[0]: r[1] for r in wb[IDENTITY_SHEET].iter_rows(values_only=True)})
    assert ident.verify(DEMO_SIGNING_KEY)
    assert not ident.verify("wrong key")
    assert meta.cell(3, 1).protection.locked


def test_a_municipality_written_by_forked_writers_gets_the_same_templates(tmp_path, monkeypatch):
    """Arkhangelsk's 56 templates from two forked writers: the registry's order, and the bytes one process writes."""
    from datetime import date

    from pipeline import schools
    from pipeline.reference import Issuer

    issuer, issued = Issuer(DEMO_SIGNING_KEY), date(2025, 10, 1)
    assert len(load_reference().municipalities[MUNICIPALITY].schools) >= schools.PARALLEL_FROM
    monkeypatch.setattr(schools, "spare_core", lambda: True)
    forked, _ = schools.issue_templates(
        None, issuer, tmp_path / "forked", MUNICIPALITY, PERIOD, issued=issued
    )
    monkeypatch.setattr(schools, "spare_core", lambda: False)
    alone, _ = schools.issue_templates(None, issuer, tmp_path / "alone", MUNICIPALITY, PERIOD, issued=issued)
    assert [p.name for p in forked] == [p.name for p in alone]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(forked, alone, strict=True))

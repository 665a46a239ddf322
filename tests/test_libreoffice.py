"""Real clients: workbooks re-saved by LibreOffice Calc (headless soffice) are read like our own."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from contracts.catalogue import load_catalogue
from pipeline.intake import check_return
from pipeline.parsing import read_workbook
from pipeline.workbook import LISTS_SHEET

from .conftest import soffice

pytestmark = pytest.mark.skipif(soffice() is None, reason="LibreOffice (soffice) is not installed")


def resave(path: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([soffice(), "--headless", "--norestore", f"-env:UserInstallation=file://{out_dir}/profile",
                    "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out_dir), str(path)],
                   check=True, capture_output=True, timeout=180)
    return out_dir / path.name


def test_return_saved_by_libreoffice_is_accepted_with_the_same_rows(make_return, ws, tmp_path):
    original = make_return()
    saved = resave(original, tmp_path / "lo")
    assert saved.read_bytes() != original.read_bytes()
    result = check_return(saved, ws, datetime(2025, 12, 21, 10))
    assert result.verdict == "accepted", [(i.rule, i.where, i.message) for i in result.issues]
    ours, theirs = read_workbook(original), read_workbook(saved)
    for code in ours.sheets:
        a, b = ours.sheets[code].frame, theirs.sheets[code].frame
        assert a.astype(str).equals(b.astype(str)), code


def test_template_saved_by_libreoffice_keeps_every_dropdown(template, tmp_path):
    saved = resave(template, tmp_path / "lo")

    def dropdowns(path):
        wb = openpyxl.load_workbook(path)
        return {s.title: sorted(dv.formula1.replace("$", "").replace("'", "") for dv in wb[s.title].data_validations.dataValidation
                                if dv.type == "list") for s in load_catalogue().sheets}

    assert dropdowns(saved) == dropdowns(template)

    def lists(path):
        return [list(r) for r in openpyxl.load_workbook(path)[LISTS_SHEET].iter_rows(values_only=True)]

    assert lists(saved) == lists(template)

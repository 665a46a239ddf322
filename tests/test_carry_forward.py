"""A new period's template comes prefilled with the registries of the school's last accepted return."""

from __future__ import annotations

import os
import shutil
from datetime import datetime

from pipeline.intake.steps import process_pending, receive_inbox
from pipeline.schools import issue_templates
from pipeline.store import warehouse
from pipeline.xlsx.reader import read_workbook

from .conftest import MUNICIPALITY, SCHOOL


def test_next_template_carries_the_accepted_registries(make_return, ws, tmp_path):
    accepted = make_return()
    dropped = ws.inbox / "ARH-001.xlsx"
    shutil.copy(accepted, dropped)
    stamp = datetime(2025, 12, 20, 10).timestamp()
    os.utime(dropped, (stamp, stamp))
    with warehouse.connect(ws.database) as con:
        receive_inbox(ws, con, settle_seconds=0)
        [result] = process_pending(ws, con, MUNICIPALITY, "2025-Q4")
        assert result.verdict == "accepted"
        [path], carried = issue_templates(
            con, ws.issuer, tmp_path / "next", MUNICIPALITY, "2026-Q1", [SCHOOL]
        )
        [other], none = issue_templates(
            con, ws.issuer, tmp_path / "next", MUNICIPALITY, "2026-Q1", ["ARH-002"]
        )
    assert carried == 1 and none == 0
    before, after = read_workbook(accepted), read_workbook(path)
    for sheet, key in (("mentors", "mentor_id"), ("mentees", "mentee_id"), ("programmes", "programme_id")):
        assert list(after.sheets[sheet].frame[key]) == list(before.sheets[sheet].frame[key]), sheet
    assert list(after.sheets["mentors"].frame["full_name"]) == list(
        before.sheets["mentors"].frame["full_name"]
    )
    active = before.sheets["pairs"].frame
    assert list(after.sheets["pairs"].frame["pair_group_id"]) == list(
        active[active["status"] == "действует"]["pair_group_id"]
    )
    assert read_workbook(other).sheets["mentors"].frame.empty

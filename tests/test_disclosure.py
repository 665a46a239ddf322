"""What the summaries may show of people (domain.md §3 I15, §4 п.2), and four figures an independent recomputation
found wrong: one small municipality, two periods, read back from the published workbooks and `svod explain`.

The story (Архангельск): in 2025-Q3 only ARH-001 hands in; in 2025-Q4 ARH-001 and ARH-002 hand in and ARH-003 sends
only a rejected file. ARH-001's mentors' survey has one respondent (mean 6.63, 41.7 % satisfied), its training sheet
lists a curator and a head without a mentor ID beside its mentors, and its partners provided 3 mentors.
"""

from __future__ import annotations

import os
import zipfile
from datetime import datetime, time, timedelta
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import Workspace
from pipeline.domain.indicators import INDICATORS
from pipeline.domain.suppression import FEW_PEOPLE, FEW_RESPONDENTS, HIDDEN_PART
from pipeline.in_process import consolidate
from pipeline.reference import load_reference
from pipeline.store import warehouse
from pipeline.xlsx.summary_layout import LINEAGE_SHEET
from pipeline.xlsx.templates import write_template
from samples.demo import inbox_name
from samples.fake_school import fill, make_mistake, school_data

MUNI, Q3, Q4 = "arkhangelsk", "2025-Q3", "2025-Q4"
LONE_MEAN, LONE_SHARE = 6.63, 41.7  # one mentor's answers: printed nowhere
SURVEYED, PARTNER_MENTORS = "ARH-001", 3


def _lone_mentor(data: dict) -> None:
    """One mentor answered the survey; a curator and a head finished training beside the mentors; partners
    provided a few mentors."""
    data["survey_summary"].append(
        {
            "respondent_role": "наставники",
            "form": "педагог – педагог",
            "survey_stage": "промежуточное",
            "instrument": "анкета по МР Минпросвещения",
            "n_respondents": 1,
            "mean_score": LONE_MEAN,
            "share_satisfied_pct": LONE_SHARE,
        }
    )
    course = {k: v for k, v in data["training"][0].items() if k not in ("person_role", "person_ref")}
    data["training"] += [
        {**course, "person_role": "куратор", "person_name": "Куратова Анна Ивановна"},
        {**course, "person_role": "руководитель ОО", "person_name": "Директорова Вера Павловна"},
    ]
    data["partners"][0]["n_mentors_provided"] = PARTNER_MENTORS


def _hand_in(
    ws: Workspace, period: str, school: str, seed: int, edit=None, mistake: str | None = None
) -> dict:
    p = load_reference().municipalities[MUNI].period(period)
    template = write_template(ws.home / "issued", ws.issuer, MUNI, period, school, p.start)
    data = school_data(template, seed, "small", p.deadline - timedelta(days=3))
    if edit:
        edit(data)
    if mistake:
        make_mistake(data, mistake)
    path = fill(template, inbox_name(ws, school, period, f"_{seed}"), data)
    stamp = datetime.combine(p.deadline - timedelta(days=3), time(10)).timestamp()
    os.utime(path, (stamp, stamp))
    return data


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> tuple[Workspace, dict]:
    ws = Workspace.resolve(tmp_path_factory.mktemp("disclosure") / "home")
    _hand_in(ws, Q3, SURVEYED, 11, _lone_mentor)
    consolidate(ws, [(MUNI, Q3)], settle=0, notify=lambda _: None)
    lone = _hand_in(ws, Q4, SURVEYED, 12, _lone_mentor)
    _hand_in(ws, Q4, "ARH-002", 13)
    _hand_in(ws, Q4, "ARH-003", 14, mistake="bad_date")
    consolidate(ws, [(MUNI, Q4)], settle=0, notify=lambda _: None)
    return ws, lone


def _municipal(ws: Workspace, period: str) -> Path:
    return ws.out / MUNI / f"svod_{MUNI}_{period}.xlsx"


def _regional(ws: Workspace) -> Path:
    return next((ws.out / "region").glob("svod_region_arkhangelsk_obl_*.xlsx"))


def _cell(path: Path, sheet: str, code: str, row_name: str):
    """The cell of indicator `code` in the row whose first or second column is `row_name`."""
    ws = openpyxl.load_workbook(path)[sheet]
    header_row = 3 if sheet == "Показатели по МО" else 1
    header = [str(c.value or "").split(" ")[0] for c in ws[header_row]]
    row = next(r for r in ws.iter_rows(min_row=header_row + 1) if row_name in (r[0].value, r[1].value))
    return row[header.index(code)]


def _explain(ws: Workspace, book: Path, cell) -> str:
    result = CliRunner().invoke(
        app,
        [
            "explain",
            "--workbook",
            str(book),
            "--cell",
            f"{cell.parent.title}!{cell.coordinate}",
            "--home",
            str(ws.home),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_listeners_without_an_id_count_one_row_each(story):
    """Defect A: a curator and a head, both without a mentor ID, are two listeners, not one (§3 I14)."""
    ws, lone = story
    expected = sum(t["status"] == "завершено" for t in lone["training"])
    assert expected >= 3
    cell = _cell(_municipal(ws, Q4), "Показатели по ОО", "I14n", SURVEYED)
    assert cell.value == expected
    assert f'"value": {float(expected)}' in _explain(ws, _municipal(ws, Q4), cell)


def test_a_survey_of_one_is_hidden_in_every_sheet_and_in_explain(story):
    """Defects B and C: the mean, the share satisfied and the response rate of one respondent are hidden on
    «Показатели по ОО», «Разрезы», «Происхождение» and «Динамика», and by `svod explain`."""
    ws, _ = story
    book = _municipal(ws, Q4)
    for code in ("I15m2", "I15s2", "I15r2"):
        cell = _cell(book, "Показатели по ОО", code, SURVEYED)
        assert cell.value == FEW_RESPONDENTS, code
        answer = _explain(ws, book, cell)
        assert f'"value": "{FEW_RESPONDENTS}"' in answer and f'"numerator": "{HIDDEN_PART}"' in answer, code
        assert str(LONE_MEAN) not in answer and str(LONE_SHARE) not in answer
    form = next(
        i.code for i in INDICATORS if i.code.startswith("I15m2f") and i.title.endswith("педагог – педагог")
    )
    cuts = openpyxl.load_workbook(book)["Разрезы"]
    column = [c.value for c in cuts[1]].index(
        load_reference().municipalities[MUNI].school(SURVEYED).short_name
    )
    row = next(r for r in cuts.iter_rows(min_row=2, values_only=True) if str(r[0]).startswith(f"{form} "))
    assert row[column] == FEW_RESPONDENTS
    lineage = {
        r[0]: r for r in openpyxl.load_workbook(book)[LINEAGE_SHEET].iter_rows(min_row=2, values_only=True)
    }
    with warehouse.connect(ws.database, read_only=True) as con:
        hidden = con.execute("SELECT figure_id, hidden FROM figure WHERE hidden IS NOT NULL").fetchall()
    assert any(fid.startswith("I15m2f") for fid, _ in hidden), "the breakdown by form is hidden too"
    for fid, mark in hidden:
        if fid in lineage:
            assert lineage[fid][5:8] == (mark, HIDDEN_PART, HIDDEN_PART), fid
    # Q3: only the lone mentor answered in the whole municipality; Q4's «Динамика» shows Q3 as hidden
    trends = openpyxl.load_workbook(book)["Динамика"]
    row = next(r for r in trends.iter_rows(min_row=2) if str(r[0].value).startswith("I15m2 "))
    assert row[1].value == FEW_RESPONDENTS
    regional = openpyxl.load_workbook(_regional(ws))["Динамика"]
    row = next(r for r in regional.iter_rows(min_row=2, values_only=True) if str(r[1]).startswith("I15m2 "))
    assert row[3] == FEW_RESPONDENTS


def test_no_hidden_survey_answer_anywhere_in_any_workbook(story):
    """Every part of every summary (hidden sheets, the lineage sheet, charts, shared strings) is free of the one
    respondent's answers."""
    ws, _ = story
    books = [_municipal(ws, Q3), _municipal(ws, Q4), _regional(ws), *ws.out.rglob("история/*.xlsx")]
    for path in books:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                text = z.read(name).decode("utf-8", "replace")
                for secret in (str(LONE_MEAN), str(LONE_SHARE)):
                    assert secret not in text, (path.name, name, secret)


def test_rejected_files_count_in_the_share_of_files_without_errors(story):
    """Defect D: a file of an ОО with no accepted version is in the intake journal, so in I23b (§3 I23)."""
    ws, _ = story
    cell = _cell(_municipal(ws, Q4), "Показатели по ОО", "I23b", "ИТОГО")
    assert cell.value == pytest.approx(round(100 * 2 / 3, 1))
    regional = _cell(_regional(ws), "Показатели по МО", "I23b", load_reference().municipalities[MUNI].name)
    assert regional.value == pytest.approx(round(100 * 2 / 3, 1))


def test_mentors_provided_by_partners_are_people_hidden_above_the_municipality(story):
    """Defect E: I19n of 3 is a small count of people: hidden in the regional workbook with its total and lineage."""
    ws, _ = story
    name = load_reference().municipalities[MUNI].name
    book = _regional(ws)
    assert _cell(book, "Показатели по МО", "I19n", name).value == FEW_PEOPLE
    assert _cell(book, "Показатели по МО", "I19n", "ИТОГО по региону").value in (FEW_PEOPLE, HIDDEN_PART)
    lineage = [
        r
        for r in openpyxl.load_workbook(book)[LINEAGE_SHEET].iter_rows(min_row=2, values_only=True)
        if str(r[0]).startswith("I19n|")
    ]
    assert lineage and all(r[4] == HIDDEN_PART and r[5] == HIDDEN_PART for r in lineage)
    # the municipality itself sees its people
    assert _cell(_municipal(ws, Q4), "Показатели по ОО", "I19n", "ИТОГО").value == PARTNER_MENTORS


def test_the_warehouse_views_print_the_hidden_form(story):
    ws, _ = story
    with warehouse.connect(ws.database, read_only=True) as con:
        leaks = con.execute(
            "SELECT count(*) FROM indicator_published WHERE hidden IS NOT NULL "
            "AND (value IS NOT NULL OR numerator IS NOT NULL OR denominator IS NOT NULL)"
        ).fetchone()[0]
        regional = dict(
            con.execute(
                "SELECT indicator, hidden FROM indicator_regional WHERE value IS NULL AND hidden IS NOT NULL"
            ).fetchall()
        )
    assert leaks == 0
    assert regional.get("I19n") in (FEW_PEOPLE, HIDDEN_PART) and regional.get("I15m2") is not None


def test_a_total_never_gives_away_the_one_hidden_part():
    """Complementary suppression: with one ОО hidden and the total shown, a second ОО is hidden, so «total − the
    others» reveals no one's answers; where nothing else can be hidden, the total is."""
    from pipeline.domain.figures import aggregate
    from pipeline.domain.suppression import suppress
    from pipeline.domain.vocabulary import Level

    ind = next(i for i in INDICATORS if i.code == "I15m2")
    parts = [ind.figure(Level.SCHOOL, s, "p", 6.6 * n, n) for s, n in (("a", 1), ("b", 12), ("c", 7))]
    shown = {
        f.entity: f.hidden
        for f in suppress([*parts, aggregate(parts, Level.MUNICIPALITY, "m", "p")], Level.MUNICIPALITY)
    }
    assert shown == {"a": FEW_RESPONDENTS, "c": HIDDEN_PART, "b": None, "m": None}
    lone = parts[:1] + [ind.figure(Level.SCHOOL, "b", "p", 0, 0)]
    shown = {
        f.entity: f.hidden
        for f in suppress([*lone, aggregate(lone, Level.MUNICIPALITY, "m", "p")], Level.MUNICIPALITY)
    }
    assert shown["a"] == FEW_RESPONDENTS and shown["m"] == FEW_RESPONDENTS


def test_a_breakdown_that_adds_up_to_its_headline_hides_its_complement():
    from pipeline.domain.suppression import suppress
    from pipeline.domain.vocabulary import Level

    by_code = {i.code: i for i in INDICATORS}
    forms = [
        by_code[f"I15m2f{n}"].figure(Level.SCHOOL, "a", "p", 7.0 * n_, n_)
        for n, n_ in ((1, 2), (2, 9), (3, 8))
    ]
    headline = by_code["I15m2"].figure(Level.SCHOOL, "a", "p", 7.0 * 19, 19)
    hidden = {f.indicator: f.hidden for f in suppress([headline, *forms], Level.SCHOOL) if f.hidden}
    assert hidden == {"I15m2f1": FEW_RESPONDENTS, "I15m2f3": HIDDEN_PART}


def test_a_short_name_keeps_its_inner_quotes_balanced():
    school = next(
        s for m in load_reference().municipalities.values() for s in m.schools if "«Центр «Радуга»»" in s.name
    )
    assert school.short_name == "Центр «Радуга»"

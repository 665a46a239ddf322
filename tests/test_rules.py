"""Every rule function of the registry on plain records: one example that breaks the rule and the same example
mended, which must not. Milliseconds each; the end-to-end rule table (`test_rule_table.py`) checks the same
rules on real workbooks."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipeline.rules import ACROSS_SHEETS, HEAD, HISTORY, PER_SHEET, RULES
from tests.support.books import book, context

D = date
MENTOR = {
    "mentor_id": "MR-0001",
    "full_name": "Смирнова Анна Сергеевна",
    "mentor_category": "педагогический работник ОО",
    "pd_consent": "да",
    "status": "активный (закреплён)",
    "written_consent_mentoring": "да",
    "employer_agreement_ref": "доп. соглашение № 1",
    "age_group": None,
}
MENTEE = {
    "mentee_id": "ME-0001",
    "full_name": "Иванова Мария Петровна",
    "mentee_category": "обучающийся",
    "pd_consent": "да",
    "pd_consent_by": "законным представителем",
    "status": "в паре/группе",
}
PROGRAMME = {
    "programme_id": "PR-0001",
    "forms": "учитель – ученик",
    "status": "реализуется",
    "programme_kind": "программа по форме наставничества",
}
PAIR = {
    "pair_group_id": "PG-0001",
    "mentor_id": "MR-0001",
    "mentee_id": "ME-0001",
    "programme_id": "PR-0001",
    "form": "учитель – ученик",
    "unit_type": "пара",
    "status": "действует",
    "start_date": D(2025, 9, 1),
}
BASE = {"mentors": [MENTOR], "mentees": [MENTEE], "programmes": [PROGRAMME], "pairs": [PAIR]}
TITLE = {
    "school_id": "ARH-001",
    "report_period_code": "2025-Q4",
    "municipality_code": "ГО «Город Архангельск»",
    "director_confirmed": "да",
    "submission_date": D(2025, 12, 20),
    "period_start": D(2025, 10, 1),
    "period_end": D(2025, 12, 31),
}


def with_(sheets: dict, **changes) -> dict:
    """`sheets` with some sheets' first record changed (a dict) or replaced whole (a list)."""
    out = dict(sheets)
    for sheet, change in changes.items():
        out[sheet] = change if isinstance(change, list) else [{**out[sheet][0], **change}, *out[sheet][1:]]
    return out


def mentees(n: int) -> list[dict]:
    return [{**MENTEE, "mentee_id": f"ME-{k:04d}"} for k in range(1, n + 1)]


def pairs_of(n: int, **fields) -> list[dict]:
    return [
        {**PAIR, "pair_group_id": f"PG-{k:04d}", "mentee_id": f"ME-{k:04d}", **fields}
        for k in range(1, n + 1)
    ]


# code -> (breaking records, mended records)
EXAMPLES = {
    "M06": ({"meta": [{**TITLE, "school_id": "ARH-002"}]}, {"meta": [TITLE]}),
    "M09": ({"meta": [{**TITLE, "director_confirmed": "нет"}]}, {"meta": [TITLE]}),
    "M10": ({"meta": [{**TITLE, "submission_date": D(2099, 1, 1)}]}, {"meta": [TITLE]}),
    "C12": (with_(BASE, mentors={"pd_consent": "нет"}), BASE),
    "C02": (
        {"pairs": [{**PAIR, "status": "прекращена досрочно"}]},
        {
            "pairs": [
                {
                    **PAIR,
                    "status": "прекращена досрочно",
                    "termination_reason": "по инициативе наставляемого",
                    "actual_end_date": D(2025, 11, 1),
                }
            ]
        },
    ),
    "C11": ({"meta": [{**TITLE, "period_end": D(2025, 9, 1)}]}, {"meta": [TITLE]}),
    "X01": (with_(BASE, mentors=[MENTOR, MENTOR]), BASE),
    "X02": (with_(BASE, pairs={"mentor_id": "MR-0099"}), BASE),
    "X03": (with_(BASE, pairs={"form": "ученик – ученик"}), BASE),
    "X04": (
        {"events": [{"event_id": "EV-0001", "date_start": D(2025, 1, 15)}]},
        {"events": [{"event_id": "EV-0001", "date_start": D(2025, 11, 15)}]},
    ),
    "X05": ({"mentors": [MENTOR]}, {"mentors": [{**MENTOR, "status": "резерв"}]}),
    "X06": (
        with_(BASE, school_profile=[{"students_total": 0}]),
        with_(BASE, school_profile=[{"students_total": 300}]),
    ),
    "X07": (
        with_(BASE, mentees=mentees(6), pairs=pairs_of(6)),
        with_(BASE, mentees=mentees(5), pairs=pairs_of(5)),
    ),
    "X08": (with_(BASE, mentees={"pd_consent_by": "субъектом ПДн"}), BASE),
    "X08a": (with_(BASE, mentors={"written_consent_mentoring": "нет"}), BASE),
    "X09": (
        with_(BASE, pairs=[PAIR, {**PAIR, "mentee_id": "ME-0002"}], mentees=mentees(2)),
        with_(
            BASE,
            pairs=[{**PAIR, "unit_type": "группа"}, {**PAIR, "mentee_id": "ME-0002", "unit_type": "группа"}],
            mentees=mentees(2),
        ),
    ),
    "X10": (with_(BASE, programmes={"status": "завершена"}), BASE),
    "X11": (
        with_(
            BASE,
            survey_summary=[{"respondent_role": "наставляемые", "form": "все формы", "n_respondents": 5}],
        ),
        with_(
            BASE,
            survey_summary=[{"respondent_role": "наставляемые", "form": "все формы", "n_respondents": 1}],
        ),
    ),
    "X12": (
        with_(
            BASE,
            best_practices=[
                {"practice_id": "BP-0001", "description": "Опыт Ивановой: Иванова Мария вела урок"}
            ],
        ),
        with_(
            BASE,
            best_practices=[{"practice_id": "BP-0001", "description": "Опыт наставляемой: открытый урок"}],
        ),
    ),
    "X13": (
        {
            "roadmap_status": [
                {"activity_code": "ARH-1", "due_in_period": "да", "status": "не требуется в отчётном периоде"}
            ]
        },
        {"roadmap_status": [{"activity_code": "ARH-1", "due_in_period": "да", "status": "в работе"}]},
    ),
}
LATE, ON_TIME = D(2026, 2, 1), D(2025, 12, 20)
PREVIOUS = {
    "mentors": pd.DataFrame([MENTOR, {**MENTOR, "mentor_id": "MR-0002"}]),
    "mentees": pd.DataFrame(mentees(1)),
}
HISTORY_EXAMPLES = {
    "X15": (BASE, with_(BASE, mentors=[MENTOR, {**MENTOR, "mentor_id": "MR-0002"}])),
    "P01": (with_(BASE, mentees=mentees(15)), BASE),
}


def run(code: str, sheets: dict, received: date = ON_TIME) -> list:
    ctx = context(sheets, received)
    if code in PER_SHEET:
        return [i for sheet in sheets for i in PER_SHEET[code](ctx, sheet)]
    return (HEAD | ACROSS_SHEETS)[code](ctx)


@pytest.mark.parametrize("code", sorted(EXAMPLES))
def test_a_rule_fires_on_its_mistake_and_not_on_the_mended_records(code):
    breaking, mended = EXAMPLES[code]
    found = run(code, breaking)
    assert found and {i.rule for i in found} == {code}, [(i.rule, i.message) for i in found]
    assert all(i.cell for i in found if i.sheet), "a cell rule names its cell"
    assert run(code, mended) == [], [(i.rule, i.message) for i in run(code, mended)]


def test_x14_a_late_return_is_flagged_and_an_on_time_one_is_not():
    assert [i.rule for i in run("X14", BASE, LATE)] == ["X14"]
    assert run("X14", BASE, ON_TIME) == []


@pytest.mark.parametrize("code", sorted(HISTORY_EXAMPLES))
def test_a_history_rule_fires_against_the_previous_period_only_when_it_should(code):
    breaking, mended = HISTORY_EXAMPLES[code]
    assert {i.rule for i in HISTORY[code](book(breaking), PREVIOUS)} == {code}
    assert HISTORY[code](book(mended), PREVIOUS) == []


def test_every_registered_rule_has_examples():
    assert set(RULES) == set(EXAMPLES) | {"X14"} | set(HISTORY_EXAMPLES)

"""Property: for random valid returns, every indicator equals a plain-Python recomputation from the cells.

The fake school writes a return; hypothesis varies its size and the fate of each pair (still running, finished
with a result, stopped early). svod parses the file and computes I01–I21; the test recomputes each from the
rows that were written, with nothing but comprehensions.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.domain.indicators import BY_CODE, Scope, return_figures
from pipeline.domain.vocabulary import Level
from samples.fake_school import fill, school_data
from tests.support import check_return

PERIOD_START, PERIOD_END = date(2025, 10, 1), date(2025, 12, 31)
FATES = st.sampled_from(["действует", "завершена", "прекращена досрочно"])


def active(p) -> bool:
    return p["start_date"] <= PERIOD_END and (p.get("actual_end_date") is None or p["actual_end_date"] >= PERIOD_START)


def pct(num, den):
    return None if not den else round(100 * num / den, 1)


def plain(data: dict) -> dict[str, float | None]:
    prof = data["school_profile"][0]
    pairs = data["pairs"]
    live = [p for p in pairs if active(p)]
    live_mentees = {p["mentee_id"] for p in live}
    live_mentors = {p["mentor_id"] for p in live}
    mentees, mentors, progs, events = data["mentees"], data["mentors"], data["programmes"], data["events"]
    staff = {"педагогический работник ОО", "руководитель/заместитель руководителя ОО"}

    def in_period(g):
        return g["status"] in ("реализуется", "завершена") and g["start_date"] <= PERIOD_END and g["end_date"] >= PERIOD_START

    due = [r for r, t in zip(data["roadmap_status"], data["_roadmap"], strict=True) if t["due_in_period"] == "да" and t["responsible_level"] != "муниципалитет"]
    finished = [p for p in pairs if p["status"] == "завершена"]
    return {
        "I01": pct(len({m["mentee_id"] for m in mentees if m["mentee_category"] == "обучающийся" and m.get("age_group") in ("10–14 лет", "15–18 лет") and m["mentee_id"] in live_mentees}), prof.get("students_age_10_18")),
        "I02": pct(len({m["mentor_id"] for m in mentors if m["mentor_category"] == "обучающийся ОО" and m.get("age_group") == "15–18 лет" and m["mentor_id"] in live_mentors}), prof.get("students_age_15_18")),
        "I03": pct(len({m["mentee_id"] for m in mentees if m["mentee_category"] == "молодой специалист (стаж 0–3 года)" and m["mentee_id"] in live_mentees}), prof["young_specialists_0_3"]),
        "I04": pct(len({m["mentee_id"] for m in mentees if m.get("under_35") == "да" and m["mentee_id"] in live_mentees}), prof["teachers_under_35"]),
        "I05": pct(len({m["mentor_id"] for m in mentors if m["mentor_category"] in staff and m["mentor_id"] in live_mentors}), prof["ped_staff_total"]),
        "I06": len({p["pair_group_id"] for p in live}),
        "I07": len({g["programme_id"] for g in progs if in_period(g)}),
        "I08": len({g["programme_id"] for g in progs if in_period(g) and g["programme_kind"].startswith("персонализированная")}),
        "I09": len({p["pair_group_id"] for p in live if p["form"] == "руководитель-наставник – молодой руководитель"}),
        "I10": len({g["programme_id"] for g in progs if g.get("network_project") == "да"}),
        "I11a": pct(1 if prof["curator_appointed"] == "да" else 0, 1),
        "I11c": pct(1 if prof.get("roadmap_ref") else 0, 1),
        "I11f": pct(1 if prof.get("site_section_url") else 0, 1),
        "I12": pct(sum(1 for r in due if str(r.get("status", "")).startswith("выполнено")), len(due)),
        "I13": len(events),
        "I13legal": sum(1 for e in events if e.get("topic_legal") == "да"),
        "I13seminar": sum(1 for e in events if e["event_type"] in ("семинар", "вебинар", "совещание", "круглый стол")),
        "I13edu": sum(1 for e in events if e["event_type"] == "образовательное событие для обучающихся"),
        "I14": pct(len({m["mentor_id"] for m in mentors if m["trained_mentoring"] != "нет" and m["mentor_id"] in live_mentors}), len(live_mentors & {m["mentor_id"] for m in mentors})),
        "I16": pct(len({p["pair_group_id"] for p in finished if p.get("result") in ("цели достигнуты", "цели достигнуты частично")}), len({p["pair_group_id"] for p in finished})),
        "I18": len({a["mentor_id"] for a in data["awards"]}),
        "I19": sum(1 for m in mentors if m["mentor_category"] in ("студент (вуз/ПОО)", "представитель предприятия (работодателя)", "представитель организации культуры/спорта/НКО")),
        "I21": pct(len({m["mentee_id"] for m in mentees if m["mentee_category"].startswith("молодой руководитель") and m["mentee_id"] in live_mentees}), prof.get("young_managers_0_2")),
    }


@pytest.fixture(scope="module")
def roadmap_template(template):
    import openpyxl

    from contracts.catalogue import load_catalogue
    from pipeline.xlsx.school_layout import CODE_ROW

    ws = openpyxl.load_workbook(template)[load_catalogue().sheet("roadmap_status").title]
    codes = [ws.cell(CODE_ROW, c).value for c in range(1, ws.max_column + 1)]
    return [dict(zip(codes, [ws.cell(r, c).value for c in range(1, ws.max_column + 1)], strict=True)) for r in range(3, ws.max_row + 1)
            if ws.cell(r, 1).value]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), size=st.sampled_from(["small", "medium"]), fates=st.lists(FATES, min_size=40, max_size=40),
       ends=st.lists(st.integers(0, 91), min_size=40, max_size=40))
def test_indicators_equal_a_plain_recomputation(template, roadmap_template, ws, tmp_path, seed, size, fates, ends):
    data = school_data(template, seed, size, date(2025, 12, 20))
    for p, fate, shift in zip(data["pairs"], fates, ends, strict=False):
        if fate == "действует":
            continue
        p["status"] = fate
        p["actual_end_date"] = min(max(p["start_date"] + timedelta(days=1), PERIOD_START + timedelta(days=shift)), PERIOD_END)
        if fate == "завершена":
            p["result"] = "цели достигнуты" if shift % 2 else "цели не достигнуты"
        else:
            p["termination_reason"] = "по инициативе наставляемого"
    path = fill(template, tmp_path / f"r{seed}.xlsx", data)
    result = check_return(path, ws, datetime(2025, 12, 21, 10))
    assert result.verdict != "rejected", [(i.rule, i.where, i.message) for i in result.issues if i.severity == "error"]
    sheets = result.book.sheets
    frames = {k: v.frame.rename_axis("src_row").reset_index().assign(sha256="sha", school_id="ARH-001") for k, v in sheets.items()}
    letters = pd.DataFrame([{"sha256": "sha", "sheet": k, "code": c, "letter": letter}
                            for k, v in sheets.items() for c, letter in v.letters.items()])
    figures, _ = return_figures(pd.DataFrame({"sha256": ["sha"], "school_id": ["ARH-001"]}),
                                Scope(frames, PERIOD_START, PERIOD_END), letters)
    expected = plain({**data, "_roadmap": roadmap_template})
    for code, numerator, denominator in zip(figures["indicator"], figures["numerator"], figures["denominator"], strict=True):
        figure = BY_CODE[code].figure(Level.SCHOOL, "ARH-001", "2025-Q4", numerator, denominator)
        assert figure.value == expected[code], code

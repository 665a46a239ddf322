"""Property: for random valid returns, every indicator equals a plain-Python recomputation from the cells.

The fake school writes a return; hypothesis varies its size, the fate of each pair (still running, finished
with a result, stopped early), the kind, level and role of its events, its awards, partners, survey lines,
roadmap statuses and its history of versions. svod parses the file and computes every indicator and breakdown
of §3; the test recomputes each from the rows that were written, with nothing but comprehensions.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contracts.catalogue import load_catalogue
from pipeline.domain.indicators import BY_CODE, Scope, return_figures
from pipeline.domain.vocabulary import Level
from samples.fake_school import fill, school_data
from tests.support import check_return, stacked_facts

PERIOD_START, PERIOD_END = date(2025, 10, 1), date(2025, 12, 31)
FATES = st.sampled_from(["действует", "завершена", "прекращена досрочно"])
values = lambda column: load_catalogue().column(column).values  # noqa: E731
FORMS = values("pairs.form")
EVENT_TYPES, EVENT_LEVELS, SCHOOL_ROLES = (
    values("events.event_type"),
    values("events.level"),
    values("events.school_role"),
)
BANK_LEVELS, AWARD_TYPES, AWARD_STAGES = (
    values("best_practices.bank_level"),
    values("awards.award_type"),
    values("awards.stage"),
)
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(EVENT_TYPES),
        st.sampled_from(EVENT_LEVELS),
        st.sampled_from(SCHOOL_ROLES),
        st.integers(0, 30),
        st.booleans(),
    ),
    min_size=3,
    max_size=3,
)
VERSIONS = st.lists(
    st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=3
)  # (errors, on time) per version


def active(p) -> bool:
    return p["start_date"] <= PERIOD_END and (
        p.get("actual_end_date") is None or p["actual_end_date"] >= PERIOD_START
    )


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
        return (
            g["status"] in ("реализуется", "завершена")
            and g["start_date"] <= PERIOD_END
            and g["end_date"] >= PERIOD_START
        )

    due = [
        r
        for r, t in zip(data["roadmap_status"], data["_roadmap"], strict=True)
        if t["due_in_period"] == "да" and t["responsible_level"] != "муниципалитет"
    ]
    school_items = [
        r
        for r, t in zip(data["roadmap_status"], data["_roadmap"], strict=True)
        if t["responsible_level"] != "муниципалитет"
    ]
    finished = [p for p in pairs if p["status"] == "завершена"]
    live_ids = {p["pair_group_id"] for p in live}
    survey, practices, awards, partners, versions = (
        data["survey_summary"],
        data["best_practices"],
        data["awards"],
        data["partners"],
        data["_versions"],
    )
    in_bank = [b for b in practices if b["status"] in ("включена в банк", "отмечена наградой")]
    shown_at = {e.get("practice_id") for e in events if e["level"] != "ОО"}
    per_mentor = [sum(1 for p in live if p["mentor_id"] == m) for m in live_mentors]

    def mean(rows, column):
        n = sum(r["n_respondents"] for r in rows)
        return None if not n else round(sum(r[column] * r["n_respondents"] for r in rows) / n, 1)

    def of_role(role):  # its «все формы» lines where given, else its lines by form
        lines = [r for r in survey if r["respondent_role"] == role]
        return [r for r in lines if r["form"] == "все формы"] or lines

    participants = {"наставляемые": live_mentees, "наставники": live_mentors}
    breakdowns = {}
    form_of = load_catalogue().column("pairs.form").canonical  # curators' spellings of a form (§2.0)
    for n, form in enumerate(FORMS, start=1):
        breakdowns[f"I06f{n}"] = len({p["pair_group_id"] for p in live if form_of(p["form"]) == form})
        breakdowns[f"I22f{n}"] = pct(1 if any(form_of(p["form"]) == form for p in live) else 0, 1)
        for r, (role, key) in enumerate(
            (("наставляемые", "mentee_id"), ("наставники", "mentor_id")), start=1
        ):
            lines = [x for x in survey if x["respondent_role"] == role and x["form"] == form]
            breakdowns[f"I15m{r}f{n}"] = mean(lines, "mean_score")
            breakdowns[f"I15s{r}f{n}"] = mean(lines, "share_satisfied_pct")
            in_form = {p[key] for p in live if form_of(p["form"]) == form}
            breakdowns[f"I15r{r}f{n}"] = pct(sum(x["n_respondents"] for x in lines), len(in_form))
    for n, unit in enumerate(["пара", "группа"], start=1):
        breakdowns[f"I06u{n}"] = len({p["pair_group_id"] for p in live if p["unit_type"] == unit})
    for letter, column, options in (
        ("t", "event_type", EVENT_TYPES),
        ("l", "level", EVENT_LEVELS),
        ("r", "school_role", SCHOOL_ROLES),
    ):
        for n, value in enumerate(options, start=1):
            breakdowns[f"I13{letter}{n}"] = sum(1 for e in events if e[column] == value)
    for n, level in enumerate(BANK_LEVELS, start=1):
        breakdowns[f"I17b{n}"] = sum(1 for b in in_bank if b["bank_level"] == level)
    for letter, column, options in (("a", "award_type", AWARD_TYPES), ("s", "stage", AWARD_STAGES)):
        for n, value in enumerate(options, start=1):
            breakdowns[f"I18{letter}{n}"] = len({a["mentor_id"] for a in awards if a[column] == value})
    for r, role in enumerate(participants, start=1):
        breakdowns[f"I15m{r}"] = mean(of_role(role), "mean_score")
        breakdowns[f"I15s{r}"] = mean(of_role(role), "share_satisfied_pct")
        breakdowns[f"I15r{r}"] = pct(sum(x["n_respondents"] for x in of_role(role)), len(participants[role]))
    readiness = {
        "a": prof["curator_appointed"] == "да",
        "b": bool(prof.get("regulation_ref")),
        "c": bool(prof.get("roadmap_ref")),
        "d": prof.get("roadmap_agreed") == "да",
        "e": prof.get("upbringing_block") == "да",
        "f": bool(prof.get("site_section_url")),
        "g": prof.get("stimulation_act") == "да",
    }
    for letter, has in readiness.items():
        breakdowns[f"I11{letter}"] = breakdowns[f"I11{letter}R"] = pct(1 if has else 0, 1)
    return breakdowns | {
        "I01a": pct(
            len(
                {
                    m["mentee_id"]
                    for m in mentees
                    if m["mentee_category"] == "обучающийся"
                    and 5 <= (m.get("grade") or 0) <= 11
                    and m["mentee_id"] in live_mentees
                }
            ),
            prof.get("students_grade_5_11"),
        ),
        "I01": pct(
            len(
                {
                    m["mentee_id"]
                    for m in mentees
                    if m["mentee_category"] == "обучающийся"
                    and m.get("age_group") in ("10–14 лет", "15–18 лет")
                    and m["mentee_id"] in live_mentees
                }
            ),
            prof.get("students_age_10_18"),
        ),
        "I02": pct(
            len(
                {
                    m["mentor_id"]
                    for m in mentors
                    if m["mentor_category"] == "обучающийся ОО"
                    and m.get("age_group") == "15–18 лет"
                    and m["mentor_id"] in live_mentors
                }
            ),
            prof.get("students_age_15_18"),
        ),
        "I03": pct(
            len(
                {
                    m["mentee_id"]
                    for m in mentees
                    if m["mentee_category"] == "молодой специалист (стаж 0–3 года)"
                    and m["mentee_id"] in live_mentees
                }
            ),
            prof["young_specialists_0_3"],
        ),
        "I04": pct(
            len(
                {
                    m["mentee_id"]
                    for m in mentees
                    if m.get("under_35") == "да" and m["mentee_id"] in live_mentees
                }
            ),
            prof["teachers_under_35"],
        ),
        "I05": pct(
            len(
                {
                    m["mentor_id"]
                    for m in mentors
                    if m["mentor_category"] in staff and m["mentor_id"] in live_mentors
                }
            ),
            prof["ped_staff_total"],
        ),
        "I06": len({p["pair_group_id"] for p in live}),
        "I07": len({g["programme_id"] for g in progs if in_period(g)}),
        "I08": len(
            {
                g["programme_id"]
                for g in progs
                if in_period(g) and g["programme_kind"].startswith("персонализированная")
            }
        ),
        "I09": len(
            {p["pair_group_id"] for p in live if p["form"] == "руководитель-наставник – молодой руководитель"}
        ),
        "I10": len({g["programme_id"] for g in progs if g.get("network_project") == "да"}),
        "I12": pct(sum(1 for r in due if str(r.get("status", "")).startswith("выполнено")), len(due)),
        "I12t": pct(sum(1 for r in due if r.get("status") == "выполнено"), len(due)),
        "I13": len(events),
        "I13m": sum(e["n_mentors"] for e in events),
        "I13n": sum(e["n_mentees"] for e in events),
        "I14n": sum(1 for t in data["training"] if t["status"] == "завершено"),  # rows (§3), IDs or not
        "I16x": pct(
            len({p["pair_group_id"] for p in live if p["status"] == "прекращена досрочно"}), len(live_ids)
        ),
        "I17": len(in_bank),
        "I17e": sum(1 for b in practices if b["practice_id"] in shown_at),
        "I19p": len({x["partner_name"] for x in partners}),
        "I19n": sum(x["n_mentors_provided"] for x in partners),
        "I20": None if not live_mentors else round(len(live) / len(live_mentors), 1),
        "I20max": max(per_mentor, default=0),
        "I23a": pct(1 if versions[-1][1] else 0, 1),
        "I23b": pct(sum(1 for errors, _ in versions if errors == 0), len(versions)),
        "I23c": pct(
            1
            if all(
                r.get("status") and (not r["status"].startswith("выполнено") or r.get("evidence_ref"))
                for r in school_items
            )
            else 0,
            1,
        ),
        "I13legal": sum(1 for e in events if e.get("topic_legal") == "да"),
        "I13seminar": sum(
            1 for e in events if e["event_type"] in ("семинар", "вебинар", "совещание", "круглый стол")
        ),
        "I13edu": sum(1 for e in events if e["event_type"] == "образовательное событие для обучающихся"),
        "I14": pct(
            len(
                {
                    m["mentor_id"]
                    for m in mentors
                    if m["trained_mentoring"] != "нет" and m["mentor_id"] in live_mentors
                }
            ),
            len(live_mentors & {m["mentor_id"] for m in mentors}),
        ),
        "I16": pct(
            len(
                {
                    p["pair_group_id"]
                    for p in finished
                    if p.get("result") in ("цели достигнуты", "цели достигнуты частично")
                }
            ),
            len({p["pair_group_id"] for p in finished}),
        ),
        "I18": len({a["mentor_id"] for a in data["awards"]}),
        "I19": sum(
            1
            for m in mentors
            if m["mentor_category"]
            in (
                "студент (вуз/ПОО)",
                "представитель предприятия (работодателя)",
                "представитель организации культуры/спорта/НКО",
            )
        ),
        "I21": pct(
            len(
                {
                    m["mentee_id"]
                    for m in mentees
                    if m["mentee_category"].startswith("молодой руководитель")
                    and m["mentee_id"] in live_mentees
                }
            ),
            prof.get("young_managers_0_2"),
        ),
    }


@pytest.fixture(scope="module")
def roadmap_template(template):
    import openpyxl

    from contracts.catalogue import load_catalogue
    from pipeline.xlsx.school_layout import CODE_ROW

    ws = openpyxl.load_workbook(template)[load_catalogue().sheet("roadmap_status").title]
    codes = [ws.cell(CODE_ROW, c).value for c in range(1, ws.max_column + 1)]
    return [
        dict(zip(codes, [ws.cell(r, c).value for c in range(1, ws.max_column + 1)], strict=True))
        for r in range(3, ws.max_row + 1)
        if ws.cell(r, 1).value
    ]


def vary(data: dict, events, extra: int) -> None:
    """Kinds, levels and roles of events, a second award, partners' mentors, listeners without an ID, mentors' and
    «все формы» survey lines, and roadmap items done late: all valid, so the return is still accepted."""
    import random

    rng = random.Random(extra)
    for e, (kind, level, role, n_mentees, names_practice) in zip(data["events"], events, strict=False):
        e.update(event_type=kind, level=level, school_role=role, n_mentees=n_mentees)
        if kind.startswith("конкурс"):
            e["result"] = rng.choice(["участие", "призёр", "победитель"])
        if names_practice:
            e["practice_id"] = data["best_practices"][0]["practice_id"]
    data["best_practices"][0]["bank_level"] = rng.choice(BANK_LEVELS)
    if len(data["mentors"]) > 1:
        data["awards"].append(
            {
                "mentor_id": data["mentors"][1]["mentor_id"],
                "award_type": rng.choice(AWARD_TYPES),
                "stage": rng.choice(AWARD_STAGES),
                "order_ref": "Приказ № 12 от 20.12.2025",
            }
        )
    data["partners"][0]["n_mentors_provided"] = rng.randint(0, 3)
    if data["training"]:  # listeners without a mentor ID: a curator and a head
        course = {k: v for k, v in data["training"][0].items() if k not in ("person_role", "person_ref")}
        data["training"] += [
            {**course, "person_role": role, "person_name": "Слушателева Анна Ивановна"}
            for role in rng.sample(["куратор", "руководитель ОО"], rng.randint(0, 2))
        ]
    teacher_pairs = [p for p in data["pairs"] if p["form"] == "педагог – педагог"]
    mentors_there = len({p["mentor_id"] for p in teacher_pairs})
    if mentors_there:
        data["survey_summary"].append(
            {
                "respondent_role": "наставники",
                "form": "педагог – педагог",
                "survey_stage": "итоговое (завершение)",
                "instrument": "анкета по МР Минпросвещения",
                "n_respondents": rng.randint(1, mentors_there),
                "mean_score": round(rng.uniform(5, 10), 1),
                "share_satisfied_pct": rng.randint(40, 100),
            }
        )
    if rng.random() < 0.5:
        data["survey_summary"].append(
            {
                "respondent_role": "наставляемые",
                "form": "все формы",
                "survey_stage": "итоговое (завершение)",
                "instrument": "анкета по МР Минпросвещения",
                "n_respondents": len({p["mentee_id"] for p in data["pairs"]}),
                "mean_score": round(rng.uniform(5, 10), 1),
                "share_satisfied_pct": rng.randint(40, 100),
            }
        )
    for row in data["roadmap_status"]:
        if row.get("status") == "выполнено" and rng.random() < 0.3:
            row["status"] = "выполнено с нарушением срока"


# no shrinking: a failing example is reported as found (shrinking a workbook takes minutes, not seconds)
@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    seed=st.integers(0, 10**6),
    size=st.sampled_from(["small", "medium"]),
    fates=st.lists(FATES, min_size=40, max_size=40),
    ends=st.lists(st.integers(0, 91), min_size=40, max_size=40),
    events=EVENTS,
    versions=VERSIONS,
    extra=st.integers(0, 10**6),
)
def test_indicators_equal_a_plain_recomputation(
    template, roadmap_template, ws, tmp_path, seed, size, fates, ends, events, versions, extra
):
    data = school_data(template, seed, size, date(2025, 12, 20))
    for p, fate, shift in zip(data["pairs"], fates, ends, strict=False):
        if fate == "действует":
            continue
        p["status"] = fate
        p["actual_end_date"] = min(
            max(p["start_date"] + timedelta(days=1), PERIOD_START + timedelta(days=shift)), PERIOD_END
        )
        if fate == "завершена":
            p["result"] = "цели достигнуты" if shift % 2 else "цели не достигнуты"
        else:
            p["termination_reason"] = "по инициативе наставляемого"
    vary(data, events, extra)
    path = fill(template, tmp_path / f"r{seed}.xlsx", data)
    result = check_return(path, ws, datetime(2025, 12, 21, 10))
    assert result.verdict != "rejected", [
        (i.rule, i.where, i.message) for i in result.issues if i.severity == "error"
    ]
    frames, letters = stacked_facts(result.book, "ARH-001", versions)
    figures, _ = return_figures(
        pd.DataFrame({"sha256": ["sha"], "school_id": ["ARH-001"]}),
        Scope(frames, PERIOD_START, PERIOD_END),
        letters,
    )
    expected = plain({**data, "_roadmap": roadmap_template, "_versions": versions})
    assert set(figures["indicator"]) == set(BY_CODE) == set(expected)
    for code, numerator, denominator in zip(
        figures["indicator"], figures["numerator"], figures["denominator"], strict=True
    ):
        figure = BY_CODE[code].figure(Level.SCHOOL, "ARH-001", "2025-Q4", numerator, denominator)
        assert figure.value == expected[code], code


def test_a_municipal_total_counts_a_shared_network_programme_once():
    """I07 and I10 in a municipality's total (named identities in catalogue.yaml): two ОО running the same network
    programme, spelt differently, count once; a network project is its network partner."""
    from pipeline.domain.indicators import shared_numerators

    def programme(sha, pid, title, partner, network="да"):
        return {
            "sha256": sha,
            "school_id": sha.upper(),
            "src_row": 3,
            "programme_id": pid,
            "title": title,
            "network_partner": partner,
            "network_project": network,
            "status": "реализуется",
            "start_date": date(2025, 9, 1),
            "end_date": date(2026, 5, 31),
        }

    frames = {
        "programmes": pd.DataFrame(
            [
                programme("a", "PG-001", "Программа «Учитель — ученик»", "Сетевое объединение школ"),
                programme("b", "PG-007", 'программа "учитель - ученик"', "сетевое объединение  школ"),
                programme("b", "PG-008", "Молодой педагог", "Ассоциация молодых педагогов"),
                programme("c", "PG-001", "Своя программа", None, network="нет"),
            ]
        )
    }
    totals = shared_numerators(Scope(frames, PERIOD_START, PERIOD_END))
    assert totals == {"I07": 3.0, "I10": 2.0}

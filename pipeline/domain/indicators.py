"""Indicators I01–I23 and their breakdowns (domain.md §3): per return (ОО), with the exact cells each numerator
and denominator came from, and summed upwards. `docs/indicators.md` describes each one for people.

An indicator is data: the sheet and key it counts distinct values of (or the columns it sums), the row filter,
and its denominator (a profile cell, rows of a sheet, or one per ОО). All returns of a run are evaluated together: each filter is one
vectorised mask over the stacked facts of every return, and counts come from one group-by. A return's figures and
source cells depend only on the return and the period, so they are computed once per return and reused by every
later run (`pipeline.publish.compute`). Shares travel upwards as numerator and denominator and are aggregated as
Σnumerator / Σdenominator, never as an average of percentages. A zero numerator records the cells that were
examined, so «nothing» has lineage too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from itertools import repeat

import numpy as np
import pandas as pd

from contracts.catalogue import load_catalogue, normal_key
from pipeline.domain.figures import Figure, Unit, active_mask
from pipeline.domain.vocabulary import Level

F = pd.DataFrame
Filter = Callable[[F, "Scope"], pd.Series]
_catalogue = load_catalogue()
status, group = _catalogue.status, _catalogue.group
MANAGER_FORM = "руководитель-наставник – молодой руководитель"
INTAKE = "_intake"  # the intake journal seen as a sheet: one row per received version of the ОО's return
SHEET_TITLES = {**{sh.code: sh.title for sh in _catalogue.sheets}, INTAKE: "Журнал приёма"}
ALL_FORMS = status("all_forms")  # a survey row that totals every form of its role
PEOPLE_KEYS = {_catalogue.keys["mentors"], _catalogue.keys["mentees"], "person_ref"}
PEOPLE_SUMS = {("n_mentors_provided",)}  # columns that are themselves numbers of people


@dataclass
class Scope:
    """The facts of many returns, stacked per sheet (columns sha256, school_id, src_row and the sheet's own), and
    the period they report on."""

    frames: dict[str, F]
    period_start: date
    period_end: date

    @cached_property
    def active_pairs(self) -> F:
        p = self.frames["pairs"]
        if p.empty:
            return p
        return p[active_mask(p["start_date"], p["actual_end_date"], self.period_start, self.period_end)]


def _per_return(frame: F, column: str) -> pd.Series:
    """A column's values qualified by their return, so that IDs of different schools never match."""
    return frame["sha256"] + "\x1f" + frame[column].astype(str)


def _in_active(column: str) -> Filter:
    return lambda f, s: _per_return(f, column).isin(_per_return(s.active_pairs, column))


def _eq(column: str, *values) -> Filter:
    return lambda f, s: f[column].isin(values)


def _all(*filters: Filter) -> Filter:
    def combined(f: F, s: Scope) -> pd.Series:
        mask = np.ones(len(f), dtype=bool)
        for flt in filters:
            mask &= _mask(flt, f, s).to_numpy()
        return pd.Series(mask, index=f.index)

    return combined


def _filled(column: str) -> Filter:
    return lambda f, s: f[column].notna() & f[column].astype(str).str.strip().ne("")


def _not(flt: Filter) -> Filter:
    return lambda f, s: ~_mask(flt, f, s)


def _every_row(flt: Filter) -> Filter:
    """Rows of the returns in which every row passes `flt` (so a per-ОО indicator counts those ОО)."""

    def every(f: F, s: Scope) -> pd.Series:
        return _mask(flt, f, s).groupby(f["sha256"]).transform("all")

    return every


def _referenced_by(sheet: str, column: str, where: Filter) -> Filter:
    """Rows whose key is named in `column` of the rows of `sheet` passing `where` (same return)."""

    def referenced(f: F, s: Scope) -> pd.Series:
        other = s.frames[sheet]
        named = other[_mask(where, other, s)]
        return _per_return(f, column).isin(_per_return(named, column))

    return referenced


def _survey_rows(f: F, s: Scope) -> pd.Series:
    """The survey rows a role's figures use: its «все формы» rows where the ОО gave them, else its rows by form,
    so that no respondent is counted twice (a named choice, docs/indicators.md)."""
    totals = f["form"].eq(ALL_FORMS)
    has_totals = totals.groupby([f["sha256"], f["respondent_role"]]).transform("any")
    return totals | ~has_totals


def _programme_in_period(f: F, s: Scope) -> pd.Series:
    start, end = pd.to_datetime(f["start_date"]), pd.to_datetime(f["end_date"])
    return (
        f["status"].isin([status("programme_running"), status("programme_finished")])
        & start.le(pd.Timestamp(s.period_end))
        & end.ge(pd.Timestamp(s.period_start))
    )


def _not_municipal(f: F, s: Scope) -> pd.Series:
    return f["responsible_level"].ne(status("roadmap_municipal"))


def _active_pair(f: F, s: Scope) -> pd.Series:
    return pd.Series(f.index.isin(s.active_pairs.index), index=f.index)


@dataclass(frozen=True)
class Rows:
    """A denominator counted from rows: distinct `key` values (default: the indicator's) of the rows of `sheet`
    (default: the indicator's) passing `where`, or the sum of the product of `sums` columns over them."""

    where: Filter
    sheet: str | None = None
    key: str | None = None
    sums: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shared:
    """Rows (of those an indicator counts) passing `where` that are one thing across the ОО of a municipality
    when their `identity` (a catalogue identity) agrees: the municipal total counts each such thing once."""

    where: Filter
    identity: str


@dataclass(frozen=True)
class Indicator:
    code: str
    title: str
    words: str
    sheet: str
    key: str
    where: Filter
    profile_denominator: str | None = None  # school_profile column
    denominator: Rows | None = None  # rows of a sheet
    per_school: bool = False  # share of ОО: 1 per ОО with a matching row, over 1 per ОО
    sums: tuple[str, ...] = ()  # the numerator sums the product of these columns over the rows
    counts_rows: bool = False  # the numerator counts rows, not distinct keys
    largest: str | None = None  # the numerator is the most rows sharing a value of this column
    mean: bool = False  # the value is numerator per denominator, not a percentage
    registry: bool = False  # a municipal share over the ОО of the registry; no ОО figures
    breakdown: str = ""  # the breakdown it belongs to (shown apart), or "" for a headline
    respondents: str = ""  # "numerator" or "denominator": the part that counts survey
    # respondents (§4: hidden under 5, `pipeline.domain.suppression`)
    part_of: str = ""  # the headline its breakdown adds up to where the bases agree
    shared: Shared | None = None  # rows counted once per municipality, not once per ОО
    per_file: bool = False  # a municipal share over every file received for the period
    revision: int = 1  # bumped when its counting changes (stored contributions recomputed)

    @cached_property  # read for every figure
    def unit(self) -> Unit:
        if not (self.profile_denominator or self.denominator or self.per_school):
            return Unit.COUNT
        return Unit.MEAN if self.mean else Unit.PERCENT

    @property
    def is_share(self) -> bool:
        return self.unit is not Unit.COUNT

    @property
    def counts_people(self) -> bool:
        """Whether the numerator is a number of people (mentors, mentees, listeners, mentors provided by
        partners), which §4 hides above the municipality when small."""
        if self.largest or self.unit is Unit.MEAN:
            return False
        return self.sums in PEOPLE_SUMS or (self.key in PEOPLE_KEYS and not self.sums)

    @property
    def school_level(self) -> bool:
        """Whether it has a figure per ОО (else the municipality's only)."""
        return not (self.registry or self.per_file)

    def figure(
        self,
        level: Level,
        entity: str,
        period: str,
        numerator: float,
        denominator: float | None,
        hidden: str | None = None,
    ) -> Figure:
        return Figure(
            self.code, level, entity, period, numerator, denominator, self.unit, bool(self.largest), hidden
        )


def _values(column: str) -> list[str]:
    return [v for v in _catalogue.column(column).values if v != ALL_FORMS]


def _breakdown(
    code: str,
    letter: str,
    label: str,
    column: str,
    title: str,
    words: str,
    sheet: str,
    key: str,
    where: Filter,
    denominator_sums: tuple[str, ...] = (),
    **more,
) -> list[Indicator]:
    """One indicator per list value of `column`: codes <code><letter>1, 2, … in the list's order. With
    `denominator_sums`, each is a mean over the same rows: Σ(product of `more["sums"]`) / Σ(denominator_sums)."""
    name = _catalogue.column(column).label
    cuts = [
        (n, value, _all(where, _eq(column.split(".")[1], value)))
        for n, value in enumerate(_values(column), start=1)
    ]
    return [
        Indicator(
            f"{code}{letter}{n}",
            f"{title}: {value}",
            f"{words}, «{name}» = «{value}»",
            sheet,
            key,
            flt,
            breakdown=label,
            denominator=Rows(flt, sums=denominator_sums) if denominator_sums else None,
            **more,
        )
        for n, value, flt in cuts
    ]


_in_pairs = {"наставляемые": "mentee_id", "наставники": "mentor_id"}  # survey role -> who takes part in pairs
_school_level = {"ОО"}
_done_in_time = "выполнено"
_levels_from_municipal = [v for v in _values("events.level") if v not in _school_level]
_readiness = [  # I11: (letter, profile column, filter, what the ОО has)
    ("a", "curator_appointed", _eq("curator_appointed", "да"), "назначен куратор"),
    ("b", "regulation_ref", _filled("regulation_ref"), "утверждено Положение о наставничестве"),
    ("c", "roadmap_ref", _filled("roadmap_ref"), "утверждена дорожная карта"),
    ("d", "roadmap_agreed", _eq("roadmap_agreed", "да"), "дорожная карта согласована с МО"),
    ("e", "upbringing_block", _eq("upbringing_block", "да"), "блок о наставничестве в программе воспитания"),
    ("f", "site_section_url", _filled("site_section_url"), "раздел «Наставничество» на сайте"),
    ("g", "stimulation_act", _eq("stimulation_act", "да"), "ЛНА о стимулировании наставников"),
]

_ROLES = ((1, "наставляемые"), (2, "наставники"))


_SURVEY_KINDS = [  # letter, what it sums, headline title, title by form, breakdown label, formula in words
    ("m", ("mean_score", "n_respondents"), "Удовлетворённость ({role}), средний балл", "Средний балл",
     "Удовлетворённость", "Σ(средний балл × число ответивших) / Σ число ответивших, {role}"),
    ("s", ("share_satisfied_pct", "n_respondents"), "Доля удовлетворённых ({role}), %", "Доля удовлетворённых, %",
     "Доля удовлетворённых", "Σ(доля удовлетворённых × число ответивших) / Σ число ответивших, {role}"),
    ("r", ("n_respondents",), "Отклик на анкету ({role}), %", "Отклик, %",
     "Отклик на анкету", "Σ число ответивших / участники действующих пар, {role}"),
]  # fmt: skip


def _survey(n: int, role: str) -> list[Indicator]:
    """I15 of one survey role: the mean score, the share satisfied and the response rate, each for the role and by
    form (§3 «по ролям и формам»); every one hidden under MIN_RESPONDENTS respondents."""
    of_role, name = _eq("respondent_role", role), _catalogue.column("pairs.form").label

    def survey(
        kind: str, sums: tuple, code: str, title: str, words: str, rows: Filter, in_pairs: Filter, **more
    ):
        """A mean (m, s) over the respondents of `rows`, or the response rate (r) over the role's people of the
        working pairs `in_pairs`."""
        rate = kind == "r"
        base = (
            Rows(in_pairs, sheet="pairs", key=_in_pairs[role])
            if rate
            else Rows(rows, sums=("n_respondents",))
        )
        return Indicator(
            code,
            title,
            words,
            "survey_summary",
            "n_respondents",
            rows,
            sums=sums,
            denominator=base,
            mean=not rate,
            respondents="numerator" if rate else "denominator",
            **more,
        )

    figures = []
    for kind, sums, headline, title, label, words in _SURVEY_KINDS:
        words = words.format(role=role)
        figures.append(
            survey(
                kind,
                sums,
                f"I15{kind}{n}",
                headline.format(role=role),
                words,
                _all(of_role, _survey_rows),
                _active_pair,
            )
        )
        figures += [
            survey(
                kind,
                sums,
                f"I15{kind}{n}f{f}",
                f"{title} ({role}): {form}",
                f"{words}, «{name}» = «{form}»",
                _all(of_role, _eq("form", form)),
                _all(_active_pair, _eq("form", form)),
                part_of=f"I15{kind}{n}",
                breakdown=f"{label} ({role}) по формам",
            )
            for f, form in enumerate(_values("pairs.form"), start=1)
        ]
    return figures


INDICATORS: list[Indicator] = [
    Indicator(
        "I01",
        "Охват обучающихся 10–18 лет, %",
        "наставляемые-обучающиеся 10–18 лет в действующих парах / обучающиеся 10–18 лет (профиль)",
        "mentees",
        "mentee_id",
        _all(
            _eq("mentee_category", "обучающийся"),
            _eq("age_group", "10–14 лет", "15–18 лет"),
            _in_active("mentee_id"),
        ),
        profile_denominator="students_age_10_18",
    ),
    Indicator(
        "I01a",
        "Охват обучающихся 5–11 классов, %",
        "наставляемые-обучающиеся 5–11 классов в действующих парах / обучающиеся 5–11 классов (профиль)",
        "mentees",
        "mentee_id",
        _all(
            _eq("mentee_category", "обучающийся"),
            lambda f, s: pd.to_numeric(f["grade"], errors="coerce").between(5, 11),
            _in_active("mentee_id"),
        ),
        profile_denominator="students_grade_5_11",
    ),
    Indicator(
        "I02",
        "Обучающиеся 15–18 лет — наставники, %",
        "наставники-обучающиеся 15–18 лет в действующих парах / обучающиеся 15–18 лет",
        "mentors",
        "mentor_id",
        _all(
            _eq("mentor_category", "обучающийся ОО"), _eq("age_group", "15–18 лет"), _in_active("mentor_id")
        ),
        profile_denominator="students_age_15_18",
    ),
    Indicator(
        "I03",
        "Молодые специалисты в роли наставляемых, %",
        "наставляемые «молодой специалист» в действующих парах / педагоги со стажем 0–3 года",
        "mentees",
        "mentee_id",
        _all(_eq("mentee_category", "молодой специалист (стаж 0–3 года)"), _in_active("mentee_id")),
        profile_denominator="young_specialists_0_3",
    ),
    Indicator(
        "I04",
        "Педагоги до 35 лет, охваченные наставничеством, %",
        "наставляемые до 35 лет в действующих парах / педагоги до 35 лет",
        "mentees",
        "mentee_id",
        _all(_eq("under_35", "да"), _in_active("mentee_id")),
        profile_denominator="teachers_under_35",
    ),
    Indicator(
        "I05",
        "Педагоги-наставники от всех педработников, %",
        "наставники-педагоги и руководители в действующих парах / педагогические работники",
        "mentors",
        "mentor_id",
        _all(_eq("mentor_category", *group("staff_mentors")), _in_active("mentor_id")),
        profile_denominator="ped_staff_total",
    ),
    Indicator(
        "I06",
        "Действующие пары и группы",
        "число различных ID пар/групп, действующих в периоде",
        "pairs",
        "pair_group_id",
        _active_pair,
    ),
    *_breakdown(
        "I06",
        "f",
        "Пары и группы по формам",
        "pairs.form",
        "Пары и группы по форме",
        "действующие пары и группы",
        "pairs",
        "pair_group_id",
        _active_pair,
    ),
    *_breakdown(
        "I06",
        "u",
        "Пары и группы по виду",
        "pairs.unit_type",
        "Действующие, вид",
        "действующие пары и группы",
        "pairs",
        "pair_group_id",
        _active_pair,
    ),
    Indicator(
        "I07",
        "Программы наставничества в периоде",
        "программы со статусом «реализуется»/«завершена», пересекающиеся с периодом; "
        "в итоге МО сетевая программа нескольких ОО (то же название и сетевой партнёр) учтена один раз",
        "programmes",
        "programme_id",
        _programme_in_period,
        shared=Shared(_eq("network_project", "да"), "network_programme"),
    ),
    Indicator(
        "I08",
        "Персонализированные программы",
        "персонализированные программы, реализуемые в периоде",
        "programmes",
        "programme_id",
        _all(_programme_in_period, _eq("programme_kind", *group("personalised_programmes"))),
    ),
    Indicator(
        "I09",
        "Пары «руководитель – молодой руководитель»",
        "действующие пары формы «руководитель-наставник – молодой руководитель»",
        "pairs",
        "pair_group_id",
        _all(_eq("form", MANAGER_FORM), _active_pair),
    ),
    Indicator(
        "I10",
        "Сетевые проекты",
        "программы, реализуемые в сетевом проекте; в итоге МО — различные сетевые проекты (по сетевому партнёру)",
        "programmes",
        "programme_id",
        _eq("network_project", "да"),
        shared=Shared(_eq("network_project", "да"), "network_project"),
    ),
    *[
        Indicator(
            f"I11{letter}",
            f"ОО, где {what}, %",
            f"ОО, где {what} / ОО, сдавшие отчёт",
            "school_profile",
            column,
            flt,
            per_school=True,
        )
        for letter, column, flt, what in _readiness
    ],
    *[
        Indicator(
            f"I11{letter}R",
            f"ОО, где {what}, % от реестра",
            f"ОО, где {what} / ОО в реестре МО",
            "school_profile",
            column,
            flt,
            per_school=True,
            registry=True,
            breakdown="Готовность ОО от числа ОО в реестре",
        )
        for letter, column, flt, what in _readiness
    ],
    Indicator(
        "I12",
        "Исполнение дорожной карты ОО, %",
        "пункты ДК со статусом «выполнено…» / пункты уровня ОО со сроком в периоде",
        "roadmap_status",
        "activity_code",
        _all(_eq("status", *group("roadmap_done")), _eq("due_in_period", "да"), _not_municipal),
        denominator=Rows(_all(_eq("due_in_period", "да"), _not_municipal)),
    ),
    Indicator(
        "I12t",
        "Дорожная карта ОО выполнена в срок, %",
        "пункты ДК со статусом «выполнено» (без нарушения срока) / пункты уровня ОО со сроком в периоде",
        "roadmap_status",
        "activity_code",
        _all(_eq("status", _done_in_time), _eq("due_in_period", "да"), _not_municipal),
        denominator=Rows(_all(_eq("due_in_period", "да"), _not_municipal)),
    ),
    Indicator(
        "I13",
        "Мероприятия по наставничеству",
        "число мероприятий за период",
        "events",
        "event_id",
        lambda f, s: f["event_id"].notna(),
    ),
    Indicator(
        "I13legal",
        "Мероприятия правовой поддержки",
        "мероприятия с тематикой правовой поддержки",
        "events",
        "event_id",
        _eq("topic_legal", "да"),
    ),
    Indicator(
        "I13seminar",
        "Семинары, вебинары, совещания, круглые столы",
        "мероприятия этих типов",
        "events",
        "event_id",
        _eq("event_type", *group("seminars")),
    ),
    Indicator(
        "I13edu",
        "Образовательные события для обучающихся",
        "мероприятия типа «образовательное событие для обучающихся»",
        "events",
        "event_id",
        _eq("event_type", "образовательное событие для обучающихся"),
    ),
    Indicator(
        "I13m",
        "Участники мероприятий: наставники",
        "сумма числа наставников-участников по мероприятиям",
        "events",
        "event_id",
        lambda f, s: f["event_id"].notna(),
        sums=("n_mentors",),
    ),
    Indicator(
        "I13n",
        "Участники мероприятий: наставляемые",
        "сумма числа наставляемых-участников по мероприятиям",
        "events",
        "event_id",
        lambda f, s: f["event_id"].notna(),
        sums=("n_mentees",),
    ),
    *_breakdown(
        "I13",
        "t",
        "Мероприятия по типу",
        "events.event_type",
        "Мероприятия",
        "мероприятия за период",
        "events",
        "event_id",
        lambda f, s: f["event_id"].notna(),
    ),
    *_breakdown(
        "I13",
        "l",
        "Мероприятия по уровню",
        "events.level",
        "Мероприятия уровня",
        "мероприятия за период",
        "events",
        "event_id",
        lambda f, s: f["event_id"].notna(),
    ),
    *_breakdown(
        "I13",
        "r",
        "Мероприятия по роли ОО",
        "events.school_role",
        "Мероприятия, роль ОО",
        "мероприятия за период",
        "events",
        "event_id",
        lambda f, s: f["event_id"].notna(),
    ),
    Indicator(
        "I14",
        "Наставники, прошедшие обучение, %",
        "наставники в действующих парах с обучением / наставники в действующих парах",
        "mentors",
        "mentor_id",
        _all(lambda f, s: f["trained_mentoring"].ne("нет"), _in_active("mentor_id")),
        denominator=Rows(_in_active("mentor_id")),
    ),
    Indicator(
        "I14n",
        "Слушатели, завершившие обучение",
        "строки листа «Повышение квалификации» (человек × курс) со статусом «завершено»",
        "training",
        "person_ref",
        _eq("status", "завершено"),
        counts_rows=True,
        revision=2,
    ),
    *sorted(
        (ind for n, role in _ROLES for ind in _survey(n, role)),  # headlines, then breakdowns; kind by kind
        key=lambda i: (bool(i.breakdown), "msr".index(i.code[3]), i.code[4:]),
    ),
    Indicator(
        "I16",
        "Пары, завершённые с достижением целей, %",
        "завершённые пары с целями достигнутыми полностью или частично / завершённые пары",
        "pairs",
        "pair_group_id",
        _all(_eq("status", status("pair_finished")), _eq("result", *group("goals_reached"))),
        denominator=Rows(_eq("status", status("pair_finished"))),
    ),
    Indicator(
        "I16x",
        "Пары, прекращённые досрочно, %",
        "пары, прекращённые досрочно в периоде / пары, действующие в периоде",
        "pairs",
        "pair_group_id",
        _all(_eq("status", status("pair_terminated")), _active_pair),
        denominator=Rows(_active_pair),
    ),
    Indicator(
        "I17",
        "Практики в банках практик",
        "практики со статусом «включена в банк» или «отмечена наградой»",
        "best_practices",
        "practice_id",
        _eq("status", *group("practices_in_bank")),
    ),
    Indicator(
        "I17e",
        "Практики, представленные на мероприятиях от муниципального уровня",
        "практики, названные в мероприятиях муниципального уровня и выше",
        "best_practices",
        "practice_id",
        _referenced_by("events", "practice_id", _eq("level", *_levels_from_municipal)),
    ),
    *_breakdown(
        "I17",
        "b",
        "Практики по уровню банка",
        "best_practices.bank_level",
        "Практики в банке",
        "практики в банках",
        "best_practices",
        "practice_id",
        _eq("status", *group("practices_in_bank")),
    ),
    Indicator(
        "I18",
        "Поощрённые наставники",
        "число различных наставников на листе поощрений",
        "awards",
        "mentor_id",
        lambda f, s: f["mentor_id"].notna(),
    ),
    *_breakdown(
        "I18",
        "a",
        "Поощрения по виду",
        "awards.award_type",
        "Поощрённые наставники, вид",
        "различные поощрённые наставники",
        "awards",
        "mentor_id",
        lambda f, s: f["mentor_id"].notna(),
    ),
    *_breakdown(
        "I18",
        "s",
        "Поощрения по стадии",
        "awards.stage",
        "Поощрённые наставники",
        "различные поощрённые наставники",
        "awards",
        "mentor_id",
        lambda f, s: f["mentor_id"].notna(),
    ),
    Indicator(
        "I19",
        "Внешние наставники",
        "наставники-студенты, представители предприятий и организаций",
        "mentors",
        "mentor_id",
        _eq("mentor_category", *group("external_mentors")),
    ),
    Indicator(
        "I19p",
        "Организации-партнёры",
        "строки листа партнёров",
        "partners",
        "partner_name",
        lambda f, s: f["partner_name"].notna(),
    ),
    Indicator(
        "I19n",
        "Наставники от партнёров",
        "сумма числа наставников, предоставленных партнёрами",
        "partners",
        "partner_name",
        lambda f, s: f["partner_name"].notna(),
        sums=("n_mentors_provided",),
    ),
    Indicator(
        "I20",
        "Средняя нагрузка на наставника",
        "связи «наставник – наставляемый» действующих пар / наставники в действующих парах",
        "pairs",
        "mentor_id",
        _active_pair,
        counts_rows=True,
        denominator=Rows(_active_pair),
        mean=True,
    ),
    Indicator(
        "I20max",
        "Наибольшая нагрузка на наставника",
        "наибольшее число связей действующих пар у одного наставника",
        "pairs",
        "mentor_id",
        _active_pair,
        largest="mentor_id",
    ),
    Indicator(
        "I21",
        "Охват молодых руководителей, %",
        "наставляемые «молодой руководитель» в действующих парах / руководители со стажем до 2 лет",
        "mentees",
        "mentee_id",
        _all(
            _eq("mentee_category", "молодой руководитель (стаж в должности до 2 лет)"),
            _in_active("mentee_id"),
        ),
        profile_denominator="young_managers_0_2",
    ),
    *_breakdown(
        "I22",
        "f",
        "Распространённость форм",
        "pairs.form",
        "ОО с действующей парой формы, %",
        "ОО с действующей парой / ОО, сдавшие отчёт",
        "pairs",
        "pair_group_id",
        _active_pair,
        per_school=True,
    ),
    Indicator(
        "I23a",
        "ОО, сдавшие отчёт в срок, % от реестра",
        "ОО, чей учтённый отчёт получен в срок / ОО в реестре МО",
        INTAKE,
        "version",
        _all(_eq("current", True), _eq("on_time", True)),
        per_school=True,
        registry=True,
    ),
    Indicator(
        "I23b",
        "Файлы без ошибок, %",
        "полученные файлы отчётов без ошибок / все файлы отчётов, полученные за период "
        "(по журналу приёма, в том числе от ОО без принятого отчёта)",
        INTAKE,
        "version",
        _eq("errors", 0),
        denominator=Rows(lambda f, s: f["version"].notna()),
        per_file=True,
        revision=2,
    ),
    Indicator(
        "I23c",
        "ОО с полностью заполненной дорожной картой, % от реестра",
        "ОО, где у каждого пункта уровня ОО есть статус, а у выполненных — реквизиты / ОО в реестре МО",
        "roadmap_status",
        "activity_code",
        _every_row(
            lambda f, s: (
                ~_not_municipal(f, s)
                | (
                    _filled("status")(f, s)
                    & (~f["status"].isin(group("roadmap_done")) | _filled("evidence_ref")(f, s))
                )
            )
        ),
        per_school=True,
        registry=True,
    ),
]
BY_CODE = {i.code: i for i in INDICATORS}
SHARED_SHEETS = sorted(
    {i.sheet for i in INDICATORS if i.shared}
)  # what a municipal total reads beyond the ОО figures
HEADLINES = [i for i in INDICATORS if not i.breakdown]  # a column each in the tables by ОО and by МО
BREAKDOWNS: dict[str, list[Indicator]] = {}  # the rest, a row each, under their breakdown's name
for _ind in INDICATORS:
    if _ind.breakdown:
        BREAKDOWNS.setdefault(_ind.breakdown, []).append(_ind)

EMPTY_SHEET = "(на листе нет строк)"
PART_RU = {"numerator": "числитель", "denominator": "знаменатель", "examined": "проверено, совпадений нет"}
SOURCE_COLUMNS = ["indicator", "sha256", "school_id", "part", "sheet", "cell", "value"]


def _mask(flt: Filter, frame: F, s: Scope) -> pd.Series:
    mask = flt(frame, s)
    if isinstance(mask, pd.Series) and mask.dtype == bool and mask.index is frame.index:
        return mask  # most filters: nothing to align or fill
    return pd.Series(mask, index=frame.index).fillna(False).astype(bool)


class Letters:
    """Each return's column letter of every (sheet, code), split once by (sheet, code) for the many lookups."""

    def __init__(self, letters: F):
        self._by_column: dict[tuple[str, str], dict[str, str]] = {}
        for sha, sheet, code, letter in zip(
            letters["sha256"], letters["sheet"], letters["code"], letters["letter"], strict=True
        ):
            self._by_column.setdefault((sheet, code), {}).setdefault(sha, letter)

    def of(self, sheet: str, code: str) -> dict[str, str]:
        return self._by_column.get((sheet, code), {})


def _cells(frame: F, sheet: str, code: str, letters: Letters) -> list[str]:
    """Excel address of `code` in each row, from each return's own column letters (on the intake journal: the
    version). Plain Python: a frame here is often a few rows, where each pandas call costs more than the work."""
    rows = frame["src_row"].to_numpy()
    if sheet == INTAKE:
        return [f"версия {int(row)}" for row in rows]
    column_of = letters.of(sheet, code)
    columns = map(column_of.get, frame["sha256"].to_numpy(), repeat("?"))
    return [f"{column}{row}" for column, row in zip(columns, rows.astype(np.int64).tolist(), strict=True)]


Sources = dict[str, object]  # SOURCE_COLUMNS -> a column's values (or one value for every row); joined once


def _sources(
    frame: F, ind: Indicator, part: str, code: str, letters: Letters, sheet: str | None = None
) -> Sources:
    sheet = sheet or ind.sheet
    return {
        "indicator": ind.code,
        "sha256": frame["sha256"].to_numpy(),
        "school_id": frame["school_id"].to_numpy(),
        "part": part,
        "sheet": sheet,
        "cell": _cells(frame, sheet, code, letters),
        "value": [str(v) for v in frame[code].to_numpy(dtype=object)],
    }


def _joined(chunks: list[Sources]) -> F:
    """One frame of SOURCE_COLUMNS from the chunks, built once rather than a frame per chunk."""
    chunks = [c for c in chunks if len(c["sha256"])]
    sizes = [len(c["sha256"]) for c in chunks]
    return pd.DataFrame(
        {
            column: np.concatenate(
                [
                    np.asarray(c[column], dtype=object)
                    if not isinstance(c[column], str)
                    else np.full(n, c[column], dtype=object)
                    for c, n in zip(chunks, sizes, strict=True)
                ]
            )
            if chunks
            else np.array([], dtype=object)
            for column in SOURCE_COLUMNS
        }
    )


def _count(
    rows: F, key: str, sums: tuple[str, ...] = (), counts_rows: bool = False, largest: str | None = None
) -> tuple[dict[str, float], F]:
    """(sha256 -> the count of distinct `key`s, the rows, the sum of the product of `sums`, or the most rows
    sharing a `largest` value; the rows counted). A return with no rows is absent. Counting is plain Python
    where it can be: over a few returns' rows, a pandas group-by costs more than the count."""
    if sums:
        product = pd.Series(1.0, index=rows.index)
        for column in sums:
            product *= pd.to_numeric(rows[column], errors="coerce").fillna(0.0)
        return product.groupby(rows["sha256"]).sum().to_dict(), rows
    if largest:
        return rows.groupby(["sha256", largest]).size().groupby(level=0).max().to_dict(), rows
    if counts_rows:
        return Counter(rows["sha256"].to_numpy()), rows
    keys = rows.drop_duplicates(["sha256", key])
    return Counter(keys["sha256"].to_numpy()), keys


def _counted_sources(
    rows: F, ind: Indicator, part: str, key: str, sums: tuple[str, ...], letters: Letters, sheet: str
) -> list[Sources]:
    return [_sources(rows, ind, part, column, letters, sheet) for column in (sums or (key,))]


def shared_numerators(scope: Scope) -> dict[str, float]:
    """indicator -> its numerator over all returns of `scope` (one municipality) with each shared thing counted
    once: rows outside `Shared.where` as per ОО, shared rows once per distinct normalised identity."""
    totals = {}
    for ind in INDICATORS:
        if ind.shared is None:
            continue
        frame = scope.frames[ind.sheet]
        counted = frame[_mask(ind.where, frame, scope)].drop_duplicates(["sha256", ind.key])
        shared = _mask(ind.shared.where, counted, scope)
        identity = (
            counted[list(_catalogue.identities[ind.shared.identity])].astype(object).fillna("").astype(str)
        )
        keys = (
            identity.apply(lambda row: "\x1f".join(normal_key(v) for v in row), axis=1)
            if len(identity)
            else identity
        )
        totals[ind.code] = float((~shared).sum() + (keys[shared].nunique() if shared.any() else 0))
    return totals


def return_figures(
    returns: F, scope: Scope, letters: F, indicators: list[Indicator] = INDICATORS
) -> tuple[F, F]:
    """Every indicator for each return in `returns` (columns sha256, school_id), with its source cells. A
    `per_file` indicator is evaluated the same way with each received file as its own return
    (`pipeline.publish.compute`).

    Returns (figures: indicator, sha256, school_id, numerator, denominator; sources: SOURCE_COLUMNS)."""
    sources, letters = [], Letters(letters)
    shas, schools = list(returns["sha256"]), list(returns["school_id"])
    with_rows = {sheet: set(frame["sha256"]) for sheet, frame in scope.frames.items()}
    empty = {  # sheet -> the positions in `returns` of those with no row on it
        sheet: [i for i, sha in enumerate(shas) if sha not in has] for sheet, has in with_rows.items()
    }
    figures: dict[str, list] = {
        c: [] for c in ("sha256", "school_id", "indicator", "numerator", "denominator")
    }
    for ind in indicators:
        frame = scope.frames[ind.sheet]
        counts, counted = _count(
            frame[_mask(ind.where, frame, scope)], ind.key, ind.sums, ind.counts_rows, ind.largest
        )
        numerators = [float(counts.get(sha, 0.0)) for sha in shas]
        denominators: list = [None] * len(shas)
        sources += _counted_sources(counted, ind, "numerator", ind.key, ind.sums, letters, ind.sheet)
        none = frame[~frame["sha256"].isin(counted["sha256"])]
        sources.append(_sources(none, ind, "examined", ind.key, letters))
        blank = empty[ind.sheet]
        if blank:  # an empty sheet: the sheet itself was examined and had no rows
            sources.append(
                {
                    "indicator": ind.code,
                    "sha256": [shas[i] for i in blank],
                    "school_id": [schools[i] for i in blank],
                    "part": "examined",
                    "sheet": ind.sheet,
                    "cell": "",
                    "value": EMPTY_SHEET,
                }
            )
        if ind.profile_denominator:
            profile = scope.frames["school_profile"].drop_duplicates("sha256")
            value = profile.set_index("sha256")[ind.profile_denominator].dropna().astype(float).to_dict()
            denominators = [value.get(sha) for sha in shas]
            shown = profile.assign(
                **{
                    ind.profile_denominator: profile[ind.profile_denominator]
                    .astype(object)
                    .where(profile[ind.profile_denominator].notna(), "")
                }
            )
            sources.append(
                _sources(shown, ind, "denominator", ind.profile_denominator, letters, "school_profile")
            )
        elif ind.denominator:
            d = ind.denominator
            sheet, key = d.sheet or ind.sheet, d.key or ind.key
            base_frame = scope.frames[sheet]
            totals, base = _count(base_frame[_mask(d.where, base_frame, scope)], key, d.sums)
            denominators = [float(totals.get(sha, 0.0)) for sha in shas]
            sources += _counted_sources(base, ind, "denominator", key, d.sums, letters, sheet)
        elif ind.per_school:
            numerators = [min(n, 1.0) for n in numerators]
            denominators = [1.0] * len(shas)
        figures["sha256"] += shas
        figures["school_id"] += schools
        figures["indicator"] += [ind.code] * len(shas)
        figures["numerator"] += numerators
        figures["denominator"] += denominators
    figures = pd.DataFrame(
        {
            **{c: pd.Series(v, dtype=object) for c, v in figures.items() if c != "numerator"},
            "numerator": pd.Series(figures["numerator"], dtype=float),
        }
    )[["sha256", "school_id", "indicator", "numerator", "denominator"]]
    sources = _joined(sources)
    return figures, sources[sources["sha256"].isin(returns["sha256"])]

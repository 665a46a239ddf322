"""Indicators I01–I21 (domain.md §3) per ОО, with the exact cells each numerator and denominator came from.

An indicator is data: the sheet and key it counts distinct values of, the row filter, and its denominator (a
profile cell, or a row filter on the same sheet). Shares travel upwards as numerator and denominator and are
aggregated as Σnumerator / Σdenominator, never as an average of percentages. A zero numerator records the cells
that were examined, so «nothing» has lineage too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

import pandas as pd

F = pd.DataFrame
Filter = Callable[[F, "SchoolFacts"], pd.Series]
STAFF = {"педагогический работник ОО", "руководитель/заместитель руководителя ОО"}
EXTERNAL = {"студент (вуз/ПОО)", "представитель предприятия (работодателя)", "представитель организации культуры/спорта/НКО"}
SEMINARS = {"семинар", "вебинар", "совещание", "круглый стол"}
MANAGER_FORM = "руководитель-наставник – молодой руководитель"


@dataclass
class SchoolFacts:
    """One current return: its frames (index = source row) and where each column sits."""

    school_id: str
    sha256: str
    frames: dict[str, F]
    letters: dict[tuple[str, str], str]
    period_start: date
    period_end: date

    def cell(self, sheet: str, code: str, row: int) -> str:
        return f"{self.letters.get((sheet, code), '?')}{row}"

    @cached_property
    def active_pairs(self) -> F:
        p = self.frames["pairs"]
        if p.empty:
            return p
        start, end = pd.Timestamp(self.period_start), pd.Timestamp(self.period_end)
        started = pd.to_datetime(p["start_date"]).le(end)
        ended = pd.to_datetime(p["actual_end_date"])
        return p[started & (ended.isna() | ended.ge(start))]


def _in_active(column: str) -> Filter:
    return lambda f, s: f[column].isin(s.active_pairs[column])


def _eq(column: str, *values) -> Filter:
    return lambda f, s: f[column].isin(values)


def _all(*filters: Filter) -> Filter:
    def combined(f: F, s: SchoolFacts) -> pd.Series:
        mask = pd.Series(True, index=f.index)
        for flt in filters:
            mask &= _mask(flt, f, s)
        return mask
    return combined


def _filled(column: str) -> Filter:
    return lambda f, s: f[column].notna() & f[column].astype(str).str.strip().ne("")


def _programme_in_period(f: F, s: SchoolFacts) -> pd.Series:
    start, end = pd.to_datetime(f["start_date"]), pd.to_datetime(f["end_date"])
    return f["status"].isin(["реализуется", "завершена"]) & start.le(pd.Timestamp(s.period_end)) & end.ge(pd.Timestamp(s.period_start))


@dataclass(frozen=True)
class Indicator:
    code: str
    title: str
    words: str
    sheet: str
    key: str
    where: Filter
    profile_denominator: str | None = None   # school_profile column
    row_denominator: Filter | None = None    # rows of the same sheet
    per_school: bool = False                 # share of ОО: denominator 1 per submitting ОО

    @property
    def is_share(self) -> bool:
        return bool(self.profile_denominator or self.row_denominator or self.per_school)


INDICATORS: list[Indicator] = [
    Indicator("I01", "Охват обучающихся 10–18 лет, %", "наставляемые-обучающиеся 10–18 лет в действующих парах / обучающиеся 10–18 лет (профиль)",
              "mentees", "mentee_id", _all(_eq("mentee_category", "обучающийся"), _eq("age_group", "10–14 лет", "15–18 лет"), _in_active("mentee_id")),
              profile_denominator="students_age_10_18"),
    Indicator("I02", "Обучающиеся 15–18 лет — наставники, %", "наставники-обучающиеся 15–18 лет в действующих парах / обучающиеся 15–18 лет",
              "mentors", "mentor_id", _all(_eq("mentor_category", "обучающийся ОО"), _eq("age_group", "15–18 лет"), _in_active("mentor_id")),
              profile_denominator="students_age_15_18"),
    Indicator("I03", "Молодые специалисты в роли наставляемых, %", "наставляемые «молодой специалист» в действующих парах / педагоги со стажем 0–3 года",
              "mentees", "mentee_id", _all(_eq("mentee_category", "молодой специалист (стаж 0–3 года)"), _in_active("mentee_id")),
              profile_denominator="young_specialists_0_3"),
    Indicator("I04", "Педагоги до 35 лет, охваченные наставничеством, %", "наставляемые до 35 лет в действующих парах / педагоги до 35 лет",
              "mentees", "mentee_id", _all(_eq("under_35", "да"), _in_active("mentee_id")), profile_denominator="teachers_under_35"),
    Indicator("I05", "Педагоги-наставники от всех педработников, %", "наставники-педагоги и руководители в действующих парах / педагогические работники",
              "mentors", "mentor_id", _all(_eq("mentor_category", *STAFF), _in_active("mentor_id")), profile_denominator="ped_staff_total"),
    Indicator("I06", "Действующие пары и группы", "число различных ID пар/групп, действующих в периоде",
              "pairs", "pair_group_id", lambda f, s: f.index.isin(s.active_pairs.index)),
    Indicator("I07", "Программы наставничества в периоде", "программы со статусом «реализуется»/«завершена», пересекающиеся с периодом",
              "programmes", "programme_id", _programme_in_period),
    Indicator("I08", "Персонализированные программы", "персонализированные программы, реализуемые в периоде",
              "programmes", "programme_id", _all(_programme_in_period, lambda f, s: f["programme_kind"].astype(str).str.startswith("персонализированная"))),
    Indicator("I09", "Пары «руководитель – молодой руководитель»", "действующие пары формы «руководитель-наставник – молодой руководитель»",
              "pairs", "pair_group_id", _all(_eq("form", MANAGER_FORM), lambda f, s: f.index.isin(s.active_pairs.index))),
    Indicator("I10", "Сетевые проекты", "программы, реализуемые в сетевом проекте", "programmes", "programme_id", _eq("network_project", "да")),
    Indicator("I11a", "ОО с назначенным куратором, %", "ОО, где назначен куратор / ОО, сдавшие отчёт",
              "school_profile", "curator_appointed", _eq("curator_appointed", "да"), per_school=True),
    Indicator("I11c", "ОО с утверждённой дорожной картой, %", "ОО с реквизитами дорожной карты / ОО, сдавшие отчёт",
              "school_profile", "roadmap_ref", _filled("roadmap_ref"), per_school=True),
    Indicator("I11f", "ОО с разделом на сайте, %", "ОО со ссылкой на раздел «Наставничество» / ОО, сдавшие отчёт",
              "school_profile", "site_section_url", _filled("site_section_url"), per_school=True),
    Indicator("I12", "Исполнение дорожной карты ОО, %", "пункты ДК со статусом «выполнено…» / пункты уровня ОО со сроком в периоде",
              "roadmap_status", "activity_code",
              _all(lambda f, s: f["status"].astype(str).str.startswith("выполнено"), _eq("due_in_period", "да"), lambda f, s: f["responsible_level"].ne("муниципалитет")),
              row_denominator=_all(_eq("due_in_period", "да"), lambda f, s: f["responsible_level"].ne("муниципалитет"))),
    Indicator("I13", "Мероприятия по наставничеству", "число мероприятий за период", "events", "event_id", lambda f, s: f["event_id"].notna()),
    Indicator("I13legal", "Мероприятия правовой поддержки", "мероприятия с тематикой правовой поддержки", "events", "event_id", _eq("topic_legal", "да")),
    Indicator("I13seminar", "Семинары, вебинары, совещания, круглые столы", "мероприятия этих типов", "events", "event_id", _eq("event_type", *SEMINARS)),
    Indicator("I13edu", "Образовательные события для обучающихся", "мероприятия типа «образовательное событие для обучающихся»",
              "events", "event_id", _eq("event_type", "образовательное событие для обучающихся")),
    Indicator("I14", "Наставники, прошедшие обучение, %", "наставники в действующих парах с обучением / наставники в действующих парах",
              "mentors", "mentor_id", _all(lambda f, s: f["trained_mentoring"].ne("нет"), _in_active("mentor_id")),
              row_denominator=_in_active("mentor_id")),
    Indicator("I16", "Пары, завершённые с достижением целей, %", "завершённые пары с целями достигнутыми полностью или частично / завершённые пары",
              "pairs", "pair_group_id", _all(_eq("status", "завершена"), _eq("result", "цели достигнуты", "цели достигнуты частично")),
              row_denominator=_eq("status", "завершена")),
    Indicator("I18", "Поощрённые наставники", "число различных наставников на листе поощрений", "awards", "mentor_id", lambda f, s: f["mentor_id"].notna()),
    Indicator("I19", "Внешние наставники", "наставники-студенты, представители предприятий и организаций", "mentors", "mentor_id", _eq("mentor_category", *EXTERNAL)),
    Indicator("I21", "Охват молодых руководителей, %", "наставляемые «молодой руководитель» в действующих парах / руководители со стажем до 2 лет",
              "mentees", "mentee_id", _all(_eq("mentee_category", "молодой руководитель (стаж в должности до 2 лет)"), _in_active("mentee_id")),
              profile_denominator="young_managers_0_2"),
]
BY_CODE = {i.code: i for i in INDICATORS}


PART_RU = {"numerator": "числитель", "denominator": "знаменатель", "examined": "проверено, совпадений нет"}


@dataclass
class Source:
    part: str        # numerator / denominator / examined
    sha256: str
    school_id: str
    sheet: str
    cell: str
    value: str


@dataclass
class Figure:
    indicator: str
    level: str       # school / municipality / region
    entity: str
    period: str
    numerator: float
    denominator: float | None
    sources: list[Source] = field(default_factory=list)

    @property
    def value(self) -> float | None:
        if not BY_CODE[self.indicator].is_share:
            return self.numerator
        if not self.denominator:
            return None
        return round(100 * self.numerator / self.denominator, 1)

    def figure_id(self, run_id: str) -> str:
        return f"{self.indicator}|{self.level}|{self.entity}|{self.period}|{run_id}"


def _mask(flt: Filter, frame: F, s: SchoolFacts) -> pd.Series:
    return pd.Series(flt(frame, s), index=frame.index).fillna(False).astype(bool)


def school_figure(ind: Indicator, s: SchoolFacts, period: str) -> Figure:
    frame = s.frames[ind.sheet]
    fig = Figure(ind.code, "school", s.school_id, period, 0, None)
    matched = frame[_mask(ind.where, frame, s)] if len(frame) else frame
    keys = matched.drop_duplicates(ind.key) if len(matched) else matched
    fig.numerator = float(len(keys))
    part = "numerator" if len(keys) else "examined"
    shown = keys if len(keys) else frame
    fig.sources += [Source(part, s.sha256, s.school_id, ind.sheet, s.cell(ind.sheet, ind.key, int(row)), str(rec[ind.key]))
                    for row, rec in shown.iterrows()]
    if not len(shown):  # an empty sheet: point at its code header to show there was nothing
        fig.sources.append(Source("examined", s.sha256, s.school_id, ind.sheet, s.cell(ind.sheet, ind.key, 2), "(лист пуст)"))
    if ind.profile_denominator:
        profile = s.frames["school_profile"]
        if len(profile):
            row = int(profile.index[0])
            value = profile.at[profile.index[0], ind.profile_denominator]
            fig.denominator = None if pd.isna(value) else float(value)
            fig.sources.append(Source("denominator", s.sha256, s.school_id, "school_profile",
                                      s.cell("school_profile", ind.profile_denominator, row), "" if pd.isna(value) else str(value)))
    elif ind.row_denominator:
        base = frame[_mask(ind.row_denominator, frame, s)] if len(frame) else frame
        base = base.drop_duplicates(ind.key) if len(base) else base
        fig.denominator = float(len(base))
        fig.sources += [Source("denominator", s.sha256, s.school_id, ind.sheet, s.cell(ind.sheet, ind.key, int(row)), str(rec[ind.key]))
                        for row, rec in base.iterrows()]
    elif ind.per_school:
        fig.numerator = min(fig.numerator, 1.0)
        fig.denominator = 1.0
    return fig


def aggregate(figures: list[Figure], indicator: str, level: str, entity: str, period: str) -> Figure:
    """Σnumerator / Σdenominator over lower-level figures; sources are the union of theirs."""
    parts = [f for f in figures if f.indicator == indicator]
    dens = [f.denominator for f in parts if f.denominator is not None]
    total = Figure(indicator, level, entity, period, sum(f.numerator for f in parts),
                   sum(dens) if BY_CODE[indicator].is_share else None)
    for f in parts:
        total.sources += f.sources
    return total


def school_facts(subs: F, facts: dict[str, F], letters: F, period_start: date, period_end: date) -> list[SchoolFacts]:
    letter_map: dict[str, dict] = {}
    for rec in letters.itertuples():
        letter_map.setdefault(rec.sha256, {})[(rec.sheet, rec.code)] = rec.letter
    grouped = {code: {sha: part.set_index("src_row") for sha, part in f.groupby("sha256", sort=False)}
               for code, f in facts.items()}
    empty = {code: f.iloc[0:0].set_index("src_row") for code, f in facts.items()}
    return [SchoolFacts(sub.school_id, sub.sha256, {code: grouped[code].get(sub.sha256, empty[code]) for code in facts},
                        letter_map.get(sub.sha256, {}), period_start, period_end)
            for sub in subs.itertuples()]


def run_id_for(municipality: str, period: str, shas: list[str], catalogue: str, reference: str) -> str:
    """Deterministic: the same inputs give the same run id, so a past summary can be re-issued byte for byte."""
    basis = "|".join([municipality, period, catalogue, reference, *sorted(shas)])
    return hashlib.sha256(basis.encode()).hexdigest()[:12]

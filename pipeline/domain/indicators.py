"""Indicators I01–I21 (domain.md §3): per return (ОО), with the exact cells each numerator and denominator came
from, and summed upwards.

An indicator is data: the sheet and key it counts distinct values of, the row filter, and its denominator (a
profile cell, or a row filter on the same sheet). All returns of a run are evaluated together: each filter is one
vectorised mask over the stacked facts of every return, and counts come from one group-by. A return's figures and
source cells depend only on the return and the period, so they are computed once per return and reused by every
later run (`pipeline.publish.compute`). Shares travel upwards as numerator and denominator and are aggregated as
Σnumerator / Σdenominator, never as an average of percentages. A zero numerator records the cells that were
examined, so «nothing» has lineage too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline.domain.figures import Figure, active_mask
from pipeline.domain.vocabulary import Level

F = pd.DataFrame
Filter = Callable[[F, "Scope"], pd.Series]
_catalogue = load_catalogue()
status, group = _catalogue.status, _catalogue.group
MANAGER_FORM = "руководитель-наставник – молодой руководитель"


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
        mask = pd.Series(True, index=f.index)
        for flt in filters:
            mask &= _mask(flt, f, s)
        return mask
    return combined


def _filled(column: str) -> Filter:
    return lambda f, s: f[column].notna() & f[column].astype(str).str.strip().ne("")


def _programme_in_period(f: F, s: Scope) -> pd.Series:
    start, end = pd.to_datetime(f["start_date"]), pd.to_datetime(f["end_date"])
    return (f["status"].isin([status("programme_running"), status("programme_finished")])
            & start.le(pd.Timestamp(s.period_end)) & end.ge(pd.Timestamp(s.period_start)))


def _not_municipal(f: F, s: Scope) -> pd.Series:
    return f["responsible_level"].ne(status("roadmap_municipal"))


def _active_pair(f: F, s: Scope) -> pd.Series:
    return pd.Series(f.index.isin(s.active_pairs.index), index=f.index)


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

    @property
    def counts_people(self) -> bool:
        """Whether the numerator is a number of people (mentors or mentees), which §4 suppresses when small."""
        return self.key in {_catalogue.keys["mentors"], _catalogue.keys["mentees"]}

    def figure(self, level: Level, entity: str, period: str, numerator: float, denominator: float | None) -> Figure:
        return Figure(self.code, level, entity, period, numerator, denominator, self.is_share)


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
              "mentors", "mentor_id", _all(_eq("mentor_category", *group("staff_mentors")), _in_active("mentor_id")), profile_denominator="ped_staff_total"),
    Indicator("I06", "Действующие пары и группы", "число различных ID пар/групп, действующих в периоде",
              "pairs", "pair_group_id", _active_pair),
    Indicator("I07", "Программы наставничества в периоде", "программы со статусом «реализуется»/«завершена», пересекающиеся с периодом",
              "programmes", "programme_id", _programme_in_period),
    Indicator("I08", "Персонализированные программы", "персонализированные программы, реализуемые в периоде",
              "programmes", "programme_id", _all(_programme_in_period, _eq("programme_kind", *group("personalised_programmes")))),
    Indicator("I09", "Пары «руководитель – молодой руководитель»", "действующие пары формы «руководитель-наставник – молодой руководитель»",
              "pairs", "pair_group_id", _all(_eq("form", MANAGER_FORM), _active_pair)),
    Indicator("I10", "Сетевые проекты", "программы, реализуемые в сетевом проекте", "programmes", "programme_id", _eq("network_project", "да")),
    Indicator("I11a", "ОО с назначенным куратором, %", "ОО, где назначен куратор / ОО, сдавшие отчёт",
              "school_profile", "curator_appointed", _eq("curator_appointed", "да"), per_school=True),
    Indicator("I11c", "ОО с утверждённой дорожной картой, %", "ОО с реквизитами дорожной карты / ОО, сдавшие отчёт",
              "school_profile", "roadmap_ref", _filled("roadmap_ref"), per_school=True),
    Indicator("I11f", "ОО с разделом на сайте, %", "ОО со ссылкой на раздел «Наставничество» / ОО, сдавшие отчёт",
              "school_profile", "site_section_url", _filled("site_section_url"), per_school=True),
    Indicator("I12", "Исполнение дорожной карты ОО, %", "пункты ДК со статусом «выполнено…» / пункты уровня ОО со сроком в периоде",
              "roadmap_status", "activity_code",
              _all(_eq("status", *group("roadmap_done")), _eq("due_in_period", "да"), _not_municipal),
              row_denominator=_all(_eq("due_in_period", "да"), _not_municipal)),
    Indicator("I13", "Мероприятия по наставничеству", "число мероприятий за период", "events", "event_id", lambda f, s: f["event_id"].notna()),
    Indicator("I13legal", "Мероприятия правовой поддержки", "мероприятия с тематикой правовой поддержки", "events", "event_id", _eq("topic_legal", "да")),
    Indicator("I13seminar", "Семинары, вебинары, совещания, круглые столы", "мероприятия этих типов", "events", "event_id", _eq("event_type", *group("seminars"))),
    Indicator("I13edu", "Образовательные события для обучающихся", "мероприятия типа «образовательное событие для обучающихся»",
              "events", "event_id", _eq("event_type", "образовательное событие для обучающихся")),
    Indicator("I14", "Наставники, прошедшие обучение, %", "наставники в действующих парах с обучением / наставники в действующих парах",
              "mentors", "mentor_id", _all(lambda f, s: f["trained_mentoring"].ne("нет"), _in_active("mentor_id")),
              row_denominator=_in_active("mentor_id")),
    Indicator("I16", "Пары, завершённые с достижением целей, %", "завершённые пары с целями достигнутыми полностью или частично / завершённые пары",
              "pairs", "pair_group_id", _all(_eq("status", status("pair_finished")), _eq("result", *group("goals_reached"))),
              row_denominator=_eq("status", status("pair_finished"))),
    Indicator("I18", "Поощрённые наставники", "число различных наставников на листе поощрений", "awards", "mentor_id", lambda f, s: f["mentor_id"].notna()),
    Indicator("I19", "Внешние наставники", "наставники-студенты, представители предприятий и организаций", "mentors", "mentor_id", _eq("mentor_category", *group("external_mentors"))),
    Indicator("I21", "Охват молодых руководителей, %", "наставляемые «молодой руководитель» в действующих парах / руководители со стажем до 2 лет",
              "mentees", "mentee_id", _all(_eq("mentee_category", "молодой руководитель (стаж в должности до 2 лет)"), _in_active("mentee_id")),
              profile_denominator="young_managers_0_2"),
]
BY_CODE = {i.code: i for i in INDICATORS}

EMPTY_SHEET = "(на листе нет строк)"
PART_RU = {"numerator": "числитель", "denominator": "знаменатель", "examined": "проверено, совпадений нет"}
SOURCE_COLUMNS = ["indicator", "sha256", "school_id", "part", "sheet", "cell", "value"]


def _mask(flt: Filter, frame: F, s: Scope) -> pd.Series:
    return pd.Series(flt(frame, s), index=frame.index).fillna(False).astype(bool)


def _cells(frame: F, sheet: str, code: str, letters: F) -> pd.Series:
    """Excel address of `code` in each row, from each return's own column letters."""
    where = letters[(letters["sheet"] == sheet) & (letters["code"] == code)].drop_duplicates("sha256").set_index("sha256")["letter"]
    return frame["sha256"].map(where).fillna("?") + frame["src_row"].astype(int).astype(str)


def _sources(frame: F, ind: Indicator, part: str, code: str, letters: F, sheet: str | None = None) -> F:
    sheet = sheet or ind.sheet
    return pd.DataFrame({"indicator": ind.code, "sha256": frame["sha256"], "school_id": frame["school_id"], "part": part,
                         "sheet": sheet, "cell": _cells(frame, sheet, code, letters),
                         "value": frame[code].astype(object).map(str)}, columns=SOURCE_COLUMNS)


def return_figures(returns: F, scope: Scope, letters: F) -> tuple[F, F]:
    """Every indicator for each return in `returns` (columns sha256, school_id), with its source cells.

    Returns (figures: indicator, sha256, school_id, numerator, denominator; sources: SOURCE_COLUMNS)."""
    figures, sources = [], []
    for ind in INDICATORS:
        frame = scope.frames[ind.sheet]
        keys = frame[_mask(ind.where, frame, scope)].drop_duplicates(["sha256", ind.key])
        counts = keys.groupby("sha256").size()
        fig = returns[["sha256", "school_id"]].assign(indicator=ind.code)
        fig["numerator"] = fig["sha256"].map(counts).fillna(0).astype(float)
        fig["denominator"] = None
        sources.append(_sources(keys, ind, "numerator", ind.key, letters))
        none = frame[~frame["sha256"].isin(counts.index)]
        sources.append(_sources(none, ind, "examined", ind.key, letters))
        blank = returns[~returns["sha256"].isin(frame["sha256"])]
        if len(blank):  # an empty sheet: the sheet itself was examined and had no rows
            sources.append(pd.DataFrame({"indicator": ind.code, "sha256": blank["sha256"], "school_id": blank["school_id"],
                                         "part": "examined", "sheet": ind.sheet, "cell": "", "value": EMPTY_SHEET}))
        if ind.profile_denominator:
            profile = scope.frames["school_profile"].drop_duplicates("sha256")
            value = profile.set_index("sha256")[ind.profile_denominator]
            fig["denominator"] = fig["sha256"].map(value.dropna().astype(float)).astype(object)
            shown = profile.assign(**{ind.profile_denominator: profile[ind.profile_denominator].astype(object)
                                      .where(profile[ind.profile_denominator].notna(), "")})
            sources.append(_sources(shown, ind, "denominator", ind.profile_denominator, letters, "school_profile"))
        elif ind.row_denominator:
            base = frame[_mask(ind.row_denominator, frame, scope)].drop_duplicates(["sha256", ind.key])
            fig["denominator"] = fig["sha256"].map(base.groupby("sha256").size()).fillna(0).astype(float)
            sources.append(_sources(base, ind, "denominator", ind.key, letters))
        elif ind.per_school:
            fig["numerator"] = fig["numerator"].clip(upper=1.0)
            fig["denominator"] = 1.0
        figures.append(fig)
    figures = pd.concat(figures, ignore_index=True)
    figures["denominator"] = figures["denominator"].astype(object).where(figures["denominator"].notna(), None)
    sources = pd.concat([s for s in sources if len(s)], ignore_index=True) if any(len(s) for s in sources) \
        else pd.DataFrame(columns=SOURCE_COLUMNS)
    return figures, sources[sources["sha256"].isin(returns["sha256"])]

"""Every check of a parsed return beyond typing: identity, conditional and row rules, the cross-sheet rules
X01–X15, plausibility against the previous accepted period, and the pandera contracts.

A return is small (tens to hundreds of rows), so its own rules run in plain Python over its records, in the
worker process that parsed it (`check_book`). The pandera contracts run once per sheet over a whole batch of
returns stacked together (`contract_issues`), so their fixed cost is paid per batch, not per file.
Each check yields `Issue`s built from catalogue rules, with the cell they point at. Nothing here reads files or
writes anywhere; `pipeline.intake` runs the checks and keeps the results.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import pandera.pandas as pa

from contracts.catalogue import load_catalogue
from contracts.schemas import sheet_schema, typed_frame
from pipeline.issues import Issue, issue
from pipeline.parsing import ParsedBook, show, stacked
from pipeline.reference import Municipality, Period, load_reference
from pipeline.workbook import TEMPLATE_VERSION, Identity

ACTIVE_FROM_TK = date(2025, 3, 1)
CHECK_RULES = {"not_nullable": "C01", "isin": "C06", "in_range": "C07", "str_length": "C10", "C06": "C06"}
OPS = {"<=": ("не больше", lambda a, b: a <= b), ">=": ("не меньше", lambda a, b: a >= b)}
STAFF = ("педагогический работник ОО", "руководитель/заместитель руководителя ОО")


@dataclass
class Checked:
    """A return's own issues, in the order a curator would fix them; contracts slot in per sheet."""

    head: list[Issue] = field(default_factory=list)                  # identity, typing, title, consent
    by_sheet: dict[str, list[Issue]] = field(default_factory=dict)   # conditional and same-row rules
    tail: list[Issue] = field(default_factory=list)                  # cross-sheet, timeliness, previous period

    def assemble(self, contracts: dict[str, list[Issue]] | None = None) -> list[Issue]:
        found = list(self.head)
        for sheet in load_catalogue().sheets:
            found += (contracts or {}).get(sheet.code, []) + self.by_sheet.get(sheet.code, [])
        return dedupe(found + self.tail)


class Context:
    """A parsed return with the reference facts its checks need."""

    def __init__(self, book: ParsedBook, municipality: Municipality, period: Period):
        self.book, self.m, self.period = book, municipality, period
        self.catalogue = load_catalogue()
        self.refused: set[str] = set()  # IDs of people whose rows were dropped for lack of consent

    def rows(self, code: str) -> list[dict]:
        s = self.book.sheets.get(code)
        return s.records if s is not None else []

    def at(self, rule: str, sheet: str, row: int, column: str, **params) -> Issue:
        return self.book.sheets[sheet].at(rule, row, column, **params)

    def meta(self, code: str):
        meta = self.rows("meta")
        return meta[0].get(code) if meta else None


def _distinct(values: Iterable) -> set:
    return {v for v in values if v is not None}


# --- identity -----------------------------------------------------------------------------------------------

def identify(identity: dict[str, str], signing_key: str) -> tuple[Municipality | None, Period | None, list[Issue]]:
    """Whose return this is, from the signed identity sheet, checked against registry and calendar."""
    if not identity:
        return None, None, [issue("M01", detail="служебный лист отсутствует")]
    try:
        ident = Identity(**{k: identity.get(k, "") for k in Identity.model_fields})
    except ValueError:
        return None, None, [issue("M01", detail="служебный лист повреждён")]
    if not ident.verify(signing_key):
        return None, None, [issue("M02", detail="подпись не совпадает")]
    problems = []
    if ident.template_version != TEMPLATE_VERSION:
        problems.append(issue("M03", value=ident.template_version, expected=TEMPLATE_VERSION))
    ref = load_reference()
    m = ref.municipalities.get(ident.municipality)
    if m is None or m.school(ident.school_id) is None:
        return None, None, [*problems, issue("M04", value=ident.school_id, municipality=ident.municipality)]
    try:
        period = m.period(ident.period)
    except KeyError:
        return m, None, [*problems, issue("M05", value=ident.period)]
    return m, period, problems


def check_title(ctx: Context, identity: dict) -> list[Issue]:
    """Visible title fields must match the signed identity; confirmation and submission date must be sane."""
    out = []
    school = ctx.m.school(identity["school_id"])
    expected = {"school_id": school.id, "report_period_code": ctx.period.code, "municipality_code": ctx.m.name}
    meta = ctx.rows("meta")
    if not meta:
        return [issue("C01", sheet="meta", column="school_id", cell="A3")]
    row = meta[0]["_row"]
    for code, want in expected.items():
        got = ctx.meta(code)
        if got is not None and str(got) != want:
            out.append(ctx.at("M06", "meta", row, code, value=got, expected=want))
    if ctx.meta("director_confirmed") == "нет":
        out.append(ctx.at("M09", "meta", row, "director_confirmed"))
    submitted = ctx.meta("submission_date")
    if submitted and submitted > date.today():
        out.append(ctx.at("M10", "meta", row, "submission_date", detail="ещё не наступила"))
    elif submitted and submitted < ctx.period.start:
        out.append(ctx.at("M10", "meta", row, "submission_date", detail="раньше начала отчётного периода"))
    return out


# --- single sheets --------------------------------------------------------------------------------------------

def check_rows(ctx: Context, code: str) -> list[Issue]:
    """Conditional requirements (C02) and same-row comparisons (C11) from the catalogue, column by column."""
    s = ctx.book.sheets.get(code)
    if s is None or not len(s):
        return []
    out = []
    spec = ctx.catalogue.sheet(code)
    meta = {"school_type": ctx.meta("school_type"), "municipality_code": ctx.m.code}
    for col in spec.columns:
        cond = col.required_if
        if cond and col.code in s.letters:
            blank = [j for j, value in enumerate(s.values[col.code]) if value is None]
            source, _, name = cond.column.rpartition(".")
            if source == "meta":
                rows = blank if blank and cond.holds(meta.get(name)) else []
            else:
                allowed, other = spec.column(cond.column).values, s.values[cond.column]
                rows = [j for j in blank if cond.holds(other[j]) and (not allowed or other[j] in allowed)]
            if rows:
                label = ctx.catalogue.column(cond.column if source else f"{code}.{cond.column}").label
                out += [ctx.at("C02", code, s.rows[j], col.code, severity=col.missing_severity,
                               condition=cond.describe(label)) for j in rows]
        for op, other in col.compare:
            text, holds = OPS[op]
            other_label = spec.column(other).label
            out += [ctx.at("C11", code, row, col.code, op_text=text, other=show(b), other_label=other_label)
                    for row, a, b in zip(s.rows, s.values[col.code], s.values[other], strict=True)
                    if a is not None and b is not None and not holds(a, b)]
    return out


def drop_without_consent(ctx: Context) -> list[Issue]:
    """Rows of people without consent to processing are not loaded (domain.md §4 rule 4)."""
    out = []
    for code, key in (("mentors", "mentor_id"), ("mentees", "mentee_id")):
        s = ctx.book.sheets.get(code)
        if s is None:
            continue
        refused = [rec for rec in s.records if rec["pd_consent"] == "нет"]
        out += [ctx.at("C12", code, rec["_row"], "pd_consent", value=rec[key]) for rec in refused]
        ctx.refused |= _distinct(rec[key] for rec in refused)
        if refused:
            s.drop({rec["_row"] for rec in refused})
    return out


# --- across sheets (X01–X15) ----------------------------------------------------------------------------------

def is_active(pair: dict, period: Period) -> bool:
    """A pair works in the period: started by its end and not ended before its start."""
    start, end = pair["start_date"], pair["actual_end_date"]
    return start is not None and start <= period.end and (end is None or end >= period.start)


def _groups(records: list[dict], key: str) -> dict:
    """Records grouped by a column's value (blank keys left out), keys sorted."""
    groups = defaultdict(list)
    for rec in records:
        if rec[key] is not None:
            groups[rec[key]].append(rec)
    return dict(sorted(groups.items()))


def cross_sheet(ctx: Context) -> list[Issue]:
    out: list[Issue] = []
    rows = ctx.rows
    mentors, mentees, pairs, programmes = rows("mentors"), rows("mentees"), rows("pairs"), rows("programmes")
    # X01 unique IDs
    for code, key in (("mentors", "mentor_id"), ("mentees", "mentee_id"), ("programmes", "programme_id"),
                      ("events", "event_id"), ("best_practices", "practice_id")):
        seen: dict = {}
        for rec in rows(code):
            value = rec[key]
            if value is None:
                continue
            if value in seen:
                out.append(ctx.at("X01", code, rec["_row"], key, other_row=seen[value]))
            seen.setdefault(value, rec["_row"])
    seen_pairs = set()
    for rec in pairs:
        unit = (rec["pair_group_id"], rec["mentee_id"], rec["mentor_id"])
        if unit in seen_pairs:
            out.append(ctx.at("X01", "pairs", rec["_row"], "pair_group_id", other_row="выше"))
        seen_pairs.add(unit)
    # X02 references
    ids = {"mentors.mentor_id": set(ctx.book.column("mentors", "mentor_id")), "mentees.mentee_id": set(ctx.book.column("mentees", "mentee_id")),
           "programmes.programme_id": set(ctx.book.column("programmes", "programme_id")),
           "best_practices.practice_id": set(ctx.book.column("best_practices", "practice_id"))}
    for sheet in ctx.catalogue.sheets:
        s = ctx.book.sheets.get(sheet.code)
        for col in sheet.columns:
            if not col.ref or s is None or not len(s) or col.code not in s.letters:
                continue
            targets = col.ref.split("|")
            known = set().union(*(ids[t] for t in targets))
            target_title = " / ".join(ctx.catalogue.sheet(t.split(".")[0]).title for t in targets)
            for rec in s.records:
                for part in ([] if rec[col.code] is None else str(rec[col.code]).split("; ")):
                    if part not in known and part not in ctx.refused:
                        out.append(ctx.at("X02", sheet.code, rec["_row"], col.code, value=part, target=target_title))
    if not pairs:
        return out + _survey_and_texts(ctx)
    active = [p for p in pairs if is_active(p, ctx.period)]
    mentor_cat = {r["mentor_id"]: r["mentor_category"] for r in mentors}
    mentee_cat = {r["mentee_id"]: r["mentee_category"] for r in mentees}
    prog_forms = {r["programme_id"]: r["forms"] for r in programmes}
    prog_status = {r["programme_id"]: r["status"] for r in programmes}
    # X03 form vs categories and programme
    for p in pairs:
        rule = ctx.catalogue.form_matrix.get(p["form"])
        if rule is None:
            continue
        mc, ec = mentor_cat.get(p["mentor_id"]), mentee_cat.get(p["mentee_id"])
        problems, guess = [], rule.guess
        if mc and mc not in rule.mentors:
            guess = guess or mc in rule.mentors_guess
            problems.append(f"наставник категории «{mc}»")
        if ec and ec not in rule.mentees:
            problems.append(f"наставляемый категории «{ec}»")
        if problems:
            out.append(ctx.at("X03", "pairs", p["_row"], "form", severity="warning" if guess and len(problems) == 1 else None,
                              detail=f"Форма «{p['form']}» не подходит: {', '.join(problems)}."))
        forms = prog_forms.get(p["programme_id"])
        if forms and p["form"] not in forms.split("; "):
            out.append(ctx.at("X03", "pairs", p["_row"], "form",
                              detail=f"Форма «{p['form']}» не входит в формы программы {p['programme_id']} ({forms})."))
    # X04 dates within the period
    start, end = ctx.period.start, ctx.period.end
    window = {("events", "date_start"): "in", ("training", "date_end"): "in", ("pairs", "actual_end_date"): "in",
              ("pairs", "start_date"): "end", ("programmes", "start_date"): "end", ("mentors", "included_date"): "end",
              ("mentees", "included_date"): "end"}
    for (code, column), kind in window.items():
        for rec in rows(code):
            value = rec[column]
            if value is not None and (value > end or (kind == "in" and value < start)):
                out.append(ctx.at("X04", code, rec["_row"], column, detail="вне периода" if kind == "in" else "позже конца периода",
                                  period_start=f"{start:%d.%m.%Y}", period_end=f"{end:%d.%m.%Y}"))
    # X05 statuses agree with pairs
    active_mentors = {p["mentor_id"] for p in active}
    active_mentees = {p["mentee_id"] for p in active}
    for code, key, active_set, status in (("mentors", "mentor_id", active_mentors, "активный (закреплён)"),
                                          ("mentees", "mentee_id", active_mentees, "в паре/группе")):
        for rec in rows(code):
            if (rec["status"] == status) != (rec[key] in active_set) and rec["status"] != "выбыл":
                detail = (f"{rec[key]}: статус «{rec['status']}», но действующих пар нет" if rec["status"] == status
                          else f"{rec[key]}: есть действующая пара, а статус «{rec['status']}»")
                out.append(ctx.at("X05", code, rec["_row"], "status", detail=detail))
    # X06 profile bounds
    profile = rows("school_profile")
    if profile:
        prow = profile[0]

        def in_pairs(people, key, active_ids, column, value):
            return sum(1 for r in people if r[key] in active_ids and r[column] == value)
        counts = {
            "young_specialists_0_3": in_pairs(mentees, "mentee_id", active_mentees, "mentee_category", "молодой специалист (стаж 0–3 года)"),
            "teachers_under_35": in_pairs(mentees, "mentee_id", active_mentees, "under_35", "да"),
            "students_total": in_pairs(mentees, "mentee_id", active_mentees, "mentee_category", "обучающийся"),
            "young_managers_0_2": in_pairs(mentees, "mentee_id", active_mentees, "mentee_category", "молодой руководитель (стаж в должности до 2 лет)"),
            "students_age_15_18": in_pairs(mentors, "mentor_id", active_mentors, "age_group", "15–18 лет"),
        }
        for column, count in counts.items():
            bound = prow[column]
            if bound is not None and count > bound:
                label = ctx.catalogue.column(f"school_profile.{column}").label
                out.append(ctx.at("X06", "school_profile", prow["_row"], column,
                                  detail=f"В базе {count} участников, относящихся к «{label}», а в профиле указано {bound}."))
    # X07 load per mentor
    t = ctx.catalogue.thresholds
    for mentor_id, group in _groups(active, "mentor_id").items():
        limit = t["load_per_mentor_teacher"] if all(p["form"] == "педагог – педагог" for p in group) else t["load_per_mentor"]
        load = len(_distinct(p["mentee_id"] for p in group))
        if load > limit:
            out.append(ctx.at("X07", "pairs", group[0]["_row"], "mentor_id", value=mentor_id, count=load, limit=int(limit)))
    # X08 consent of everyone in pairs; X08a labour-code paperwork
    consent = {**{r["mentor_id"]: r["pd_consent"] for r in mentors}, **{r["mentee_id"]: r["pd_consent"] for r in mentees}}
    by_rep = {r["mentee_id"]: r["pd_consent_by"] for r in mentees}
    minors = {r["mentee_id"] for r in mentees if r["mentee_category"] == "обучающийся"}
    for p in pairs:
        for column in ("mentor_id", "mentee_id"):
            pid = p[column]
            if pid in ctx.refused or (pid in consent and consent[pid] != "да"):
                out.append(ctx.at("X08", "pairs", p["_row"], column, detail=f"У участника {pid} нет согласия на обработку ПДн."))
        if p["mentee_id"] in minors and by_rep.get(p["mentee_id"]) == "субъектом ПДн":
            out.append(ctx.at("X08", "pairs", p["_row"], "mentee_id",
                              detail=f"За обучающегося {p['mentee_id']} согласие должен дать законный представитель."))
    if ctx.period.end >= ACTIVE_FROM_TK:
        for rec in mentors:
            if (rec["mentor_category"] in STAFF and rec["mentor_id"] in active_mentors
                    and (rec["written_consent_mentoring"] != "да" or rec["employer_agreement_ref"] is None)):
                out.append(ctx.at("X08a", "mentors", rec["_row"], "written_consent_mentoring", value=rec["mentor_id"],
                                  detail="нет письменного согласия или доп. соглашения"))
    # X09 unit composition; X10 programme status
    kind = {r["programme_id"]: r["programme_kind"] for r in programmes}
    for gid, group in _groups(pairs, "pair_group_id").items():
        unit = group[0]["unit_type"]
        if unit == "пара" and len(group) > 1:
            out.append(ctx.at("X09", "pairs", group[1]["_row"], "pair_group_id", severity="error",
                              detail=f"«{gid}» отмечена как пара, но занимает {len(group)} строки."))
        if (unit == "группа" and len(_distinct(p["mentee_id"] for p in group)) < 2
                and len(_distinct(p["mentor_id"] for p in group)) < 2):
            out.append(ctx.at("X09", "pairs", group[0]["_row"], "unit_type", detail=f"В группе «{gid}» один наставник и один наставляемый."))
    for pid, group in _groups(pairs, "programme_id").items():
        if str(kind.get(pid, "")).startswith("персонализированная") and len(_distinct(p["mentee_id"] for p in group)) != 1:
            out.append(ctx.at("X09", "pairs", group[0]["_row"], "programme_id",
                              detail=f"У персонализированной программы {pid} должен быть ровно один наставляемый."))
    for p in active:
        status = prog_status.get(p["programme_id"])
        if status and status != "реализуется" and p["status"] == "действует":
            out.append(ctx.at("X10", "pairs", p["_row"], "programme_id", value=p["pair_group_id"],
                              programme=p["programme_id"], status=status))
    return out + _survey_and_texts(ctx)


def _survey_and_texts(ctx: Context) -> list[Issue]:
    out = []
    rows = ctx.rows
    pairs, mentors, mentees = rows("pairs"), rows("mentors"), rows("mentees")
    # X11 respondents vs participants
    for rec in rows("survey_summary"):
        n = rec["n_respondents"]
        if n is None or rec["respondent_role"] == "куратор" or not pairs:
            continue
        scope = pairs if rec["form"] == "все формы" else [p for p in pairs if p["form"] == rec["form"]]
        key = "mentee_id" if rec["respondent_role"] == "наставляемые" else "mentor_id"
        count = len(_distinct(p[key] for p in scope))
        if n > count:
            out.append(ctx.at("X11", "survey_summary", rec["_row"], "n_respondents", role=rec["respondent_role"],
                              form=rec["form"], count=count))
    # X12 names in free text
    names = [r["full_name"] for r in mentees + mentors if r["full_name"]]
    short_names = sorted({" ".join(n.split()[:2]).lower() for n in names if len(n.split()) >= 2})
    for code, column in (("best_practices", "description"), ("best_practices", "results"), ("roadmap_status", "comment"),
                         ("mentees", "request_summary")):
        for rec in rows(code):
            text = rec[column]
            if not text:
                continue
            lowered = text.lower()
            hit = next((n for n in short_names if n in lowered), None)
            if hit:
                out.append(ctx.at("X12", code, rec["_row"], column, value=hit.title(),
                                  severity="error" if code == "best_practices" else "warning"))
    # X13 roadmap statuses
    for rec in rows("roadmap_status"):
        if rec["due_in_period"] == "да" and rec["status"] == "не требуется в отчётном периоде":
            out.append(ctx.at("X13", "roadmap_status", rec["_row"], "status",
                              detail=f"Пункт {rec['activity_code']}: срок наступает в периоде, статус «не требуется» недопустим."))
        if str(rec["status"]).startswith("выполнено") and not rec["evidence_ref"]:
            out.append(ctx.at("X13", "roadmap_status", rec["_row"], "evidence_ref",
                              detail=f"Пункт {rec['activity_code']} выполнен, но нет реквизитов подтверждающего документа."))
    return out


def timeliness(period: Period, received: date) -> list[Issue]:
    """X14: late returns are accepted with a flag."""
    if received > period.deadline:
        return [issue("X14", value=f"{received:%d.%m.%Y}", deadline=f"{period.deadline:%d.%m.%Y}")]
    return []


def against_previous(book: ParsedBook, previous: dict[str, pd.DataFrame]) -> list[Issue]:
    """X15 and P01: what vanished or jumped since the school's last accepted return."""
    out = []
    catalogue = load_catalogue()
    t = catalogue.thresholds
    for code, key in (("mentors", "mentor_id"), ("mentees", "mentee_id")):
        before = previous.get(code)
        if before is None or before.empty:
            continue
        gone = sorted(set(before[key]) - set(book.column(code, key)))
        if gone:
            out.append(issue("X15", sheet=code, detail=f"Из базы пропали без статуса «выбыл»: {', '.join(gone[:10])}"
                             + (" и др." if len(gone) > 10 else "") + "."))
        a, b = len(before), len(book.column(code, key))
        if max(a, b) >= t["plausibility_min_base"] and (b > a * t["plausibility_ratio"] or a > b * t["plausibility_ratio"]):
            title = catalogue.sheet(code).title
            out.append(issue("P01", sheet=code, detail=f"«{title}»: число записей было {a}, стало {b} — подтвердите или исправьте."))
    before, count = previous.get("programmes"), len(book.column("programmes", "programme_id"))
    if before is not None and count < len(before):
        out.append(issue("X15", sheet="programmes", detail=f"Число программ уменьшилось: было {len(before)}, стало {count}."))
    return out


def check_book(book: ParsedBook, m: Municipality, period: Period, received: date) -> Checked:
    """A return's own rules (everything but the contracts and the previous period); drops rows without consent."""
    ctx = Context(book, m, period)
    checked = Checked(head=list(book.issues))
    checked.head += check_title(ctx, book.identity)
    checked.head += drop_without_consent(ctx)
    checked.by_sheet = {sheet.code: check_rows(ctx, sheet.code) for sheet in ctx.catalogue.sheets}
    checked.tail = cross_sheet(ctx) + timeliness(period, received)
    return checked


# --- contracts, for a batch of returns at once -----------------------------------------------------------------

def contract_issues(books: list[ParsedBook]) -> list[dict[str, list[Issue]]]:
    """pandera's lazy validation of each sheet over all `books` stacked, mapped back to each book's cells."""
    catalogue = load_catalogue()
    found: list[dict[str, list[Issue]]] = [defaultdict(list) for _ in books]
    typed_failures = [{(i.row, i.column) for i in book.issues if i.row} for book in books]
    for sheet in catalogue.sheets:
        owners = [(b, s) for b, book in enumerate(books) if (s := book.sheets.get(sheet.code)) is not None and len(s)]
        if not owners:
            continue
        values = {c.code: stacked([s for _, s in owners], c.code) for c in sheet.columns}
        at = [(b, row) for b, s in owners for row in s.rows]
        try:
            frame = typed_frame(sheet.code, values)  # built to be validated: checked in place, not copied
            sheet_schema(sheet.code).validate(frame, lazy=True, inplace=True)
            continue
        except pa.errors.SchemaErrors as errors:
            cases = errors.failure_cases
        for case in cases.itertuples():
            if case.index is None or pd.isna(case.index):
                continue
            b, row = at[int(case.index)]
            s, column = books[b].sheets[sheet.code], case.column
            if column not in s.letters or (row, column) in typed_failures[b]:
                continue
            col = sheet.column(column)
            rule = CHECK_RULES.get(str(case.check).split("(")[0]) or ("C09" if col.type == "url" else "C08")
            bounds = f"{'' if col.min is None else f'{col.min:g}'}–{'' if col.max is None else f'{col.max:g}'}"
            params = {"allowed": "; ".join(col.values)[:300], "bounds": bounds, "example": col.example, "max_len": col.max_len}
            if rule == "C10":
                params["value"] = len(str(s.value(row, column)))
            found[b][sheet.code].append(s.at(rule, row, column, **params))
    return found


def dedupe(found: list[Issue]) -> list[Issue]:
    """The same rule, place and message reported twice (e.g. by two paths) is said once, in first-seen order."""
    unique: dict[tuple, Issue] = {}
    for i in found:
        unique.setdefault((i.rule, i.sheet, i.cell, i.message), i)
    return list(unique.values())

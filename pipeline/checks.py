"""Every check of a parsed return beyond typing: identity, pandera contracts, conditional and row rules,
the cross-sheet rules X01–X15 and plausibility against the previous accepted period.

Each check yields `Issue`s built from catalogue rules, with the cell they point at. Nothing here reads files or
writes anywhere; `pipeline.intake` runs the checks and keeps the results.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pandera.pandas as pa

from contracts.catalogue import load_catalogue
from contracts.schemas import sheet_schema
from pipeline.issues import Issue, issue
from pipeline.parsing import ParsedBook, ParsedSheet
from pipeline.reference import Municipality, Period, load_reference
from pipeline.workbook import TEMPLATE_VERSION, Identity

ACTIVE_FROM_TK = date(2025, 3, 1)
CHECK_RULES = {"not_nullable": "C01", "isin": "C06", "in_range": "C07", "str_length": "C10", "C06": "C06"}
OPS = {"<=": ("не больше", lambda a, b: a <= b), ">=": ("не меньше", lambda a, b: a >= b)}


def _val(v):
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return v.date() if isinstance(v, pd.Timestamp) else v


def _show(v) -> str:
    v = _val(v)
    return f"{v:%d.%m.%Y}" if isinstance(v, date) else "" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


class Context:
    """A parsed return with the reference facts its checks need."""

    def __init__(self, book: ParsedBook, municipality: Municipality, period: Period):
        self.book, self.m, self.period = book, municipality, period
        self.catalogue = load_catalogue()
        self.refused: set[str] = set()  # IDs of people whose rows were dropped for lack of consent

    def sheet(self, code: str) -> ParsedSheet | None:
        return self.book.sheets.get(code)

    def frame(self, code: str) -> pd.DataFrame:
        s = self.sheet(code)
        return s.frame if s is not None else pd.DataFrame()

    def at(self, rule: str, sheet: str, row: int, column: str, **params) -> Issue:
        s = self.sheet(sheet)
        value = params.pop("value", _show(s.frame.at[row, column]) if column in s.frame else None)
        return issue(rule, sheet=sheet, row=row, column=column, cell=s.cell(row, column), value=value, **params)

    def meta(self, code: str):
        frame = self.frame("meta")
        return _val(frame[code].iloc[0]) if len(frame) and code in frame else None


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
    meta = ctx.frame("meta")
    if not len(meta):
        return [issue("C01", sheet="meta", column="school_id", cell="A3")]
    row = meta.index[0]
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

def check_contract(ctx: Context, code: str, typed_failures: set[tuple[int, str]]) -> list[Issue]:
    """pandera's lazy validation of one typed sheet, mapped to catalogue rules and cells."""
    s = ctx.sheet(code)
    if s is None or s.frame.empty:
        return []
    try:
        sheet_schema(code).validate(s.frame, lazy=True)
        return []
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    out = []
    for case in cases.itertuples():
        if case.index is None or pd.isna(case.index) or case.column not in s.letters:
            continue
        row, column = int(case.index), case.column
        if (row, column) in typed_failures:
            continue
        check = str(case.check).split("(")[0]
        col = ctx.catalogue.sheet(code).column(column)
        rule = CHECK_RULES.get(check) or ("C09" if col.type == "url" else "C08")
        bounds = f"{'' if col.min is None else f'{col.min:g}'}–{'' if col.max is None else f'{col.max:g}'}"
        params = {"allowed": "; ".join(col.values)[:300], "bounds": bounds, "example": col.example,
                  "max_len": col.max_len}
        if rule == "C10":
            params["value"] = len(str(s.frame.at[row, column]))
        out.append(ctx.at(rule, code, row, column, **params))
    return out


def check_rows(ctx: Context, code: str) -> list[Issue]:
    """Conditional requirements (C02) and same-row comparisons (C11) from the catalogue, column by column."""
    s = ctx.sheet(code)
    if s is None or s.frame.empty:
        return []
    frame, out = s.frame, []
    meta = {"school_type": ctx.meta("school_type"), "municipality_code": ctx.m.code}
    for col in ctx.catalogue.sheet(code).columns:
        cond = col.required_if
        if cond and col.code in s.letters:
            source, _, name = cond.column.rpartition(".")
            if source == "meta":
                holds = pd.Series(cond.holds(meta.get(name)), index=frame.index)
            else:
                basis = frame[cond.column].map(_val)
                allowed = ctx.catalogue.sheet(code).column(cond.column).values
                holds = basis.map(cond.holds) & (basis.isna() | basis.isin(allowed) if allowed else True)
            label = ctx.catalogue.column(cond.column if source else f"{code}.{cond.column}").label
            for row in frame.index[holds.astype(bool) & frame[col.code].isna()]:
                out.append(ctx.at("C02", code, row, col.code, severity=col.missing_severity, condition=cond.describe(label)))
        for op, other in col.compare:
            a, b = frame[col.code], frame[other]
            both = frame.index[(a.notna() & b.notna()).astype(bool)]
            for row in both[~OPS[op][1](a[both], b[both]).astype(bool)]:
                out.append(ctx.at("C11", code, row, col.code, op_text=OPS[op][0], other=_show(b[row]),
                                  other_label=ctx.catalogue.sheet(code).column(other).label))
    return out


def drop_without_consent(ctx: Context) -> list[Issue]:
    """Rows of people without consent to processing are not loaded (domain.md §4 rule 4)."""
    out = []
    for code, key in (("mentors", "mentor_id"), ("mentees", "mentee_id")):
        s = ctx.sheet(code)
        if s is None or s.frame.empty:
            continue
        refused = s.frame.index[s.frame["pd_consent"].eq("нет").fillna(False)]
        for row in refused:
            out.append(ctx.at("C12", code, row, "pd_consent", value=s.frame.at[row, key]))
        ctx.refused |= set(s.frame.loc[refused, key].dropna())
        s.frame = s.frame.drop(index=refused)
    return out


# --- across sheets (X01–X15) ----------------------------------------------------------------------------------

def _active(pairs: pd.DataFrame, period: Period) -> pd.Series:
    start = pd.Timestamp(period.start)
    end = pd.Timestamp(period.end)
    return pairs["start_date"].le(end).fillna(False) & (pairs["actual_end_date"].isna() | pairs["actual_end_date"].ge(start).fillna(False))


def cross_sheet(ctx: Context) -> list[Issue]:
    out: list[Issue] = []
    f = ctx.frame
    mentors, mentees, pairs, programmes = f("mentors"), f("mentees"), f("pairs"), f("programmes")
    # X01 unique IDs
    for code, key in (("mentors", "mentor_id"), ("mentees", "mentee_id"), ("programmes", "programme_id"),
                      ("events", "event_id"), ("best_practices", "practice_id")):
        frame = f(code)
        if frame.empty:
            continue
        seen: dict = {}
        for row, value in frame[key].items():
            if value is None:
                continue
            if value in seen:
                out.append(ctx.at("X01", code, row, key, other_row=seen[value]))
            seen.setdefault(value, row)
    if not pairs.empty:
        dup = pairs.duplicated(["pair_group_id", "mentee_id", "mentor_id"], keep="first")
        out += [ctx.at("X01", "pairs", row, "pair_group_id", other_row="выше") for row in pairs.index[dup]]
    # X02 references
    ids = {"mentors.mentor_id": set(mentors.get("mentor_id", [])), "mentees.mentee_id": set(mentees.get("mentee_id", [])),
           "programmes.programme_id": set(programmes.get("programme_id", [])),
           "best_practices.practice_id": set(f("best_practices").get("practice_id", []))}
    for sheet in ctx.catalogue.sheets:
        for col in sheet.columns:
            frame = f(sheet.code)
            if not col.ref or frame.empty or col.code not in frame:
                continue
            targets = col.ref.split("|")
            known = set().union(*(ids[t] for t in targets))
            target_title = " / ".join(ctx.catalogue.sheet(t.split(".")[0]).title for t in targets)
            for row, value in frame[col.code].items():
                for part in ([] if value is None else str(value).split("; ")):
                    if part not in known and part not in ctx.refused:
                        out.append(ctx.at("X02", sheet.code, row, col.code, value=part, target=target_title))
    if pairs.empty:
        return out + _survey_and_texts(ctx)
    active = _active(pairs, ctx.period)
    mentor_cat = dict(zip(mentors.get("mentor_id", []), mentors.get("mentor_category", []), strict=False))
    mentee_cat = dict(zip(mentees.get("mentee_id", []), mentees.get("mentee_category", []), strict=False))
    prog_forms = dict(zip(programmes.get("programme_id", []), programmes.get("forms", []), strict=False))
    prog_status = dict(zip(programmes.get("programme_id", []), programmes.get("status", []), strict=False))
    # X03 form vs categories and programme
    for row, p in pairs.iterrows():
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
            out.append(ctx.at("X03", "pairs", row, "form", severity="warning" if guess and len(problems) == 1 else None,
                              detail=f"Форма «{p['form']}» не подходит: {', '.join(problems)}."))
        forms = prog_forms.get(p["programme_id"])
        if forms and p["form"] not in forms.split("; "):
            out.append(ctx.at("X03", "pairs", row, "form",
                              detail=f"Форма «{p['form']}» не входит в формы программы {p['programme_id']} ({forms})."))
    # X04 dates within the period
    end, start = pd.Timestamp(ctx.period.end), pd.Timestamp(ctx.period.start)
    window = {("events", "date_start"): "in", ("training", "date_end"): "in", ("pairs", "actual_end_date"): "in",
              ("pairs", "start_date"): "end", ("programmes", "start_date"): "end", ("mentors", "included_date"): "end",
              ("mentees", "included_date"): "end"}
    for (code, column), kind in window.items():
        frame = f(code)
        if frame.empty:
            continue
        for row, value in frame[column].items():
            if pd.isna(value):
                continue
            if value > end or (kind == "in" and value < start):
                out.append(ctx.at("X04", code, row, column, detail="вне периода" if kind == "in" else "позже конца периода",
                                  period_start=f"{ctx.period.start:%d.%m.%Y}", period_end=f"{ctx.period.end:%d.%m.%Y}"))
    # X05 statuses agree with pairs
    active_mentors = set(pairs.loc[active, "mentor_id"])
    active_mentees = set(pairs.loc[active, "mentee_id"])
    for code, key, active_set, status in (("mentors", "mentor_id", active_mentors, "активный (закреплён)"),
                                          ("mentees", "mentee_id", active_mentees, "в паре/группе")):
        for row, rec in f(code).iterrows():
            if (rec["status"] == status) != (rec[key] in active_set) and rec["status"] != "выбыл":
                detail = (f"{rec[key]}: статус «{rec['status']}», но действующих пар нет" if rec["status"] == status
                          else f"{rec[key]}: есть действующая пара, а статус «{rec['status']}»")
                out.append(ctx.at("X05", code, row, "status", detail=detail))
    # X06 profile bounds
    profile = f("school_profile")
    if len(profile):
        prow = profile.index[0]
        active_ids = pairs.loc[active, "mentee_id"]
        counts = {
            "young_specialists_0_3": mentees["mentee_id"].isin(active_ids)[mentees["mentee_category"].eq("молодой специалист (стаж 0–3 года)")].sum(),
            "teachers_under_35": mentees["mentee_id"].isin(active_ids)[mentees["under_35"].eq("да")].sum(),
            "students_total": mentees["mentee_id"].isin(active_ids)[mentees["mentee_category"].eq("обучающийся")].sum(),
            "young_managers_0_2": mentees["mentee_id"].isin(active_ids)[mentees["mentee_category"].eq("молодой руководитель (стаж в должности до 2 лет)")].sum(),
            "students_age_15_18": mentors["mentor_id"].isin(pairs.loc[active, "mentor_id"])[mentors["age_group"].eq("15–18 лет")].sum(),
        }
        for column, count in counts.items():
            bound = _val(profile.at[prow, column])
            if bound is not None and count > bound:
                label = ctx.catalogue.column(f"school_profile.{column}").label
                out.append(ctx.at("X06", "school_profile", prow, column,
                                  detail=f"В базе {count} участников, относящихся к «{label}», а в профиле указано {bound}."))
    # X07 load per mentor
    t = ctx.catalogue.thresholds
    act = pairs[active]
    for mentor_id, group in act.groupby("mentor_id"):
        limit = t["load_per_mentor_teacher"] if group["form"].eq("педагог – педагог").all() else t["load_per_mentor"]
        if group["mentee_id"].nunique() > limit:
            out.append(ctx.at("X07", "pairs", group.index[0], "mentor_id", value=mentor_id,
                              count=group["mentee_id"].nunique(), limit=int(limit)))
    # X08 consent of everyone in pairs; X08a labour-code paperwork
    consent = {**dict(zip(mentors.get("mentor_id", []), mentors.get("pd_consent", []), strict=False)),
               **dict(zip(mentees.get("mentee_id", []), mentees.get("pd_consent", []), strict=False))}
    by_rep = {**dict(zip(mentees.get("mentee_id", []), mentees.get("pd_consent_by", []), strict=False))}
    minors = set(mentees.loc[mentees.get("mentee_category", pd.Series(dtype=object)).eq("обучающийся"), "mentee_id"]) if len(mentees) else set()
    for row, p in pairs.iterrows():
        for column in ("mentor_id", "mentee_id"):
            pid = p[column]
            if pid in ctx.refused or (pid in consent and consent[pid] != "да"):
                out.append(ctx.at("X08", "pairs", row, column, detail=f"У участника {pid} нет согласия на обработку ПДн."))
        if p["mentee_id"] in minors and by_rep.get(p["mentee_id"]) == "субъектом ПДн":
            out.append(ctx.at("X08", "pairs", row, "mentee_id",
                              detail=f"За обучающегося {p['mentee_id']} согласие должен дать законный представитель."))
    if ctx.period.end >= ACTIVE_FROM_TK:
        staff = mentors[mentors["mentor_category"].isin(["педагогический работник ОО", "руководитель/заместитель руководителя ОО"])]
        for row, rec in staff.iterrows():
            if rec["mentor_id"] in active_mentors and (rec["written_consent_mentoring"] != "да" or rec["employer_agreement_ref"] is None):
                out.append(ctx.at("X08a", "mentors", row, "written_consent_mentoring", value=rec["mentor_id"],
                                  detail="нет письменного согласия или доп. соглашения"))
    # X09 unit composition; X10 programme status
    kind = dict(zip(programmes.get("programme_id", []), programmes.get("programme_kind", []), strict=False))
    for gid, group in pairs.groupby("pair_group_id"):
        unit = group["unit_type"].iloc[0]
        if unit == "пара" and len(group) > 1:
            out.append(ctx.at("X09", "pairs", group.index[1], "pair_group_id", severity="error",
                              detail=f"«{gid}» отмечена как пара, но занимает {len(group)} строки."))
        if unit == "группа" and group["mentee_id"].nunique() < 2 and group["mentor_id"].nunique() < 2:
            out.append(ctx.at("X09", "pairs", group.index[0], "unit_type", detail=f"В группе «{gid}» один наставник и один наставляемый."))
    for pid, group in pairs.groupby("programme_id"):
        if str(kind.get(pid, "")).startswith("персонализированная") and group["mentee_id"].nunique() != 1:
            out.append(ctx.at("X09", "pairs", group.index[0], "programme_id",
                              detail=f"У персонализированной программы {pid} должен быть ровно один наставляемый."))
    for row, p in pairs[active].iterrows():
        status = prog_status.get(p["programme_id"])
        if status and status != "реализуется" and p["status"] == "действует":
            out.append(ctx.at("X10", "pairs", row, "programme_id", value=p["pair_group_id"],
                              programme=p["programme_id"], status=status))
    return out + _survey_and_texts(ctx)


def _survey_and_texts(ctx: Context) -> list[Issue]:
    out = []
    f = ctx.frame
    pairs, mentors, mentees = f("pairs"), f("mentors"), f("mentees")
    # X11 respondents vs participants
    survey = f("survey_summary")
    for row, rec in survey.iterrows():
        n = _val(rec["n_respondents"])
        if n is None or rec["respondent_role"] == "куратор" or pairs.empty:
            continue
        scope = pairs if rec["form"] == "все формы" else pairs[pairs["form"].eq(rec["form"])]
        key = "mentee_id" if rec["respondent_role"] == "наставляемые" else "mentor_id"
        count = scope[key].nunique()
        if n > count:
            out.append(ctx.at("X11", "survey_summary", row, "n_respondents", role=rec["respondent_role"],
                              form=rec["form"], count=count))
    # X12 names in free text
    names = [n for n in list(mentees.get("full_name", [])) + list(mentors.get("full_name", [])) if n]
    short_names = {" ".join(n.split()[:2]).lower() for n in names if len(n.split()) >= 2}
    for code, column in (("best_practices", "description"), ("best_practices", "results"), ("roadmap_status", "comment"),
                         ("mentees", "request_summary")):
        frame = f(code)
        if frame.empty:
            continue
        for row, text in frame[column].items():
            if not text:
                continue
            hit = next((n for n in short_names if n in text.lower()), None)
            if hit:
                out.append(ctx.at("X12", code, row, column, value=hit.title(),
                                  severity="error" if code == "best_practices" else "warning"))
    # X13 roadmap statuses
    for row, rec in f("roadmap_status").iterrows():
        if rec["due_in_period"] == "да" and rec["status"] == "не требуется в отчётном периоде":
            out.append(ctx.at("X13", "roadmap_status", row, "status",
                              detail=f"Пункт {rec['activity_code']}: срок наступает в периоде, статус «не требуется» недопустим."))
        if str(rec["status"]).startswith("выполнено") and not rec["evidence_ref"]:
            out.append(ctx.at("X13", "roadmap_status", row, "evidence_ref",
                              detail=f"Пункт {rec['activity_code']} выполнен, но нет реквизитов подтверждающего документа."))
    return out


def timeliness(ctx: Context, received: date) -> list[Issue]:
    """X14: late returns are accepted with a flag."""
    if received > ctx.period.deadline:
        return [issue("X14", value=f"{received:%d.%m.%Y}", deadline=f"{ctx.period.deadline:%d.%m.%Y}")]
    return []


def against_previous(ctx: Context, previous: dict[str, pd.DataFrame]) -> list[Issue]:
    """X15 and P01: what vanished or jumped since the school's last accepted return."""
    out = []
    t = ctx.catalogue.thresholds
    for code, key in (("mentors", "mentor_id"), ("mentees", "mentee_id")):
        before, now = previous.get(code), ctx.frame(code)
        if before is None or before.empty:
            continue
        gone = sorted(set(before[key]) - set(now.get(key, [])))
        if gone:
            out.append(issue("X15", sheet=code, detail=f"Из базы пропали без статуса «выбыл»: {', '.join(gone[:10])}"
                             + (" и др." if len(gone) > 10 else "") + "."))
        a, b = len(before), len(now)
        if max(a, b) >= t["plausibility_min_base"] and (b > a * t["plausibility_ratio"] or a > b * t["plausibility_ratio"]):
            title = ctx.catalogue.sheet(code).title
            out.append(issue("P01", sheet=code, detail=f"«{title}»: число записей было {a}, стало {b} — подтвердите или исправьте."))
    before, now = previous.get("programmes"), ctx.frame("programmes")
    if before is not None and len(now) < len(before):
        out.append(issue("X15", sheet="programmes", detail=f"Число программ уменьшилось: было {len(before)}, стало {len(now)}."))
    return out


def run_checks(book: ParsedBook, m: Municipality, period: Period, received: date,
               previous: dict[str, pd.DataFrame] | None = None) -> list[Issue]:
    """All content checks of an identified return, in the order a curator would fix them."""
    ctx = Context(book, m, period)
    typed_failures = {(i.row, i.column) for i in book.issues if i.row}
    found = check_title(ctx, book.identity)
    found += drop_without_consent(ctx)
    for sheet in ctx.catalogue.sheets:
        found += check_contract(ctx, sheet.code, typed_failures)
        found += check_rows(ctx, sheet.code)
    found += cross_sheet(ctx) + timeliness(ctx, received) + against_previous(ctx, previous or {})
    return _dedupe(found)


def _dedupe(found: list[Issue]) -> list[Issue]:
    """The same rule, place and message reported twice (e.g. by two paths) is said once, in first-seen order."""
    unique: dict[tuple, Issue] = {}
    for i in found:
        unique.setdefault((i.rule, i.sheet, i.cell, i.message), i)
    return list(unique.values())

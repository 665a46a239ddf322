"""Publishing: compute figures for a municipality and period, store them with lineage, and write the
municipal and regional summary workbooks.

Output is safe and stable: strings are always written as strings (never formulas or links), text that starts
with = + - @ gets a quote prefix, control characters are stripped, document dates are fixed, rows are sorted,
and every file is written to a temp name and renamed. Regional workbooks carry aggregates only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import xlsxwriter
import xlsxwriter.exceptions

from contracts.catalogue import load_catalogue
from pipeline import warehouse
from pipeline.config import DEV_SIGNING_KEY
from pipeline.indicators import (
    BY_CODE,
    INDICATORS,
    PART_RU,
    Figure,
    Scope,
    aggregate,
    return_figures,
    run_id_for,
)
from pipeline.issues import VERDICT_RU
from pipeline.reference import load_reference
from pipeline.signing import SignedRecord

FIXED_DOCUMENT_DATE = datetime(2025, 1, 1)
DATA_SHEET, SEAL_SHEET = "_data", "_svod"
HISTORY = "история"  # every issued run is also kept under its run id
DATA_HEADER = ["figure_id", "indicator", "level", "entity", "period", "numerator", "denominator"]
SUPPRESS_BELOW = 5
PERSON_SHEETS = {"mentors", "mentees"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MUNICIPAL_SHEETS = ("Титул", "Показатели по ОО", "Цели", "Дорожная карта", "Сдача отчётов", "Качество данных", "Происхождение")


class SummarySeal(SignedRecord):
    """Signed identity of a municipal summary's machine-readable figures, checked by the regional tier."""

    kind: str = "municipal_summary"
    municipality: str
    region: str
    period: str
    run_id: str
    figures_sha256: str


def figures_digest(rows: list[list]) -> str:
    """sha256 of the figure rows in a canonical text form (numbers as %.6g), as written and as read back."""
    canon = [[f"{v:.6g}" if isinstance(v, int | float) and not isinstance(v, bool) else ("" if v is None else str(v))
              for v in row] for row in rows]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode()).hexdigest()


def safe_text(value) -> str:
    """Text with control characters stripped; always written with write_string and a quote-prefix style."""
    return _CONTROL.sub("", "" if value is None else str(value))


class Book:
    """A deterministic xlsxwriter workbook with a few shared formats."""

    def __init__(self, path: Path):
        self.path, self.tmp = path, path.with_name(path.name + ".part")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.wb = xlsxwriter.Workbook(str(self.tmp), {"strings_to_formulas": False, "strings_to_urls": False,
                                                      "strings_to_numbers": False, "constant_memory": True})
        self.wb.set_properties({"created": FIXED_DOCUMENT_DATE, "author": "svod"})
        def add(props: dict):
            return self.wb.add_format({"quote_prefix": True, **props})  # text stays text even when re-edited
        self.plain = add({})
        self.head = add({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"})
        self.bold = add({"bold": True, "valign": "top"})
        self.title = add({"bold": True, "font_size": 14})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.num = self.wb.add_format({"num_format": "0.0"})
        self.total = self.wb.add_format({"bold": True, "num_format": "0.0", "top": 1})
        self.good = self.wb.add_format({"bg_color": "#C6EFCE", "num_format": "0.0"})
        self.bad = self.wb.add_format({"bg_color": "#FFC7CE", "num_format": "0.0"})
        self.link = self.wb.add_format({"font_color": "#0563C1", "underline": 1, "num_format": "0.0"})

    def sheet(self, name: str, widths: list[int] | None = None):
        ws = self.wb.add_worksheet(name)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.set_margins(0.4, 0.4, 0.5, 0.5)
        for i, w in enumerate(widths or []):
            ws.set_column(i, i, w)
        return ws

    def text(self, ws, r, c, value, fmt=None):
        ws.write_string(r, c, safe_text(value), fmt or self.plain)

    def table(self, ws, r0: int, header: list[str], rows: list[list]):
        for c, h in enumerate(header):
            ws.write_string(r0, c, h, self.head)
        for r, row in enumerate(rows, start=r0 + 1):
            for c, v in enumerate(row):
                if isinstance(v, int | float) and not isinstance(v, bool) and not pd.isna(v):
                    ws.write_number(r, c, v)
                else:
                    self.text(ws, r, c, "" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
        ws.freeze_panes(r0 + 1, 0)

    def close(self) -> Path:
        """Finish the temp file and rename it into place; on a write error the old file stays and the temp goes."""
        try:
            self.wb.close()
        except xlsxwriter.exceptions.FileCreateError as exc:
            self.tmp.unlink(missing_ok=True)
            cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else OSError(str(exc))
            raise cause from exc
        os.replace(self.tmp, self.path)
        return self.path


@dataclass
class Computed:
    run_id: str
    snapshot: list[str]         # every checked return the run saw
    figures: list[Figure]
    subs: pd.DataFrame          # the returns that count: each school's newest accepted one
    texts: dict[tuple[str, str], str]   # (indicator, entity) -> where its figure came from, in words
    new_figures: pd.DataFrame   # per-return figures first computed by this run (stored with it)
    new_sources: pd.DataFrame


TEXT_LIMIT = 30000  # characters of source list per workbook cell; the rest is in `svod explain`


def _limited(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + " … (полный список: svod explain)"


def _sources_texts(sources: pd.DataFrame, versions: dict[str, int]) -> pd.Series:
    """(indicator, sha256) -> «ОО (файл …, версия …) числитель: Лист!A3, …; …», parts in a fixed order."""
    if sources.empty:
        return pd.Series(dtype=object)
    titles = {sh.code: sh.title for sh in load_catalogue().sheets}
    refs = sources.assign(ref=sources["sheet"].map(titles) + "!" + sources["cell"])
    cells = refs.groupby(["indicator", "sha256", "school_id", "part"], sort=True)["ref"].agg(", ".join).reset_index()
    cells["text"] = [f"{school} (файл {sha[:12]}, версия {versions.get(sha, '?')}) {PART_RU[part]}: {refs_}"
                     for sha, school, part, refs_ in zip(cells["sha256"], cells["school_id"], cells["part"], cells["ref"], strict=True)]
    return cells.groupby(["indicator", "sha256"], sort=False)["text"].agg("; ".join)


def _returns_figures(con, returns: pd.DataFrame, period, period_code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figures and source cells of returns not computed before: their facts only, evaluated together."""
    if returns.empty:
        return pd.DataFrame(columns=[*RETURN_FIGURE_COLUMNS]), pd.DataFrame(columns=[*RETURN_SOURCE_COLUMNS])
    shas = list(returns["sha256"])
    frames, letters = warehouse.facts_of(con, shas), warehouse.letters_of(con, shas)
    figures, sources = return_figures(returns, Scope(frames, period.start, period.end), letters)
    texts = _sources_texts(sources, dict(zip(returns["sha256"], returns["version"], strict=True)))
    figures["period"], sources["period"] = period_code, period_code
    figures["sources_text"] = [texts.get((i, sha), "") for i, sha in zip(figures["indicator"], figures["sha256"], strict=True)]
    return figures[RETURN_FIGURE_COLUMNS], sources[RETURN_SOURCE_COLUMNS]


RETURN_FIGURE_COLUMNS = ["indicator", "period", "sha256", "school_id", "numerator", "denominator", "sources_text"]
RETURN_SOURCE_COLUMNS = ["indicator", "period", "sha256", "school_id", "part", "sheet", "cell", "value"]


def compute(con, municipality: str, period_code: str, snapshot: list[str] | None = None) -> Computed:
    """Figures per ОО and for the municipality from a snapshot of returns (default: what is checked now).

    Only returns never computed before for this period are evaluated; the others' figures are read back."""
    ref = load_reference()
    period = ref.municipalities[municipality].period(period_code)
    shas = sorted(warehouse.snapshot(con, municipality, period_code) if snapshot is None else snapshot)
    subs = warehouse.current_returns(con, shas)
    run_id = run_id_for(municipality, period_code, shas, load_catalogue().fingerprint, ref.version)
    known = con.execute("SELECT * FROM return_figure WHERE period = ? AND list_contains(?, sha256)",
                        [period_code, list(subs["sha256"])]).df()
    new_figures, new_sources = _returns_figures(con, subs[~subs["sha256"].isin(known["sha256"])], period, period_code)
    per_return = pd.concat([f for f in (known, new_figures) if len(f)]) if len(known) or len(new_figures) else new_figures
    by_key = {(i, sha): (num, den, text) for i, sha, num, den, text in zip(
        per_return["indicator"], per_return["sha256"], per_return["numerator"], per_return["denominator"],
        per_return["sources_text"], strict=True)}
    figures, texts = [], {}
    for school, sha in zip(subs["school_id"], subs["sha256"], strict=True):
        for ind in INDICATORS:
            num, den, text = by_key[(ind.code, sha)]
            figures.append(Figure(ind.code, "school", school, period_code, float(num), None if pd.isna(den) else float(den)))
            texts[(ind.code, school)] = _limited(text)
    for ind in INDICATORS:
        figures.append(aggregate(figures, ind.code, "municipality", municipality, period_code))
        texts[(ind.code, municipality)] = _limited("; ".join(by_key[(ind.code, sha)][2] for sha in subs["sha256"]))
    return Computed(run_id, shas, figures, subs, texts, new_figures, new_sources)


def store(con, municipality: str, period: str, run: Computed, journal: Path | None = None) -> None:
    """Replace this run's figures and lineage in one transaction (idempotent); journal the run's inputs."""
    ref = load_reference()
    run_id, figures = run.run_id, run.figures
    latest = con.execute("SELECT max(received_at) FROM submission WHERE list_contains(?, sha256)", [run.snapshot]).fetchone()[0]
    sha_of = dict(zip(run.subs["school_id"], run.subs["sha256"], strict=True))
    inputs = pd.DataFrame(
        [(f.figure_id(run_id), sha_of[f.entity]) for f in figures if f.level == "school"]
        + [(f.figure_id(run_id), sha) for f in figures if f.level == "municipality" for sha in run.subs["sha256"]],
        columns=["figure_id", "sha256"])
    with warehouse.transaction(con):
        con.execute("DELETE FROM figure_input WHERE figure_id IN (SELECT figure_id FROM figure WHERE run_id = ?)", [run_id])
        con.execute("DELETE FROM figure WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM run WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO run VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                    [run_id, municipality, period, latest, load_catalogue().fingerprint, ref.version, json.dumps(run.snapshot)])
        fresh = list(run.new_figures["sha256"].unique())
        for table in ("return_figure", "return_source"):
            con.execute(f"DELETE FROM {table} WHERE period = ? AND list_contains(?, sha256)", [period, fresh])
        warehouse.insert_frame(con, "return_figure", run.new_figures)
        warehouse.insert_frame(con, "return_source", pa.Table.from_pandas(run.new_sources, preserve_index=False))
        warehouse.insert_frame(con, "figure", pd.DataFrame(
            [{"figure_id": f.figure_id(run_id), "run_id": run_id, "indicator": f.indicator, "level": f.level,
              "entity": f.entity, "period": f.period, "numerator": f.numerator, "denominator": f.denominator, "value": f.value}
             for f in figures]))
        warehouse.insert_frame(con, "figure_input", inputs)
    if journal is not None:
        journal.mkdir(parents=True, exist_ok=True)
        record = {"run_id": run_id, "municipality": municipality, "period": period, "submissions": run.snapshot,
                  "catalogue": load_catalogue().fingerprint, "reference": ref.version}
        (journal / f"{run_id}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")


def write_municipal(con, out_dir: Path, municipality: str, period_code: str, signing_key: str = DEV_SIGNING_KEY,
                    snapshot: list[str] | None = None, journal: Path | None = None) -> tuple[Path, str, int]:
    """Compute, store and write one municipal summary, plus an immutable copy named by run id.

    With `snapshot` (a past run's inputs) the same run is re-issued byte for byte.
    Returns (path of the latest summary, run id, number of figures)."""
    ref = load_reference()
    m = ref.municipalities[municipality]
    period = m.period(period_code)
    run = compute(con, municipality, period_code, snapshot)
    store(con, municipality, period_code, run, journal)
    run_id, figures, subs = run.run_id, run.figures, run.subs
    all_subs = con.execute("SELECT * FROM submission WHERE list_contains(?, sha256) ORDER BY school_id, version",
                           [run.snapshot]).df()
    stem = f"svod_{municipality}_{period_code.replace('/', '-')}"
    book = Book(out_dir / municipality / HISTORY / f"{stem}_{run_id}.xlsx")
    sheets = {name: book.sheet(name) for name in MUNICIPAL_SHEETS}
    # lineage first, so figure cells can link to their rows
    lineage = sheets["Происхождение"]
    lineage_header = ["ID показателя", "Показатель", "Уровень", "ОО / МО", "Формула", "Значение", "Числитель", "Знаменатель", "Источники (ОО, файл, версия, ячейки)"]
    ordered = sorted(figures, key=lambda f: (f.level != "municipality", f.entity, f.indicator))
    book.table(lineage, 0, lineage_header, [
        [f.figure_id(run_id), BY_CODE[f.indicator].title, {"school": "ОО", "municipality": "МО"}[f.level], f.entity,
         BY_CODE[f.indicator].words, f.value, f.numerator, f.denominator, run.texts[(f.indicator, f.entity)]] for f in ordered])
    for i, w in enumerate([34, 36, 8, 12, 50, 10, 10, 10, 120]):
        lineage.set_column(i, i, w)
    row_of = {(f.indicator, f.entity): n + 2 for n, f in enumerate(ordered)}
    # indicators by school
    ws = sheets["Показатели по ОО"]
    school_names = {s.id: s.name for s in m.schools}
    reported = list(subs["school_id"])
    ws.write_string(0, 0, "Код ОО", book.head)
    ws.write_string(0, 1, "Наименование ОО", book.head)
    ws.set_column(0, 0, 10)
    ws.set_column(1, 1, 40)
    for c, ind in enumerate(INDICATORS, start=2):
        ws.write_string(0, c, f"{ind.code} {ind.title}", book.head)
        ws.set_column(c, c, 14)
    ws.set_row(0, 75)
    by_key = {(f.indicator, f.entity): f for f in figures}
    entities = [(sid, school_names.get(sid, sid)) for sid in reported] + [(municipality, f"ИТОГО по {m.name}")]
    for r, (entity, name) in enumerate(entities, start=1):
        book.text(ws, r, 0, entity if entity != municipality else "")
        book.text(ws, r, 1, name, book.bold if entity == municipality else None)
        for c, ind in enumerate(INDICATORS, start=2):
            f = by_key[(ind.code, entity)]
            ws.write_url(r, c, f"internal:'Происхождение'!A{row_of[(ind.code, entity)]}", book.link, string="—")
            if f.value is None:
                ws.write_string(r, c, "—", book.total if entity == municipality else None)
            else:
                ws.write_number(r, c, f.value, book.total if entity == municipality else book.link)
    ws.freeze_panes(1, 2)
    if reported:
        chart = book.wb.add_chart({"type": "bar"})
        col = 2 + [i.code for i in INDICATORS].index("I06")
        chart.add_series({"name": "Действующие пары и группы (I06)", "categories": ["Показатели по ОО", 1, 0, len(reported), 0],
                          "values": ["Показатели по ОО", 1, col, len(reported), col], "fill": {"color": "#5B9BD5"}})
        chart.set_title({"name": "Действующие пары и группы по ОО"})
        chart.set_legend({"none": True})
        chart.set_size({"width": 720, "height": max(300, 22 * len(reported))})
        ws.insert_chart(len(entities) + 3, 1, chart)
    # title and coverage
    _title_sheet(book, sheets["Титул"], m, period, run_id, all_subs)
    _targets_sheet(book, sheets["Цели"], m, period, by_key, row_of)
    _roadmap_sheet(book, sheets["Дорожная карта"], m, warehouse.facts_of(con, list(subs["sha256"]), ["roadmap_status"]), subs)
    _submissions_sheet(book, sheets["Сдача отчётов"], m, all_subs)
    _quality_sheet(con, book, sheets["Качество данных"], run.snapshot)
    data_rows = [[f.figure_id(run_id), f.indicator, f.level, f.entity, f.period, f.numerator, f.denominator]
                 for f in ordered if f.level == "municipality"]
    data = book.sheet(DATA_SHEET)
    book.table(data, 0, DATA_HEADER, data_rows)
    data.hide()
    seal = SummarySeal(municipality=municipality, region=m.region, period=period_code, run_id=run_id,
                       figures_sha256=figures_digest(data_rows)).signed(signing_key)
    sealed = book.sheet(SEAL_SHEET)
    for r, (key, value) in enumerate(seal.rows()):
        sealed.write_string(r, 0, key)
        sealed.write_string(r, 1, value)
    sealed.very_hidden()
    sheets["Титул"].activate()
    issued = book.close()
    latest = out_dir / municipality / f"{stem}.xlsx"
    tmp = latest.with_name(latest.name + ".part")
    shutil.copyfile(issued, tmp)
    os.replace(tmp, latest)
    return latest, run_id, len(figures)


def _title_sheet(book: Book, ws, m, period, run_id: str, all_subs: pd.DataFrame):
    ref = load_reference()
    latest = all_subs.sort_values("version").groupby("school_id").tail(1).set_index("school_id") if len(all_subs) else pd.DataFrame()
    accepted = [s for s in m.schools if s.id in latest.index and latest.at[s.id, "verdict"] != "rejected"]
    rejected = [s for s in m.schools if s.id in latest.index and latest.at[s.id, "verdict"] == "rejected"]
    missing = [s for s in m.schools if s.id not in latest.index]
    late = [s for s in accepted if not bool(latest.at[s.id, "on_time"])]
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 100)
    book.text(ws, 0, 0, f"Сводный отчёт о наставничестве: {m.name}", book.title)
    rows = [
        ("Субъект РФ", ref.regions[m.region]),
        ("Отчётный период", f"{period.code} ({period.start:%d.%m.%Y} – {period.end:%d.%m.%Y}), срок сдачи {period.deadline:%d.%m.%Y}"),
        ("Охват", f"приняты отчёты {len(accepted)} из {len(m.schools)} ОО"),
        ("Сданы с опозданием", ", ".join(s.name for s in late) or "нет"),
        ("Отклонены (ждём исправления)", ", ".join(s.name for s in rejected) or "нет"),
        ("Не сдали", ", ".join(s.name for s in missing) or "нет"),
        ("Идентификатор расчёта", run_id),
        ("Версия правил (каталог)", load_catalogue().fingerprint),
        ("Версия справочников", ref.version),
        ("Как проверить цифру", "Каждая цифра на листе «Показатели по ОО» — ссылка на строку листа «Происхождение»: "
                                "формула словами и ячейки отчётов ОО, из которых она получена. Также: svod explain."),
    ]
    for r, (a, b) in enumerate(rows, start=2):
        book.text(ws, r, 0, a, book.bold)
        book.text(ws, r, 1, b, book.wrap)
        ws.set_row(r, 15 * (1 + len(b) // 95))


OP_RU = {">=": "не менее", "<=": "не более"}


def _targets_sheet(book: Book, ws, m, period, by_key, row_of):
    """Actual against the seed targets, coloured by whether the target is met, with a chart."""
    book.table(ws, 0, ["Показатель", "Условие", "Цель", "Факт", "Отклонение", "Источник цели"], [])
    for i, w in enumerate([50, 10, 8, 10, 12, 40]):
        ws.set_column(i, i, w)
    r = 1
    for t in load_reference().targets:
        if not t.applies(m.code, period) or t.indicator not in BY_CODE:
            continue
        f = by_key[(t.indicator, m.code)]
        book.text(ws, r, 0, f"{t.indicator} {BY_CODE[t.indicator].title}")
        book.text(ws, r, 1, OP_RU[t.op])
        ws.write_number(r, 2, t.value)
        if f.value is None:
            book.text(ws, r, 3, "нет данных")
        else:
            fmt = book.good if (f.value >= t.value if t.op == ">=" else f.value <= t.value) else book.bad
            ws.write_url(r, 3, f"internal:'Происхождение'!A{row_of[(t.indicator, m.code)]}", fmt, string="—")
            ws.write_number(r, 3, f.value, fmt)
            ws.write_number(r, 4, round(f.value - t.value, 1), fmt)
        book.text(ws, r, 5, t.source)
        r += 1
    if r > 1:
        chart = book.wb.add_chart({"type": "column"})
        for col, name, color in ((2, "Цель", "#A5A5A5"), (3, "Факт", "#5B9BD5")):
            chart.add_series({"name": name, "categories": ["Цели", 1, 0, r - 1, 0], "values": ["Цели", 1, col, r - 1, col],
                              "fill": {"color": color}})
        chart.set_title({"name": "Факт и цель по показателям"})
        chart.set_size({"width": 720, "height": 320})
        ws.insert_chart(r + 2, 0, chart)


def _roadmap_sheet(book: Book, ws, m, facts: dict, subs: pd.DataFrame):
    """Roadmap items × ОО with each school's status, and per item how many did it and how many are overdue."""
    rs = facts["roadmap_status"]
    schools = list(subs["school_id"])
    reported = {(r.school_id, r.activity_code): (r.status, r.due_in_period) for r in rs.itertuples()}
    rows = []
    for item in m.roadmap:
        statuses = [reported.get((sid, item.code), (None, None)) for sid in schools]
        done = sum(str(status).startswith("выполнено") for status, _ in statuses)
        overdue = sum(due == "да" and item.level != "муниципалитет" and not str(status).startswith("выполнено")
                      for status, due in statuses)
        rows.append([item.code, item.text, item.deadline_text, item.level, *[status or "" for status, _ in statuses], done, overdue])
    book.table(ws, 0, ["Пункт", "Мероприятие", "Срок", "Уровень", *schools, "Выполнено", "Не выполнено при сроке в периоде"], rows)
    ws.set_column(0, 0, 12)
    ws.set_column(1, 1, 60)
    ws.set_column(2, 2, 24)
    ws.set_column(4, 4 + len(schools), 14)


def _submissions_sheet(book: Book, ws, m, all_subs: pd.DataFrame):
    rows = []
    last_of = {rec["school_id"]: rec for rec in all_subs.to_dict("records")}  # ordered by version: the last wins
    for s in m.schools:
        last = last_of.get(s.id)
        if last is None:
            rows.append([s.id, s.name, "не сдан", "", "", "", "", ""])
            continue
        rows.append([s.id, s.name, VERDICT_RU.get(last["verdict"], last["verdict"]), int(last["version"]),
                     f"{last['received_at']:%d.%m.%Y %H:%M}", "да" if last["on_time"] else "нет (просрочено)",
                     int(last["errors"]), int(last["warnings"])])
    book.table(ws, 0, ["Код ОО", "ОО", "Статус приёма", "Версия", "Получен", "В срок", "Ошибок", "Предупреждений"], rows)
    for i, w in enumerate([10, 50, 26, 8, 18, 18, 10, 16]):
        ws.set_column(i, i, w)


def _quality_sheet(con, book: Book, ws, shas: list[str]):
    by_rule = con.execute(
        "SELECT i.rule, any_value(i.severity), count(*) n, count(DISTINCT s.school_id) schools FROM issue i "
        "JOIN submission s USING (sha256) WHERE list_contains(?, i.sha256) GROUP BY i.rule ORDER BY n DESC, i.rule",
        [shas]).fetchall()
    rules = load_catalogue().rules
    book.table(ws, 0, ["Правило", "Описание", "Серьёзность", "Замечаний", "ОО"],
               [[r, rules[r].title, {"error": "ошибка", "warning": "предупреждение"}[sev], n, k] for r, sev, n, k in by_rule])
    by_school = con.execute(
        "SELECT s.school_id, sum(CASE WHEN i.severity = 'error' THEN 1 ELSE 0 END), sum(CASE WHEN i.severity = 'warning' THEN 1 ELSE 0 END) "
        "FROM issue i JOIN submission s USING (sha256) WHERE list_contains(?, i.sha256) GROUP BY 1 ORDER BY 1",
        [shas]).fetchall()
    start = len(by_rule) + 3
    book.table(ws, start, ["ОО", "Ошибок", "Предупреждений"], [[a, int(b), int(c)] for a, b, c in by_school])
    for i, w in enumerate([12, 50, 16, 12, 8]):
        ws.set_column(i, i, w)


def write_regional(con, out_dir: Path, region: str, periods: dict[str, str]) -> Path:
    """One region's workbook: per-municipality aggregates with small-count suppression; no IDs, names or text."""
    ref = load_reference()
    munis = [m for m in ref.municipalities_of(region) if m.code in periods]
    label = "_".join(sorted(p.replace("/", "-") for p in set(periods[m.code] for m in munis)))
    book = Book(out_dir / "region" / f"svod_region_{region}_{label}.xlsx")
    ws = book.sheet("Показатели по МО")
    cov = book.sheet("Охват")
    lin = book.sheet("Происхождение")
    book.text(ws, 0, 0, f"Региональная сводка: {ref.regions[region]}", book.title)
    header = ["Муниципалитет", "Период", *[f"{i.code} {i.title}" for i in INDICATORS]]
    cells: dict[tuple[str, str], tuple[Figure, str]] = {}
    lineage_rows = []
    for m in munis:
        run = con.execute("SELECT run_id, source_file FROM published_run WHERE municipality = ? AND period = ?",
                          [m.code, periods[m.code]]).fetchone()
        origin = "расчёт по отчётам ОО" if run and run[1] is None else f"сводка МО, файл {run[1][:16]}" if run else "нет данных"
        for ind in INDICATORS:
            row = con.execute("SELECT numerator, denominator, figure_id FROM figure WHERE run_id = ? AND indicator = ? AND level = 'municipality'",
                              [run[0], ind.code]).fetchone() if run else None
            f = Figure(ind.code, "municipality", m.code, periods[m.code], row[0] if row else 0, row[1] if row else None)
            cells[(m.code, ind.code)] = (f, row[2] if row else "", origin)
    suppressed = _suppress(cells, [m.code for m in munis])
    rows = []
    for m in munis:
        values = []
        for ind in INDICATORS:
            f, fid, origin = cells[(m.code, ind.code)]
            shown = "< 5" if (m.code, ind.code) in suppressed else (f.value if f.value is not None else "—")
            values.append(shown)
            lineage_rows.append([f"{ind.code}|region|{m.code}|{periods[m.code]}", ind.title, m.name, shown,
                                 f.numerator if (m.code, ind.code) not in suppressed else "скрыто",
                                 (f.denominator if f.denominator is not None else "") if (m.code, ind.code) not in suppressed else "скрыто",
                                 fid, origin])
        rows.append([m.name, periods[m.code], *values])
    totals = []
    for ind in INDICATORS:
        figs = [cells[(m.code, ind.code)][0] for m in munis]
        total = aggregate(figs, ind.code, "region", region, "")
        hidden = ("__total__", ind.code) in suppressed
        totals.append("< 5" if hidden else (total.value if total.value is not None else "—"))
    rows.append(["ИТОГО по региону", "", *totals])
    book.table(ws, 2, header, rows)
    ws.set_column(0, 0, 40)
    ws.set_column(2, 2 + len(INDICATORS), 14)
    ws.set_row(2, 75)
    cov_rows = []
    for m in munis:
        n = con.execute("SELECT count(*) FROM current_submission WHERE municipality = ? AND period = ?", [m.code, periods[m.code]]).fetchone()[0]
        late = con.execute("SELECT count(*) FROM current_submission WHERE municipality = ? AND period = ? AND NOT on_time",
                           [m.code, periods[m.code]]).fetchone()[0]
        cov_rows.append([m.name, periods[m.code], len(m.schools), n, late, len(m.schools) - n])
    book.table(cov, 0, ["Муниципалитет", "Период", "ОО в реестре", "Принято отчётов", "Из них с опозданием", "Нет принятого отчёта"], cov_rows)
    cov.set_column(0, 0, 40)
    book.table(lin, 0, ["ID показателя (регион)", "Показатель", "Муниципалитет", "Значение", "Числитель", "Знаменатель",
                        "ID показателя муниципальной сводки", "Источник"], lineage_rows)
    lin.set_column(0, 6, 30)
    ws.activate()
    return book.close()


def _suppress(cells: dict, munis: list[str]) -> set:
    """Hide person counts below the threshold, plus complementary cells so none can be recovered from totals."""
    hidden = set()
    present = {code for _, code in cells}
    for ind in INDICATORS:
        if ind.sheet not in PERSON_SHEETS or ind.code not in present:
            continue
        small = [m for m in munis if 0 < cells[(m, ind.code)][0].numerator < SUPPRESS_BELOW]
        hidden.update((m, ind.code) for m in small)
        if len(small) == 1:
            others = sorted((cells[(m, ind.code)][0].numerator, m) for m in munis if m not in small and cells[(m, ind.code)][0].numerator > 0)
            if others:
                hidden.add((others[0][1], ind.code))
            else:
                hidden.add(("__total__", ind.code))
    return hidden

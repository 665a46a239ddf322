"""The municipal summary's other sheets: title and coverage, targets against actuals, the roadmap by ОО, who
handed in when, and data quality. Each draws one sheet of a `Book` from warehouse facts and reference data.
"""

from __future__ import annotations

import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline.domain.indicators import BY_CODE
from pipeline.domain.vocabulary import Severity, Verdict
from pipeline.reference import load_reference
from pipeline.xlsx.book import Book
from pipeline.xlsx.summary_layout import lineage_link


def title_sheet(book: Book, ws, m, period, run_id: str, all_subs: pd.DataFrame):
    ref = load_reference()
    latest = all_subs.sort_values("version").groupby("school_id").tail(1).set_index("school_id") if len(all_subs) else pd.DataFrame()
    accepted = [s for s in m.schools if s.id in latest.index and latest.at[s.id, "verdict"] != Verdict.REJECTED]
    rejected = [s for s in m.schools if s.id in latest.index and latest.at[s.id, "verdict"] == Verdict.REJECTED]
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


def targets_sheet(book: Book, ws, m, period, by_key, row_of):
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
            ws.write_url(r, 3, lineage_link(row_of[(t.indicator, m.code)]), fmt, string="—")
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


def roadmap_sheet(book: Book, ws, m, facts: dict, subs: pd.DataFrame):
    """Roadmap items × ОО with each school's status, and per item how many did it and how many are overdue."""
    rs = facts["roadmap_status"]
    finished, municipal = load_catalogue().group("roadmap_done"), load_catalogue().status("roadmap_municipal")
    schools = list(subs["school_id"])
    reported = {(r.school_id, r.activity_code): (r.status, r.due_in_period) for r in rs.itertuples()}
    rows = []
    for item in m.roadmap:
        statuses = [reported.get((sid, item.code), (None, None)) for sid in schools]
        done = sum(status in finished for status, _ in statuses)
        overdue = sum(due == "да" and item.level != municipal and status not in finished
                      for status, due in statuses)
        rows.append([item.code, item.text, item.deadline_text, item.level, *[status or "" for status, _ in statuses], done, overdue])
    book.table(ws, 0, ["Пункт", "Мероприятие", "Срок", "Уровень", *schools, "Выполнено", "Не выполнено при сроке в периоде"], rows)
    ws.set_column(0, 0, 12)
    ws.set_column(1, 1, 60)
    ws.set_column(2, 2, 24)
    ws.set_column(4, 4 + len(schools), 14)


def submissions_sheet(book: Book, ws, m, all_subs: pd.DataFrame):
    rows = []
    last_of = {rec["school_id"]: rec for rec in all_subs.to_dict("records")}  # ordered by version: the last wins
    for s in m.schools:
        last = last_of.get(s.id)
        if last is None:
            rows.append([s.id, s.name, "не сдан", "", "", "", "", ""])
            continue
        rows.append([s.id, s.name, Verdict(last["verdict"]).ru, int(last["version"]),
                     f"{last['received_at']:%d.%m.%Y %H:%M}", "да" if last["on_time"] else "нет (просрочено)",
                     int(last["errors"]), int(last["warnings"])])
    book.table(ws, 0, ["Код ОО", "ОО", "Статус приёма", "Версия", "Получен", "В срок", "Ошибок", "Предупреждений"], rows)
    for i, w in enumerate([10, 50, 26, 8, 18, 18, 10, 16]):
        ws.set_column(i, i, w)


def quality_sheet(con, book: Book, ws, shas: list[str]):
    by_rule = con.execute(
        "SELECT i.rule, any_value(i.severity), count(*) n, count(DISTINCT s.school_id) schools FROM issue i "
        "JOIN submission s USING (sha256) WHERE list_contains(?, i.sha256) GROUP BY i.rule ORDER BY n DESC, i.rule",
        [shas]).fetchall()
    rules = load_catalogue().rules
    book.table(ws, 0, ["Правило", "Описание", "Серьёзность", "Замечаний", "ОО"],
               [[r, rules[r].title, Severity(sev).ru, n, k] for r, sev, n, k in by_rule])
    by_school = con.execute(
        "SELECT s.school_id, count(*) FILTER (WHERE i.severity = ?), count(*) FILTER (WHERE i.severity = ?) "
        "FROM issue i JOIN submission s USING (sha256) WHERE list_contains(?, i.sha256) GROUP BY 1 ORDER BY 1",
        [Severity.ERROR.value, Severity.WARNING.value, shas]).fetchall()
    start = len(by_rule) + 3
    book.table(ws, start, ["ОО", "Ошибок", "Предупреждений"], [[a, int(b), int(c)] for a, b, c in by_school])
    for i, w in enumerate([12, 50, 16, 12, 8]):
        ws.set_column(i, i, w)

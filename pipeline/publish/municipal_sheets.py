"""The municipal summary's other sheets: title and coverage, targets against actuals, the roadmap by ОО, who
handed in when, and data quality. Each draws one sheet of a `Book` from warehouse facts and reference data.
"""

from __future__ import annotations

import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline.domain.figures import shown_value
from pipeline.domain.indicators import BREAKDOWNS, BY_CODE
from pipeline.domain.vocabulary import Severity, Verdict
from pipeline.reference import Target
from pipeline.store import queries
from pipeline.xlsx.book import Book, Cell, wrapped_lines
from pipeline.xlsx.summary_layout import INDICATOR_COLUMNS_PER_PAGE, lineage_link


def title_sheet(
    book: Book, ws, region_name: str, m, period, as_of, all_subs: pd.DataFrame, returned: list[str]
):
    """Who reports on what, coverage in words, and the signature block."""
    latest = (
        all_subs.sort_values("version").groupby("school_id").tail(1).set_index("school_id")
        if len(all_subs)
        else pd.DataFrame()
    )
    accepted = [
        s for s in m.schools if s.id in latest.index and latest.at[s.id, "verdict"] != Verdict.REJECTED
    ]
    rejected = [
        s for s in m.schools if s.id in latest.index and latest.at[s.id, "verdict"] == Verdict.REJECTED
    ]
    sent_back = [s for s in m.schools if s.id in returned]
    missing = [s for s in m.schools if s.id not in latest.index and s.id not in returned]
    late = [s for s in accepted if not bool(latest.at[s.id, "on_time"])]
    book.text(ws, 0, 0, f"Сводный отчёт о наставничестве: {m.name}", book.title)
    rows = [
        ("Субъект РФ", region_name),
        (
            "Отчётный период",
            f"{period.code} ({period.start:%d.%m.%Y} – {period.end:%d.%m.%Y}), срок сдачи {period.deadline:%d.%m.%Y}",
        ),
        ("Данные на", f"{as_of:%d.%m.%Y} (последний учтённый отчёт ОО)"),
        ("Охват", f"приняты отчёты {len(accepted)} из {len(m.schools)} ОО"),
        ("Сданы с опозданием", ", ".join(s.short_name for s in late) or "нет"),
        ("Отклонены (ждём исправления)", ", ".join(s.short_name for s in rejected) or "нет"),
        ("Возвращены на доработку (не учтены)", ", ".join(s.short_name for s in sent_back) or "нет"),
        ("Не сдали", ", ".join(s.short_name for s in missing) or "нет"),
        (
            "Как проверить цифру",
            "Каждая цифра на листе «Показатели по ОО» ведёт на строку листа «Происхождение»: "
            "формула словами и ячейки отчётов ОО, из которых она получена.",
        ),
    ]
    book.title_page(ws, rows)


def technical_sheet(book: Book, ws, run_id: str, reference_version: str):
    """What identifies this summary for svod and its engineers: not for print, but kept with the workbook."""
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 60)
    rows = [
        ("Идентификатор расчёта", run_id),
        ("Версия правил (каталог)", load_catalogue().fingerprint),
        ("Версия справочников", reference_version),
        ("Выпустить заново", f"svod reissue --run {run_id}"),
        ("Проверить цифру", "svod explain --workbook … --cell …"),
    ]
    book.table(ws, 0, ["Что", "Значение"], [list(r) for r in rows])


OP_RU = {">=": "не менее", "<=": "не более"}
LINES_PER_PAGE = 34  # rows of 15 points on a landscape A4 page within its margins, printed at 90 %
CHART_LINES = 16  # rows a 320-pixel chart covers


def targets_sheet(book: Book, ws, all_targets: list[Target], m, period, shown, row_of):
    """The municipality's seed and federal targets against its figures."""
    targets = [t for t in all_targets if t.applies(m.code, period) and t.indicator in BY_CODE]
    target_rows(
        book,
        ws,
        [
            (
                f"{t.indicator} {BY_CODE[t.indicator].title}",
                t,
                shown[(t.indicator, m.code)],
                row_of[(t.indicator, m.code)],
            )
            for t in targets
        ],
    )


def target_rows(book: Book, ws, rows: list[tuple[str, object, float | str | None, int | None]]):
    """Rows of (what, target, actual value, its lineage row) against each target, coloured by whether it is met;
    shares and counts in separate charts, one unit per axis."""
    name = ws.get_name()
    book.table(ws, 0, ["Показатель", "Условие", "Цель", "Факт", "Отклонение", "Источник цели"], [])
    for i, w in enumerate([46, 9, 8, 9, 11, 30]):
        ws.set_column(i, i, w, book.wrap if i in (0, 5) else None)
    rows = sorted(
        rows, key=lambda row: not BY_CODE[row[1].indicator].is_share
    )  # shares, then counts: a range each
    lines = 2  # printed lines used so far: the header row is two
    for r, (what, t, value, lineage_row) in enumerate(rows, start=1):
        unit = BY_CODE[t.indicator].unit
        book.text(ws, r, 0, what, book.wrap)
        lines += book.wrapped_row(ws, r, [(what, 44), (t.source, 28)])
        book.text(ws, r, 1, OP_RU[t.op])
        ws.write_number(r, 2, t.value, book.figure_format(unit))
        if not isinstance(value, int | float):
            book.text(ws, r, 3, value or "нет данных")
        else:
            fmt = book.against_target(value >= t.value if t.op == ">=" else value <= t.value, unit)
            book.linked_figure(ws, r, 3, value, fmt, lineage_link(lineage_row) if lineage_row else None)
            ws.write_number(r, 4, round(value - t.value, 1), fmt)
        book.text(ws, r, 5, t.source, book.wrap)
    shares = sum(BY_CODE[t.indicator].is_share for _, t, _, _ in rows)
    charts = []
    for first, last, unit, title in (
        (1, shares, "%", "Доли, %: факт и цель"),
        (shares + 1, len(rows), "число", "Количество: факт и цель"),
    ):
        if first > last:
            continue
        chart = book.wb.add_chart({"type": "column"})
        for col, series, color in ((2, "Цель", "#A5A5A5"), (3, "Факт", "#5B9BD5")):
            chart.add_series(
                {
                    "name": series,
                    "categories": [name, first, 0, last, 0],
                    "values": [name, first, col, last, col],
                    "fill": {"color": color},
                }
            )
        chart.set_title({"name": title})
        chart.set_y_axis({"name": unit, "num_format": "0", "min": 0})
        charts.append(chart)
    charts_below(ws, charts, len(rows) + 2, lines + 1)


def charts_below(ws, charts: list, at: int, lines: int) -> None:
    """Charts one under another from row `at`, where `lines` printed lines are used above; a chart that would
    not fit on the rest of its page starts a new one."""
    breaks = []
    for chart in charts:
        if lines % LINES_PER_PAGE + CHART_LINES > LINES_PER_PAGE:
            breaks.append(at)
            lines += LINES_PER_PAGE - lines % LINES_PER_PAGE
        chart.set_size({"width": 720, "height": 320})
        ws.insert_chart(at, 0, chart, {"y_offset": 8})  # clear of a page break above it
        at, lines = at + CHART_LINES + 2, lines + CHART_LINES + 2
    ws.set_h_pagebreaks(breaks)


TREND_TITLE_WIDTH = 60  # characters


def trends_sheet(
    book: Book, ws, targets: list[Target], m, period, earlier: list[tuple[str, object, dict]], shown, row_of
):
    """Each indicator now and in the earlier comparable periods held in the warehouse (`Municipality.comparable`),
    with the change; charts over the periods for the indicators with targets, shares and counts apart. Every
    figure links to its lineage row."""
    columns = [p for _, p, _ in earlier] + [period]
    header = [
        "Показатель",
        *[f"{p.code} ({label})" for label, p, _ in earlier],
        period.code,
        *[f"Изменение к {p.code}" for _, p, _ in earlier],
    ]
    targeted = {t.indicator for t in targets if t.applies(m.code, period)}
    codes = sorted(BY_CODE, key=lambda c: (c not in targeted, list(BY_CODE).index(c)))
    book.table(ws, 0, header, [], head_height=45)
    ws.set_column(0, 0, TREND_TITLE_WIDTH, book.wrap)
    ws.set_column(1, len(header) - 1, 11)
    lines = 3
    for r, code in enumerate(codes, start=1):
        ind, now = BY_CODE[code], shown[(code, m.code)]
        book.text(ws, r, 0, f"{code} {ind.title}", book.wrap)
        lines += book.wrapped_row(ws, r, [(f"{code} {ind.title}", TREND_TITLE_WIDTH)])
        values = [_shown(figs.get(code)) for _, _, figs in earlier]
        cells = [(fid, value, row_of.get((fid, "lineage"))) for fid, value in values] + [
            (None, now, row_of[(code, m.code)])
        ]
        for c, (_, value, row) in enumerate(cells, start=1):
            book.linked_figure(
                ws, r, c, value, book.figure_format(ind.unit), lineage_link(row) if row else None
            )
        for c, (_, value) in enumerate(values, start=len(cells) + 1):
            if isinstance(value, int | float) and isinstance(now, int | float):
                ws.write_number(r, c, round(now - value, 1), book.change_format(ind.unit))
    if not earlier:
        book.text(
            ws,
            len(codes) + 2,
            0,
            "В хранилище нет сводок за предыдущие сравнимые периоды: динамика появится со следующим периодом.",
            book.wrap,
        )
        return
    charted, charts = [c for c in codes if c in targeted], []
    for share, title, unit in (
        (True, "Доли с целями по периодам, %", "%"),
        (False, "Показатели с целями по периодам", "число"),
    ):
        rows = [r for r, c in enumerate(codes, start=1) if c in charted and BY_CODE[c].is_share is share]
        if not rows:
            continue
        chart = book.wb.add_chart({"type": "line"})
        for r in rows:
            chart.add_series(
                {
                    "name": ["Динамика", r, 0],
                    "categories": ["Динамика", 0, 1, 0, len(columns)],
                    "values": ["Динамика", r, 1, r, len(columns)],
                    "marker": {"type": "circle"},
                }
            )
        chart.set_title({"name": title})
        chart.set_y_axis({"name": unit, "num_format": "0", "min": 0})
        chart.set_legend({"position": "bottom"})
        charts.append(chart)
    charts_below(ws, charts, len(codes) + 2, lines + 1)


def _shown(earlier: tuple | None) -> tuple[str | None, float | str | None]:
    """(figure id, value as printed) of an earlier figure (`queries.comparable_figures`): its mark where hidden."""
    if earlier is None:
        return None, None
    fid, value, _, _, _, hidden = earlier
    return fid, shown_value(value, hidden)


BREAKDOWN_TITLE_WIDTH = 60  # characters


def breakdowns_sheet(book: Book, ws, columns: list[tuple[str, str]], figure_cell) -> None:
    """Every breakdown of §3 as rows under its name, the whole (municipality or region) first and then each of
    `columns` (entity, name), INDICATOR_COLUMNS_PER_PAGE of them a page with the indicator repeated.
    `figure_cell(code, entity)` gives one linked figure's `Cell` (None for a blank)."""
    book.table(ws, 0, ["Показатель", *[name for _, name in columns]], [], head_height=45)
    ws.set_column(0, 0, BREAKDOWN_TITLE_WIDTH, book.wrap)
    ws.set_column(1, len(columns), 11)
    rows, heights = [], {}
    for label, indicators in BREAKDOWNS.items():
        rows.append([Cell(label, book.bold)])
        for ind in indicators:
            title = f"{ind.code} {ind.title}"
            heights[1 + len(rows)] = 15 * wrapped_lines([(title, BREAKDOWN_TITLE_WIDTH)])
            rows.append([Cell(title, book.wrap), *(figure_cell(ind.code, entity) for entity, _ in columns)])
    book.bulk_rows(ws, 1, rows, heights)
    ws.set_v_pagebreaks(
        list(range(2 + INDICATOR_COLUMNS_PER_PAGE, 1 + len(columns), INDICATOR_COLUMNS_PER_PAGE))
    )
    ws.freeze_panes(1, 2)


def roadmap_sheet(book: Book, ws, m, facts: dict, subs: pd.DataFrame):
    """Roadmap items with how many ОО did each and how many are overdue, then each ОО's status: the item and its
    counts on every page, INDICATOR_COLUMNS_PER_PAGE ОО a page."""
    rs = facts["roadmap_status"]
    finished, municipal = load_catalogue().group("roadmap_done"), load_catalogue().status("roadmap_municipal")
    schools = list(subs["school_id"])
    reported = {(r.school_id, r.activity_code): (r.status, r.due_in_period) for r in rs.itertuples()}
    rows = []
    for item in m.roadmap:
        statuses = [reported.get((sid, item.code), (None, None)) for sid in schools]
        done = sum(status in finished for status, _ in statuses)
        overdue = sum(
            due == "да" and item.level != municipal and status not in finished for status, due in statuses
        )
        rows.append(
            [
                item.code,
                Cell(item.text, book.wrap),
                Cell(done, book.centre),
                Cell(overdue, book.centre),
                Cell(item.deadline_text, book.wrap),
                Cell(item.level, book.wrap),
                *[Cell(status or "", book.wrap) for status, _ in statuses],
            ]
        )
    for c, w in enumerate([8, 46, 10, 12, 16, 12]):
        ws.set_column(c, c, w)
    ws.set_column(6, 5 + max(len(schools), 1), 12)
    header = ["Пункт", "Мероприятие", "Выполнено ОО", "Не выполнено при сроке в периоде", "Срок", "Уровень"]
    book.table(ws, 0, [*header, *schools], [], head_height=45)
    book.bulk_rows(ws, 1, rows)  # an item's status for each of up to a thousand ОО
    ws.set_v_pagebreaks(list(range(6, 6 + len(schools), INDICATOR_COLUMNS_PER_PAGE)))
    ws.freeze_panes(1, 2)


def submissions_sheet(book: Book, ws, m, all_subs: pd.DataFrame):
    rows = []
    last_of = {
        rec["school_id"]: rec for rec in all_subs.to_dict("records")
    }  # ordered by version: the last wins
    for s in m.schools:
        last = last_of.get(s.id)
        if last is None:
            rows.append([s.id, s.short_name, "не сдан", "", "", "", "", ""])
            continue
        rows.append(
            [
                s.id,
                s.short_name,
                Verdict(last["verdict"]).ru,
                int(last["version"]),
                last["received_at"].to_pydatetime(),
                "да" if last["on_time"] else "нет (просрочено)",
                int(last["errors"]),
                int(last["warnings"]),
            ]
        )
    book.table(
        ws,
        0,
        ["Код ОО", "ОО", "Статус приёма", "Версия", "Получен", "В срок", "Ошибок", "Предупреждений"],
        rows,
        formats={3: book.centre, 6: book.centre, 7: book.centre},
        head_height=30,
    )
    for i, w in enumerate([10, 26, 30, 8, 17, 18, 9, 15]):
        ws.set_column(i, i, w)


def quality_sheet(con, book: Book, ws, m, shas: list[str]):
    """Problems in each ОО's current version (its newest in the run), by kind and by ОО, and, apart, the problems
    of earlier versions that the current one no longer has (fixed by resubmitting)."""
    found = queries.issues_by_version(con, shas)
    current_version = found[found["newest"] == 1].groupby("school_id")["version"].first()
    is_current = found["version"].eq(found["school_id"].map(current_version))
    current, earlier = found[is_current & found["rule"].notna()], found[~is_current & found["rule"].notna()]
    same = ["school_id", "rule", "sheet", "cell"]  # the same problem: same ОО, kind and cell
    fixed = earlier.drop_duplicates(same).merge(
        current[same].drop_duplicates(), on=same, how="left", indicator=True
    )
    fixed = fixed[fixed["_merge"] == "left_only"]
    rules = load_catalogue().rules
    kinds = sorted(
        set(current["rule"]) | set(fixed["rule"]),
        key=lambda r: (-int((current["rule"] == r).sum()), -int((fixed["rule"] == r).sum()), r),
    )
    severity = dict(zip(found["rule"], found["severity"], strict=True))
    book.table(
        ws,
        0,
        ["Замечание", "Серьёзность", "В текущих версиях", "ОО", "Исправлено повторной сдачей"],
        [
            [
                rules[r].title,
                Severity(severity[r]).ru,
                int((current["rule"] == r).sum()),
                current.loc[current["rule"] == r, "school_id"].nunique(),
                int((fixed["rule"] == r).sum()),
            ]
            for r in kinds
        ],
        formats={2: book.centre, 3: book.centre, 4: book.centre},
        head_height=30,
    )
    names = {s.id: s.short_name for s in m.schools}
    by_school = [
        [
            names.get(sid, sid),
            int((g["severity"] == Severity.ERROR.value).sum()),
            int((g["severity"] == Severity.WARNING.value).sum()),
        ]
        for sid, g in current.groupby("school_id")
    ]
    book.table(
        ws,
        len(kinds) + 3,
        ["ОО", "Ошибок", "Предупреждений"],
        by_school,
        formats={1: book.centre, 2: book.centre},
        head_height=30,
    )
    ws.freeze_panes(1, 0)
    for i, w in enumerate([48, 14, 12, 8, 17]):
        ws.set_column(i, i, w, book.wrap if i == 0 else None)

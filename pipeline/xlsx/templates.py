"""School templates: one xlsxwriter workbook per (period, municipality, ОО), built from the catalogue.

Everything a curator sees here (sheets, labels, dropdowns, prompts, the instruction sheet) is derived from
`contracts.catalogue` and `pipeline.reference`; this module only lays it out. Reading returns is elsewhere.
"""

from __future__ import annotations

import hashlib
import numbers
import re
from datetime import date, datetime
from pathlib import Path

import xlsxwriter

from contracts.catalogue import Catalogue, Column, load_catalogue
from pipeline.files import atomic_path
from pipeline.reference import Issuer, Municipality, Period, School
from pipeline.xlsx.school_layout import (
    CAPACITY,
    CODE_ROW,
    DEFAULT_CAPACITY,
    FIRST_DATA_ROW,
    GUIDE_SHEET,
    IDENTITY_SHEET,
    LISTS_SHEET,
    TEMPLATE_VERSION,
    Identity,
    column_letter,
)

SHEET_PURPOSE = {
    "meta": "Титульный лист: кто и за какой период отчитывается. Предзаполнен; заполните ответственного, дату и подтверждение руководителя.",
    "school_profile": "Численность обучающихся и педагогов (знаменатели показателей) и нормативная база наставничества ОО. Одна строка.",
    "mentors": "База наставников: одна строка на наставника. ID вида MR-0001 сохраняется из периода в период.",
    "mentees": "База наставляемых: одна строка на наставляемого. ID вида ME-0001 сохраняется из периода в период.",
    "pairs": "Наставнические пары и группы: одна строка на связь «наставник – наставляемый». Группа — несколько строк с одним ID.",
    "programmes": "Программы наставничества ОО: одна строка на программу.",
    "roadmap_status": "Исполнение дорожной карты муниципалитета: пункты предзаполнены, укажите статус и подтверждение.",
    "events": "Мероприятия по наставничеству за период, в которых ОО была организатором или участником.",
    "training": "Повышение квалификации и обучение по наставничеству: одна строка на человека и курс.",
    "best_practices": "Практики наставничества, представленные в банки и на конкурсы. Без ФИО наставляемых!",
    "awards": "Поощрения наставников за период.",
    "partners": "Организации-партнёры и соглашения о сотрудничестве.",
    "survey_summary": "Итоги анкетирования — только агрегаты (число респондентов, средняя оценка), без анкет отдельных людей.",
}
ID_PATTERN = re.compile(r"^\^([A-Z]+-)\\d\{(\d)\}\$$")


def template_name(municipality: str, period: str, school_id: str) -> str:
    return f"{municipality}_{period.replace('/', '-')}_{school_id}.xlsx"


def submission_id(school_id: str, period: str, issued: date) -> str:
    return hashlib.sha256(f"{school_id}|{period}|{issued.isoformat()}".encode()).hexdigest()[:12]


def title_row(m: Municipality, school: School, period: Period, region_name: str) -> dict:
    return {
        "template_version": TEMPLATE_VERSION,
        "municipality_code": m.name,
        "region_code": region_name,
        "school_id": school.id,
        "school_name": school.name,
        "school_type": school.type,
        "report_period_code": period.code,
        "period_start": period.start,
        "period_end": period.end,
    }


def roadmap_rows(m: Municipality, period: Period) -> list[dict]:
    return [
        {
            "activity_code": item.code,
            "activity_name": item.text,
            "deadline_text": item.deadline_text,
            "due_in_period": "да" if item.due_in(period) else "нет",
            "responsible_level": item.level,
        }
        for item in m.roadmap
    ]


class TemplateWriter:
    """Writes one template; formats and list ranges are built once per workbook."""

    def __init__(self, path: Path, catalogue: Catalogue):
        self.catalogue = catalogue
        self.book = xlsxwriter.Workbook(
            str(path),
            {
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "in_memory": True,
            },
        )
        self.book.set_properties({"title": "Мониторинг наставничества", "created": FIXED_DOCUMENT_DATE})
        b = self.book
        self.fmt = {
            "label": b.add_format(
                {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7", "border": 1}
            ),
            "required": b.add_format(
                {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#FCE4D6", "border": 1}
            ),
            "conditional": b.add_format(
                {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#FFF2CC", "border": 1}
            ),
            "code": b.add_format({"font_color": "#808080", "font_size": 8}),
            "open": b.add_format({"locked": False}),
            "open_date": b.add_format({"locked": False, "num_format": "dd.mm.yyyy"}),
            "fixed": b.add_format({"bg_color": "#F2F2F2", "text_wrap": True, "valign": "top"}),
            "fixed_date": b.add_format({"bg_color": "#F2F2F2", "num_format": "dd.mm.yyyy"}),
            "title": b.add_format({"bold": True, "font_size": 14}),
            "bold": b.add_format({"bold": True, "text_wrap": True, "valign": "top"}),
            "wrap": b.add_format({"text_wrap": True, "valign": "top"}),
        }
        self.list_ranges: dict[tuple[str, str], str] = {}

    def write(
        self,
        identity: Identity,
        m: Municipality,
        school: School,
        period: Period,
        prefill: dict[str, list[dict]],
    ):
        self.title = {"school_type": school.type, "municipality_code": m.code}
        self._guide(m, school, period)
        lists = self.book.add_worksheet(LISTS_SHEET)
        self._lists(lists)
        for sheet in self.catalogue.sheets:
            self._sheet(sheet.code, prefill.get(sheet.code, []))
        ident = self.book.add_worksheet(IDENTITY_SHEET)
        for r, (key, value) in enumerate(identity.rows()):
            ident.write_string(r, 0, key)
            ident.write_string(r, 1, value)
        ident.protect()
        ident.very_hidden()
        lists.protect()
        lists.hide()
        self.book.close()

    def _lists(self, ws):
        col = 0
        for sheet in self.catalogue.sheets:
            for c in sheet.columns:
                if c.type != "enum" or not c.values:
                    continue
                ws.write_string(0, col, f"{sheet.code}.{c.code}")
                for r, value in enumerate(c.values, start=1):
                    ws.write_string(r, col, value)
                letter = column_letter(col)
                self.list_ranges[(sheet.code, c.code)] = (
                    f"='{LISTS_SHEET}'!${letter}$2:${letter}${len(c.values) + 1}"
                )
                col += 1

    def _guide(self, m: Municipality, school: School, period: Period):
        ws = self.book.add_worksheet(GUIDE_SHEET)
        ws.set_column(0, 0, 34)
        ws.set_column(1, 1, 110)
        f = self.fmt
        rows = [
            ("Отчёт о наставничестве", ""),
            ("Организация", f"{school.name} (код {school.id})"),
            ("Муниципалитет", m.name),
            (
                "Отчётный период",
                f"{period.code}: {period.start:%d.%m.%Y} – {period.end:%d.%m.%Y} ({period.kind})",
            ),
            ("Срок сдачи", f"{period.deadline:%d.%m.%Y}"),
            ("Куда обращаться", m.contact.text(m.authority)),
            ("", ""),
            (
                "Как заполнять",
                "Заполняйте только белые ячейки. Серые ячейки предзаполнены и защищены. "
                "Заголовки с оранжевой заливкой — обязательные столбцы, с жёлтой — обязательные при условии (условие "
                "показано в подсказке к ячейке), с голубой — необязательные. Для перечней используйте выпадающие списки; "
                "несколько значений вводите через «;». Даты — в формате ДД.ММ.ГГГГ. Не переименовывайте листы и "
                "не удаляйте столбцы. Сохраните файл как «Книга Excel (.xlsx)» и отправьте его в муниципалитет.",
            ),
            (
                "Персональные данные",
                "ФИО обучающихся не выходят за пределы муниципалитета; в регион уходят только "
                "агрегаты. Не пишите ФИО в описаниях и комментариях.",
            ),
            ("", ""),
            ("Лист", "Назначение"),
        ]
        rows += [(s.title, SHEET_PURPOSE[s.code]) for s in self.catalogue.sheets]
        for r, (a, b) in enumerate(rows):
            ws.write_string(r, 0, a, f["title"] if r == 0 else f["bold"])
            ws.write_string(r, 1, b, f["wrap"])
            ws.set_row(r, 15 * max(1, -(-len(b) // 115)))  # wrapped text gets the height it needs
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.protect()
        ws.activate()

    def _sheet(self, code: str, rows: list[dict]):
        sheet = self.catalogue.sheet(code)
        ws = self.book.add_worksheet(sheet.title)
        f = self.fmt
        capacity = max(CAPACITY.get(code, DEFAULT_CAPACITY), len(rows) + DEFAULT_CAPACITY)
        last = FIRST_DATA_ROW - 1 + capacity - 1  # 0-based last data row
        prefilled = {k for row in rows for k in row} if code in ("meta", "roadmap_status") else set()
        for col, c in enumerate(sheet.columns):
            width = min(max(len(c.label) * 0.55 + 4, 12), 42)
            ws.set_column(col, col, width, f["fixed"] if c.code in prefilled else _open_format(f, c))
            required = requirement(c, self.title)
            label = c.label + {"Y": " *", "C": " (*)"}.get(required, "")
            ws.write_string(0, col, label, f[{"Y": "required", "C": "conditional"}.get(required, "label")])
            ws.write_string(CODE_ROW - 1, col, c.code, f["code"])
            if c.code not in prefilled:
                self._validation(ws, col, c, code, last)
        ws.set_row(0, 60)
        ws.set_row(CODE_ROW - 1, None, None, {"hidden": True})
        for r, row in enumerate(rows, start=FIRST_DATA_ROW - 1):
            for col, c in enumerate(sheet.columns):
                if c.code in row and row[c.code] not in (None, ""):
                    _write_value(ws, r, col, row[c.code], f, c.code in prefilled)
        ws.freeze_panes(FIRST_DATA_ROW - 1, 1 if code not in ("meta", "school_profile") else 0)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        ws.protect("", {"format_columns": True, "format_rows": True, "autofilter": True, "sort": False})

    def _validation(self, ws, col: int, c: Column, sheet_code: str, last: int):
        first = FIRST_DATA_ROW - 1
        common = {
            "input_title": c.label[:31],
            "input_message": prompt(c, self.catalogue, self.title)[:255],
            "error_title": "Недопустимое значение",
        }
        if (sheet_code, c.code) in self.list_ranges:
            opts = {
                "validate": "list",
                "source": self.list_ranges[(sheet_code, c.code)],
                "error_message": "Выберите значение из списка.",
            }
        elif c.type == "int":
            opts = {
                "validate": "integer",
                "criteria": "between",
                "minimum": int(c.min or 0),
                "maximum": int(c.max if c.max is not None else 10**9),
                "error_message": "Введите целое число"
                + (f" от {c.min:g}" if c.min is not None else "")
                + ".",
            }
        elif c.type == "decimal":
            opts = {
                "validate": "decimal",
                "criteria": "between",
                "minimum": c.min or 0,
                "maximum": c.max if c.max is not None else 10**9,
                "error_message": f"Введите число от {c.min or 0:g} до {c.max if c.max is not None else 10**9:g}.",
            }
        elif c.type == "date":
            opts = {
                "validate": "date",
                "criteria": "between",
                "minimum": date(2000, 1, 1),
                "maximum": date(2100, 12, 31),
                "error_type": "warning",
                "error_message": "Введите дату в формате ДД.ММ.ГГГГ.",
            }
        elif c.type == "id" and c.pattern and (m := ID_PATTERN.match(c.pattern)):
            prefix, digits = m.group(1), int(m.group(2))
            cell = f"{column_letter(col)}{FIRST_DATA_ROW}"
            opts = {
                "validate": "custom",
                "value": f'=AND(LEN({cell})={len(prefix) + digits},LEFT({cell},{len(prefix)})="{prefix}",'
                f"ISNUMBER(--RIGHT({cell},{digits})))",
                "error_message": f"ID вводится по образцу {c.example}.",
            }
        elif c.max_len:
            opts = {
                "validate": "length",
                "criteria": "<=",
                "value": c.max_len,
                "error_message": f"Не более {c.max_len} символов.",
            }
        else:
            opts = {"validate": "any"}
        ws.data_validation(first, col, last, col, {**common, **opts})


FIXED_DOCUMENT_DATE = datetime(2025, 1, 1)  # stable bytes for the same inputs
KIND_PROMPT = {
    "int": "Целое число",
    "decimal": "Число (дробную часть — через запятую)",
    "date": "Дата ДД.ММ.ГГГГ",
    "enum": "Выберите значение из списка",
    "multi-enum": "Одно или несколько значений из списка через «;»",
    "url": "Ссылка, начинается с http:// или https://",
    "id": "Номер по образцу {example}",
    "ref": "Номер с листа «{target}»",
    "multi-ref": "Номера с листа «{target}» через «;»",
}


def requirement(c: Column, title: dict) -> str:
    """Y, C or N for this school: a condition on the title sheet (school type, municipality) is decided here."""
    source, _, name = (c.required_if.column if c.required_if else "").rpartition(".")
    if c.required == "C" and source == "meta":
        return "Y" if c.required_if.holds(title.get(name)) else "N"
    return c.required


def prompt(c: Column, catalogue: Catalogue, title: dict) -> str:
    """The input prompt of a column, in words a curator reads: what to enter, whether it is required and when.
    `title` holds the school's title facts (school type, municipality) that decide some requirements."""
    target = " / ".join(catalogue.sheet(t.split(".")[0]).title for t in (c.ref or "").split("|") if t)
    what = KIND_PROMPT.get(c.type, "Текст").format(example=c.example, target=target)
    if c.min is not None and c.type in ("int", "decimal"):
        what += f" не меньше {c.min:g}" + (f" и не больше {c.max:g}" if c.max is not None else "")
    if c.max_len:
        what += f", не длиннее {c.max_len} символов"
    for op, other in c.compare:
        what += (
            f"; {'не больше' if op == '<=' else 'не меньше'} «{catalogue.sheet(c.sheet).column(other).label}»"
        )
    required = requirement(c, title)
    if required == "Y":
        need = "Обязательно."
    elif required == "C":
        other = catalogue.sheet(c.sheet).column(c.required_if.column)
        need = f"Обязательно, если {c.required_if.describe(other.label)}."
    else:
        need = "Можно оставить пустым."
    return f"{what}. {need}"


def _open_format(f: dict, c: Column):
    return f["open_date"] if c.type == "date" else f["open"]


def _write_value(ws, r: int, col: int, value, f: dict, fixed: bool):
    if isinstance(value, date):
        ws.write_datetime(
            r, col, datetime(value.year, value.month, value.day), f["fixed_date"] if fixed else f["open_date"]
        )
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        ws.write_number(r, col, value, f["fixed"] if fixed else f["open"])
    else:
        ws.write_string(r, col, str(value), f["fixed"] if fixed else f["open"])


def write_template(
    out_dir: Path,
    issuer: Issuer,
    municipality: str,
    period_code: str,
    school_id: str,
    issued: date,
    carried: dict[str, list[dict]] | None = None,
) -> Path:
    """Write one prefilled, signed template atomically and return its path."""
    ref = issuer.reference
    m = ref.municipalities[municipality]
    period, school = m.period(period_code), m.school(school_id)
    catalogue = load_catalogue()
    identity = Identity(
        template_version=TEMPLATE_VERSION,
        catalogue=catalogue.fingerprint,
        school_id=school.id,
        municipality=m.code,
        period=period.code,
        issued=issued.isoformat(),
        submission_id=submission_id(school.id, period.code, issued),
    ).signed(issuer.signing_key)
    prefill = {
        "meta": [title_row(m, school, period, ref.regions[m.region])],
        "roadmap_status": roadmap_rows(m, period),
        **(carried or {}),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / template_name(m.code, period.code, school.id)
    with atomic_path(path) as tmp:
        TemplateWriter(tmp, catalogue).write(identity, m, school, period, prefill)
    return path

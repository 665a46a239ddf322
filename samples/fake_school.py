"""A fake school curator: fills issued templates the way staff would, by typing values into the template's cells
(reading it with calamine; the filled copy is the template with its sheets' data rows patched, so a filled return
takes milliseconds, not openpyxl's load and save).

Used by the demo, the tests and the benchmarks. Data are plausible and, unless a mistake is asked for,
consistent with every rule; `MISTAKES` lists the errors a curator typically makes, each naming the rule it breaks.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from python_calamine import CalamineWorkbook

from contracts.catalogue import load_catalogue
from pipeline.xlsx.book import SHARED_STRINGS
from pipeline.xlsx.package import Package, attrs, check_well_formed, sheet_parts
from pipeline.xlsx.plain_book import number, shared_item
from pipeline.xlsx.school_layout import CODE_ROW, FIRST_DATA_ROW, IDENTITY_SHEET, column_index, column_letter
from pipeline.xlsx.zipwrite import repack

SURNAMES = [
    "Иванова",
    "Смирнова",
    "Кузнецова",
    "Попова",
    "Васильева",
    "Петрова",
    "Соколова",
    "Михайлова",
    "Новикова",
    "Фёдорова",
    "Морозова",
    "Волкова",
    "Алексеева",
    "Лебедева",
    "Семёнова",
    "Егорова",
    "Павлова",
    "Козлова",
    "Степанова",
    "Николаева",
    "Орлова",
    "Андреева",
    "Макарова",
    "Никитина",
]
MALE_SURNAMES = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
]
FEMALE_NAMES = ["Анна", "Мария", "Елена", "Ольга", "Татьяна", "Наталья", "Ирина", "Светлана", "Юлия", "Дарья"]
MALE_NAMES = ["Алексей", "Дмитрий", "Сергей", "Андрей", "Максим", "Иван", "Артём", "Михаил", "Никита", "Егор"]
PATRONYMICS_F = ["Александровна", "Сергеевна", "Владимировна", "Игоревна", "Николаевна", "Викторовна"]
PATRONYMICS_M = ["Александрович", "Сергеевич", "Владимирович", "Игоревич", "Николаевич", "Викторович"]
SUBJECTS = [
    "математики",
    "русского языка",
    "истории",
    "физики",
    "биологии",
    "английского языка",
    "начальных классов",
    "информатики",
    "химии",
    "литературы",
]

# mistake name -> (rule it breaks, what the curator did)
MISTAKES = {
    "bad_date": ("C05", "дата начала пары введена как «31.02.2025»"),
    "unknown_mentor": ("X02", "в паре указан ID наставника, которого нет в базе"),
    "enum_typo": ("C06", "статус пары введён вручную с опечаткой"),
    "missing_required": ("C01", "не указано ФИО наставника"),
    "not_confirmed": ("M09", "руководитель не подтвердил сведения"),
    "profile_overflow": ("X06", "молодых специалистов в базе больше, чем в профиле"),
}
STATUS = load_catalogue().status
SIZES = {"small": (3, 6), "medium": (6, 14), "large": (14, 40)}


@dataclass
class Person:
    id: str
    name: str
    category: str
    extra: dict = field(default_factory=dict)


def _name(rng: random.Random, female: bool | None = None) -> str:
    female = rng.random() < 0.8 if female is None else female
    if female:
        return f"{rng.choice(SURNAMES)} {rng.choice(FEMALE_NAMES)} {rng.choice(PATRONYMICS_F)}"
    return f"{rng.choice(MALE_SURNAMES)} {rng.choice(MALE_NAMES)} {rng.choice(PATRONYMICS_M)}"


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, max((end - start).days, 0)))


def school_data(
    template: Path, seed: int, size: str = "medium", submitted: date | None = None
) -> dict[str, list[dict]]:
    """Plausible, rule-consistent rows for every sheet of one template."""
    wb = CalamineWorkbook.from_path(str(template))  # read only: faster than openpyxl's reader
    ident = {r[0]: r[1] for r in wb.get_sheet_by_name(IDENTITY_SHEET).to_python()}
    meta = _read_rows(wb, load_catalogue().sheet("meta").title)[0]
    roadmap = _read_rows(wb, load_catalogue().sheet("roadmap_status").title)
    wb.close()
    rng = random.Random(seed)
    p_start, p_end = meta["period_start"], meta["period_end"]
    school_type = meta["school_type"]
    general = school_type == "общеобразовательная организация"
    lo, hi = SIZES[size]
    n_teacher_pairs = rng.randint(lo, hi)
    n_pupil_pairs = rng.randint(lo, hi) if general else 0
    ped_staff = n_teacher_pairs * 3 + rng.randint(10, 30)
    young = n_teacher_pairs + rng.randint(0, 4)
    students = (
        (n_pupil_pairs * 8 + rng.randint(150, 600))
        if general
        else (0 if "дошкольная" in school_type else rng.randint(200, 700))
    )
    profile = {
        "ped_staff_total": ped_staff,
        "young_specialists_0_3": young,
        "teachers_under_35": young + rng.randint(2, 8),
        "new_staff_in_period": rng.randint(0, 3),
        "curator_appointed": "да",
        "curator_order_ref": f"№ {rng.randint(10, 99)}-од от {p_start:%d.%m.%Y}",
        "curator_position": "заместитель директора по УВР",
        "regulation_ref": f"Приказ № {rng.randint(100, 199)} от 01.09.{p_start.year - 1}",
        "roadmap_ref": f"Приказ № {rng.randint(200, 299)} от 02.09.{p_start.year - 1}",
        "roadmap_agreed": "да",
        "upbringing_block": "да",
        "stimulation_act": rng.choice(["да", "нет"]),
        "site_section_url": f"https://school{seed % 1000}.example.ru/nastavnichestvo",
        "young_teacher_school": rng.choice(["да", "нет"]),
        "young_managers_0_2": rng.randint(1, 2),
    }
    if "дошкольная" not in school_type:
        profile["students_total"] = students
    if general:
        profile.update(
            students_grade_5_11=int(students * 0.6),
            students_age_10_18=int(students * 0.55),
            students_age_15_18=int(students * 0.2),
        )
    programmes = [
        {
            "programme_id": "PG-001",
            "title": "Программа наставничества «педагог – педагог»",
            "programme_kind": "программа по форме наставничества",
            "forms": "педагог – педагог",
            "target_group": "молодые специалисты; педагоги",
            "approval_ref": f"Приказ № 15 от 01.09.{p_start.year - 1}",
            "start_date": date(p_start.year - 1, 9, 1),
            "end_date": date(p_end.year + 1, 8, 31),
            "status": STATUS("programme_running"),
            "in_effective_base": "да",
            "network_project": "нет",
        },
    ]
    if general:
        programmes.append(
            {
                "programme_id": "PG-002",
                "title": "Программа наставничества обучающихся",
                "programme_kind": "программа наставничества ОО (общая)",
                "forms": "ученик – ученик; учитель – ученик",
                "target_group": "обучающиеся",
                "approval_ref": f"Приказ № 16 от 01.09.{p_start.year - 1}",
                "start_date": date(p_start.year - 1, 9, 1),
                "end_date": date(p_end.year + 1, 8, 31),
                "status": STATUS("programme_running"),
                "in_effective_base": "нет",
                "network_project": rng.choice(["да", "нет"]),
            }
        )
        if programmes[-1]["network_project"] == "да":
            programmes[-1]["network_partner"] = "Сетевое объединение школ города"
    mentors, mentees, pairs = [], [], []

    def add_pair(mentor: Person, mentee: Person, form: str, programme: str):
        start = _day(rng, p_start - timedelta(days=120), p_start + timedelta(days=30))
        pairs.append(
            {
                "pair_group_id": f"PR-{len(pairs) + 1:04d}",
                "unit_type": "пара",
                "mentor_id": mentor.id,
                "mentee_id": mentee.id,
                "form": form,
                "programme_id": programme,
                "assignment_order_ref": f"№ {rng.randint(300, 399)} от {start:%d.%m.%Y}",
                "start_date": start,
                "planned_end_date": start + timedelta(days=365),
                "status": STATUS("pair_active"),
                "meetings_in_period": rng.randint(2, 20),
                "mentoring_mode": "традиционное (долгосрочное)",
            }
        )

    for _ in range(n_teacher_pairs):
        mentor = Person(f"MR-{len(mentors) + 1:04d}", _name(rng), "педагогический работник ОО")
        mentors.append(mentor)
        mentee = Person(f"ME-{len(mentees) + 1:04d}", _name(rng), "молодой специалист (стаж 0–3 года)")
        mentees.append(mentee)
        add_pair(
            mentor,
            mentee,
            rng.choice(["педагог – педагог", "Педагог-педагог", "учитель – учитель"]),
            "PG-001",
        )
    for i in range(n_pupil_pairs):
        pupil_mentor = i % 2 == 0
        mentor = Person(
            f"MR-{len(mentors) + 1:04d}",
            _name(rng),
            "обучающийся ОО" if pupil_mentor else "педагогический работник ОО",
        )
        mentors.append(mentor)
        mentee = Person(f"ME-{len(mentees) + 1:04d}", _name(rng), "обучающийся")
        mentees.append(mentee)
        add_pair(
            mentor,
            mentee,
            rng.choice(["ученик – ученик", "Ученик-ученик"]) if pupil_mentor else "учитель – ученик",
            "PG-002",
        )
    mentor_rows = []
    for m in mentors:
        row = {
            "mentor_id": m.id,
            "full_name": m.name,
            "mentor_category": m.category,
            "forms_ready": next(p["form"] for p in pairs if p["mentor_id"] == m.id),
            "trained_mentoring": rng.choice(["да, ранее", "нет", "да, ранее"]),
            "pd_consent": "да",
            "status": STATUS("mentor_active"),
            "included_date": _day(rng, p_start - timedelta(days=300), p_start),
        }
        if m.category == "обучающийся ОО":
            row.update(
                position_or_grade=str(rng.randint(9, 11)),
                age_group="15–18 лет",
                pd_consent_by="законным представителем",
            )
        else:
            row.update(
                position_or_grade=f"учитель {rng.choice(SUBJECTS)}",
                ped_experience_years=rng.randint(5, 35),
                qualification_category=rng.choice(["высшая", "первая"]),
                pd_consent_by="субъектом ПДн",
                written_consent_mentoring="да",
                employer_agreement_ref=f"доп. соглашение № {rng.randint(1, 90)} от {p_start:%d.%m.%Y}",
                mentoring_payment=rng.choice(["да", "нет"]),
            )
        mentor_rows.append(row)
    mentee_rows = []
    for me in mentees:
        row = {
            "mentee_id": me.id,
            "full_name": me.name,
            "mentee_category": me.category,
            "pd_consent": "да",
            "status": STATUS("mentee_in_pair"),
            "included_date": _day(rng, p_start - timedelta(days=200), p_start),
            "identified_via": rng.choice(["анкетирование", "запрос наставляемого"]),
        }
        if me.category == "обучающийся":
            grade = rng.randint(5, 9)
            row.update(
                grade=grade,
                age_group="10–14 лет" if grade < 9 else "15–18 лет",
                pd_consent_by="законным представителем",
            )
        else:
            row.update(
                position=f"учитель {rng.choice(SUBJECTS)}",
                ped_experience_years=rng.choice([0.5, 1, 1.5, 2, 3]),
                under_35="да",
                pd_consent_by="субъектом ПДн",
                request_summary="Организация урока и работа с родителями",
            )
        mentee_rows.append(row)
    roadmap_rows = []
    for item in roadmap:
        if item["responsible_level"] == "муниципалитет":
            roadmap_rows.append({})
            continue
        if item["due_in_period"] == "да":
            done = rng.random() < 0.8
            row = {"status": load_catalogue().group("roadmap_done")[0] if done else "в работе"}
            if done:
                row.update(
                    completion_date=_day(rng, p_start, min(p_end, submitted or p_end)),
                    evidence_type="приказ",
                    evidence_ref=f"Приказ № {rng.randint(1, 300)}",
                )
        else:
            row = {"status": "не требуется в отчётном периоде"}
        roadmap_rows.append(row)
    events = [
        {
            "event_id": f"EV-{i + 1:03d}",
            "title": t,
            "event_type": et,
            "topic_legal": legal,
            "level": lvl,
            "school_role": role,
            "date_start": _day(rng, p_start, p_end - timedelta(days=2)),
            "format": "очно",
            "n_mentors": rng.randint(1, len(mentors)),
            "n_mentees": rng.randint(1, len(mentees)),
        }
        for i, (t, et, legal, lvl, role) in enumerate(
            [
                ("Семинар «Нормативная база наставничества»", "семинар", "да", "муниципальный", "участник"),
                (
                    "Заседание Совета наставников",
                    "заседание ШМО / Школы молодого учителя / Совета наставников",
                    "нет",
                    "ОО",
                    "организатор",
                ),
                ("Вебинар «Права и обязанности наставника»", "вебинар", "да", "региональный", "участник"),
            ]
        )
    ]
    training = [
        {
            "person_role": "наставник",
            "person_ref": m.id,
            "course_title": "Наставничество в образовательной организации",
            "provider": "Региональный институт развития образования",
            "hours": 36,
            "status": "завершено",
            "date_end": _day(rng, p_start, p_end),
        }
        for m in mentors[:2]
        if m.category != "обучающийся ОО"
    ]
    for t in training:
        next(r for r in mentor_rows if r["mentor_id"] == t["person_ref"])["trained_mentoring"] = (
            "да, в отчётном периоде"
        )
    practices = [
        {
            "practice_id": "BP-001",
            "title": "Методический десант для молодых педагогов",
            "form": "педагог – педагог",
            "author_mentor_ids": mentors[0].id,
            "programme_id": "PG-001",
            "description": "Серия открытых уроков наставников с последующим разбором.",
            "bank_level": "муниципальный банк (реестр)",
            "status": "включена в банк",
        }
    ]
    awards = [
        {
            "mentor_id": mentors[0].id,
            "award_type": "благодарность/грамота ОО",
            "stage": "награждён",
            "order_ref": f"Приказ № 77 от {p_end:%d.%m.%Y}",
        }
    ]
    partners = [
        {
            "partner_name": "Педагогический колледж",
            "partner_type": "ПОО",
            "agreement_ref": f"Соглашение № 3 от 01.09.{p_start.year - 1}",
            "n_mentors_provided": 0,
        }
    ]
    survey = [
        {
            "respondent_role": "наставляемые",
            "form": "педагог – педагог",
            "survey_stage": "промежуточное",
            "instrument": "анкета по МР Минпросвещения",
            "n_respondents": n_teacher_pairs,
            "mean_score": round(rng.uniform(6.5, 9.5), 1),
            "share_satisfied_pct": rng.randint(60, 100),
        }
    ]
    return {
        "meta": [
            {
                "responsible_position": "заместитель директора по УВР",
                "responsible_name": _name(rng),
                "responsible_contact": "+7 (900) 000-00-00",
                "submission_date": submitted or p_end,
                "director_confirmed": "да",
            }
        ],
        "school_profile": [profile],
        "mentors": mentor_rows,
        "mentees": mentee_rows,
        "pairs": pairs,
        "programmes": programmes,
        "roadmap_status": roadmap_rows,
        "events": events,
        "training": training,
        "best_practices": practices,
        "awards": awards,
        "partners": partners,
        "survey_summary": survey,
        "_identity": [ident],
    }


def make_mistake(data: dict[str, list[dict]], mistake: str) -> None:
    """Introduce one named curator mistake into generated rows (see MISTAKES)."""
    if mistake == "bad_date":
        data["pairs"][0]["start_date"] = "31.02.2025"
    elif mistake == "unknown_mentor":
        data["pairs"][0]["mentor_id"] = "MR-9999"
    elif mistake == "enum_typo":
        data["pairs"][0]["status"] = "действуют"
    elif mistake == "missing_required":
        data["mentors"][0]["full_name"] = None
    elif mistake == "not_confirmed":
        data["meta"][0]["director_confirmed"] = "нет"
    elif mistake == "profile_overflow":
        data["school_profile"][0]["young_specialists_0_3"] = 0
    else:
        raise ValueError(f"unknown mistake {mistake!r}")


def fill(template: Path, out: Path, data: dict[str, list[dict]]) -> Path:
    """Write rows into a copy of the template by machine code (row 2), as a curator types them in: each value in
    the cell's own format (a new cell takes its column's, and a date a date format); text in the shared strings,
    as office suites keep it."""
    raw = template.read_bytes()
    codes = CalamineWorkbook.from_filelike(io.BytesIO(raw))
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        pkg = Package(raw, archive.infolist(), archive)
        parts, dates = sheet_parts(pkg), _date_formats(pkg.read("xl/styles.xml"))
        strings = _SharedStrings(pkg.read(SHARED_STRINGS))
        for sheet in load_catalogue().sheets:
            rows = data.get(sheet.code, [])
            if rows:
                columns = {
                    code: c
                    for c, code in enumerate(codes.get_sheet_by_name(sheet.title).to_python()[CODE_ROW - 1])
                }
                typed = _typed_in(pkg.read(parts[sheet.title]), rows, columns, dates, strings)
                pkg.write(parts[sheet.title], typed)
        pkg.write(SHARED_STRINGS, strings.xml())
        for name, payload in pkg.changed.items():
            check_well_formed(name, payload)
        filled = repack(pkg.data, pkg.infos, pkg.changed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(filled)
    return out


_ROW = re.compile(r'<row\b[^>]*\sr="(\d+)"[^>]*?(?:/>|>.*?</row>)', re.S)
_CELL = re.compile(r'<c\b[^>]*\sr="([A-Z]+)\d+"[^>]*?(?:/>|>.*?</c>)', re.S)
_STYLE = re.compile(r'\ss="(\d+)"')
EXCEL_EPOCH = date(1899, 12, 30)


def _date_formats(styles: str) -> list[int]:
    """The cell formats (indices) that show a date: a built-in date format or a custom one with days or years."""
    custom = {
        int(a["numFmtId"])
        for a in map(attrs, re.findall(r"<numFmt\b[^>]*>", styles))
        if re.search(r"[dy]", re.sub(r'"[^"]*"', "", a.get("formatCode", "")), re.I)
    }
    cell_xfs = re.search(r"<cellXfs\b[^>]*>(.*?)</cellXfs>", styles, re.S)
    formats = [int(attrs(tag).get("numFmtId", 0)) for tag in re.findall(r"<xf\b[^>]*>", cell_xfs[1])]
    return [n for n, f in enumerate(formats) if 14 <= f <= 22 or f in custom]


class _SharedStrings:
    """A workbook's shared strings with the texts typed in appended (each new text once)."""

    def __init__(self, part: str):
        self.part = part
        self.known = len(re.findall(r"<si\b", part))
        self.added: dict[str, int] = {}
        self.uses = 0

    def index(self, text: str) -> int:
        self.uses += 1
        if text not in self.added:
            self.added[text] = self.known + len(self.added)
        return self.added[text]

    def xml(self) -> str:
        items = "".join(map(shared_item, self.added))
        counted = re.sub(
            r"<sst\b[^>]*>",
            lambda m: re.sub(
                r'uniqueCount="\d+"',
                f'uniqueCount="{self.known + len(self.added)}"',
                re.sub(r'\scount="(\d+)"', lambda c: f' count="{int(c[1]) + self.uses}"', m[0]),
            ),
            self.part,
            count=1,
        )
        return counted.replace("</sst>", items + "</sst>", 1)


def _typed_in(
    sheet: str, rows: list[dict], columns: dict[str, int], dates: list[int], strings: _SharedStrings
) -> str:
    """A sheet's XML with `rows` typed into its data rows (from FIRST_DATA_ROW), other cells and rows kept."""
    column_style = {}
    for tag in re.findall(r"<col\b[^>]*>", sheet):
        a = attrs(tag)
        for c in range(int(a["min"]), int(a["max"]) + 1):
            column_style[c - 1] = int(a.get("style", 0))
    head, rest = re.split(r"<sheetData\s*/>|<sheetData>", sheet, maxsplit=1)
    body, tail = rest.split("</sheetData>", 1) if "</sheetData>" in rest else ("", rest)
    existing = {int(m[1]): m[0] for m in _ROW.finditer(body)}
    for r, row in enumerate(rows, start=FIRST_DATA_ROW):
        cells = {
            column_index(m[1]): m[0] for m in _CELL.finditer(existing.get(r, ""))
        }  # column -> its XML, as the template has it
        for code, value in row.items():
            if value is None:
                continue
            c = columns[code]
            style = _STYLE.search(cells[c]) if c in cells else None
            style = int(style[1]) if style else column_style.get(c, 0)
            ref = f"{column_letter(c)}{r}"
            if isinstance(value, str):
                cells[c] = f'<c r="{ref}" s="{style}" t="s"><v>{strings.index(value)}</v></c>'
            elif isinstance(value, bool):
                cells[c] = f'<c r="{ref}" s="{style}" t="b"><v>{int(value)}</v></c>'
            elif isinstance(value, date):
                day = (value - EXCEL_EPOCH).days
                cells[c] = number(ref, day, style if style in dates else dates[0])
            else:
                cells[c] = number(ref, value, style)
        existing[r] = f'<row r="{r}">{"".join(cells[c] for c in sorted(cells))}</row>'
    last_row = max(existing, default=1)
    last_column = max([*columns.values(), 0])
    head = re.sub(
        r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{column_letter(last_column)}{last_row}"/>', head
    )
    body = "".join(existing[r] for r in sorted(existing))
    return f"{head}<sheetData>{body}</sheetData>{tail}"


def _read_rows(wb: CalamineWorkbook, title: str) -> list[dict]:
    """A sheet's data rows by machine code, blank cells as None."""
    rows = [[None if v == "" else v for v in r] for r in wb.get_sheet_by_name(title).to_python()]
    codes = rows[CODE_ROW - 1]
    return [
        dict(zip(codes, r, strict=False)) for r in rows[FIRST_DATA_ROW - 1 :] if any(v is not None for v in r)
    ]

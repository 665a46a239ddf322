"""Reference data: regions, municipalities, their calendars, roadmaps, targets and school registries.

The YAML files beside this module are the data; this module only types and checks them (pydantic) and answers
calendar questions such as «is this roadmap item due in that period?». Nothing here touches workbooks.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel, model_validator

from contracts.catalogue import parse_yaml

HERE = Path(__file__).parent
EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
PHONE = re.compile(r"^\+7 \(\d{3,5}\) [\d-]{5,9}$")
Level = Literal["ОО", "муниципалитет", "совместно"]
_READING = re.compile(
    r"^(?:continuous(?: from (?P<since>\d{4}-\d{2}-\d{2}))?"
    r"|yearly (?P<y1>\d{2}-\d{2})\.\.(?P<y2>\d{2}-\d{2})"
    r"|quarterly (?P<months>[\d,]+)"
    r"|once (?P<o1>\d{4}-\d{2}-\d{2})\.\.(?P<o2>\d{4}-\d{2}-\d{2}))$"
)


class Period(BaseModel):
    code: str
    start: date
    end: date
    deadline: date
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self):
        if not self.start <= self.end:
            raise ValueError(f"period {self.code}: start after end")
        return self

    @property
    def kind(self) -> str:
        return "квартал" if "-Q" in self.code else "учебный год" if "/" in self.code else "календарный год"

    @property
    def label(self) -> str:
        """The period in words, as staff say it: «IV квартал 2025 г.», «2024/2025 учебный год», «2025 год»."""
        if "-Q" in self.code:
            year, quarter = self.code.split("-Q")
            return f"{['I', 'II', 'III', 'IV'][int(quarter) - 1]} квартал {year} г."
        return f"{self.code} учебный год" if "/" in self.code else f"{self.code} год"


class RoadmapItem(BaseModel):
    code: str
    level: Level
    deadline_text: str
    reading: str
    text: str
    seed: str

    @model_validator(mode="after")
    def _reading_parses(self):
        if not _READING.match(self.reading):
            raise ValueError(f"{self.code}: unreadable deadline reading {self.reading!r}")
        return self

    @property
    def kind(self) -> str:
        return self.reading.split()[0]

    def due_in(self, period: Period) -> bool:
        """Whether a deadline of this item falls inside the period (continuous items always do)."""
        m = _READING.match(self.reading)
        if self.kind == "continuous":
            return m["since"] is None or date.fromisoformat(m["since"]) <= period.end
        if self.kind == "once":
            return date.fromisoformat(m["o1"]) <= period.end and date.fromisoformat(m["o2"]) >= period.start
        if self.kind == "quarterly":
            months = {int(x) for x in m["months"].split(",")}
            return any(
                period.start <= _month_end(y, mo) <= period.end
                for y in range(period.start.year, period.end.year + 1)
                for mo in months
            )
        (m1, d1), (m2, d2) = (map(int, m["y1"].split("-")), map(int, m["y2"].split("-")))
        for year in range(period.start.year - 1, period.end.year + 1):
            begin = date(year, m1, d1)
            finish = date(year + (1 if (m2, d2) < (m1, d1) else 0), m2, d2)
            if begin <= period.end and finish >= period.start:
                return True
        return False


def _month_end(year: int, month: int) -> date:
    first_of_next = date(year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(first_of_next.toordinal() - 1)


SHORT_KINDS = {
    "Средняя общеобразовательная школа": "СОШ",
    "Основная общеобразовательная школа": "ООШ",
    "Средняя школа": "СШ",
    "Детский сад": "Д/с",
}


def _first_quoted(name: str) -> str | None:
    """What the first «…» of `name` holds, inner quotes kept balanced: «Центр «Радуга»» -> Центр «Радуга»."""
    depth, start = 0, None
    for i, char in enumerate(name):
        if char == "«":
            depth += 1
            start = i + 1 if start is None else start
        elif char == "»" and depth:
            depth -= 1
            if depth == 0:
                return name[start:i]
    return None


class School(BaseModel):
    id: str
    name: str
    type: Literal[
        "общеобразовательная организация",
        "дошкольная образовательная организация",
        "организация дополнительного образования",
    ]
    size: Literal["small", "medium", "large"]
    email: str  # the ОО's official address
    curator_email: str  # its mentorship curator's address

    @property
    def short_name(self) -> str:
        """The name people use in a table or chart: the quoted part, its kind abbreviated («СОШ № 1»)."""
        short = _first_quoted(self.name) or self.name
        for long, abbreviation in SHORT_KINDS.items():
            short = short.replace(long, abbreviation)
        return short

    @model_validator(mode="after")
    def _addresses(self):
        for address in (self.email, self.curator_email):
            if not EMAIL.match(address):
                raise ValueError(f"school {self.id}: e-mail {address!r} is malformed")
        return self


class Target(BaseModel):
    municipality: str
    indicator: str
    op: Literal[">=", "<="]
    value: float
    year: int | None = None
    source: str

    def applies(self, municipality: str, period: Period) -> bool:
        return self.municipality in ("*", municipality) and self.year in (None, period.end.year)


class Contact(BaseModel):
    """Whom schools turn to about the report: an office or person, a phone and an e-mail."""

    name: str
    phone: str
    email: str

    @model_validator(mode="after")
    def _plausible(self):
        if not EMAIL.match(self.email) or not PHONE.match(self.phone):
            raise ValueError(
                f"contact {self.name!r}: e-mail {self.email!r} or phone {self.phone!r} is malformed"
            )
        return self

    def text(self, authority: str) -> str:
        """In words, for the template and notices."""
        return f"{authority}, {self.name}; тел. {self.phone}; эл. почта {self.email}"


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1, day=min(day.day, 28) if day.month == 2 else day.day)


class Municipality(BaseModel):
    code: str
    name: str
    region: str
    seed: str
    authority: str
    contact: Contact
    periods: list[Period]
    roadmap: list[RoadmapItem]
    schools: list[School]
    reminder_days: int = (
        7  # guess: a week's notice before the deadline (reminder lists, e-mails); per municipality
    )

    def period(self, code: str) -> Period:
        for p in self.periods:
            if p.code == code:
                return p
        raise KeyError(f"period {code!r} is not in the calendar of {self.code}")

    def school(self, school_id: str) -> School | None:
        return self._schools_by_id.get(school_id)

    def comparable(self, period: Period) -> list[tuple[str, Period]]:
        """The earlier periods of the calendar a summary compares with, labelled: the one just before of the same
        kind (the previous quarter or year), and the same period a year earlier; oldest first."""
        before = next(
            (p for p in self.periods if p.kind == period.kind and p.end == period.start - timedelta(days=1)),
            None,
        )
        year_ago = next(
            (
                p
                for p in self.periods
                if (p.start, p.end) == (_year_before(period.start), _year_before(period.end))
            ),
            None,
        )
        if before is not None and before == year_ago:
            return [("предыдущий год", before)]
        return [
            (label, p)
            for label, p in (("год назад", year_ago), ("предыдущий период", before))
            if p is not None
        ]

    @cached_property
    def _schools_by_id(self) -> dict[str, School]:
        return {s.id: s for s in self.schools}


class Reference(BaseModel):
    version: str
    regions: dict[str, str]
    municipalities: dict[str, Municipality]
    targets: list[Target]
    demo_periods: dict[str, str]
    demo_earlier: dict[str, list[str]] = {}  # periods the demo fills first, so its summaries show a trend

    @model_validator(mode="after")
    def _consistent(self):
        for m in self.municipalities.values():
            if m.region not in self.regions:
                raise ValueError(f"{m.code}: unknown region {m.region}")
            ids = [s.id for s in m.schools]
            if len(ids) != len(set(ids)):
                raise ValueError(f"{m.code}: duplicate school ids")
        for code, period in [
            *self.demo_periods.items(),
            *((c, p) for c, ps in self.demo_earlier.items() for p in ps),
        ]:
            self.municipalities[code].period(period)
        return self

    def school_home(self, school_id: str) -> Municipality | None:
        return next((m for m in self.municipalities.values() if m.school(school_id)), None)

    def municipalities_of(self, region: str) -> list[Municipality]:
        return [m for m in self.municipalities.values() if m.region == region]


class Issuer(NamedTuple):
    """What a returned file is checked against: the key its template was signed with and the folder of the
    reference data it was issued from (None: the bundled sample). Small, so it travels to the isolated workers,
    which load the reference from the folder (cached, and loaded before they are forked)."""

    signing_key: str
    reference_dir: Path | None = None

    @property
    def reference(self) -> Reference:
        return load_reference(self.reference_dir)


def load_reference(folder: Path | None = None) -> Reference:
    """The reference data in `folder` (a region's own copy of the three files), else the bundled sample."""
    return _load(Path(folder) if folder else HERE)


@cache
def _load(folder: Path) -> Reference:
    raw = {
        name: (folder / name).read_bytes() for name in ("territories.yaml", "roadmaps.yaml", "schools.yaml")
    }
    territories = parse_yaml(raw["territories.yaml"])
    roadmaps = parse_yaml(raw["roadmaps.yaml"])
    schools = parse_yaml(raw["schools.yaml"])
    municipalities = {
        code: Municipality(
            code=code,
            **body,
            roadmap=[
                RoadmapItem(
                    code=c, level=lv, deadline_text=dl, reading=rd, text=tx, seed=roadmaps[code]["seed"]
                )
                for c, lv, dl, rd, tx in roadmaps[code]["items"]
            ],
            schools=schools[code],
        )
        for code, body in territories["municipalities"].items()
    }
    return Reference(
        version=hashlib.sha256(b"".join(raw.values())).hexdigest()[:16],
        regions=territories["regions"],
        municipalities=municipalities,
        targets=territories["targets"],
        demo_periods=territories["demo_periods"],
        demo_earlier=territories.get("demo_earlier", {}),
    )

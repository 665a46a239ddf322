"""The one rule catalogue: every sheet, column and rule of the school workbook.

Built from `data_dictionary.csv` (labels, types, required flags, plain value lists), `catalogue.yaml` (the
machine reading of what the dictionary says in prose) and `rules.yaml` (rule codes and their Russian texts).
Templates, pandera schemas, ingest checks and feedback all read from here; nothing else restates a rule.
"""

from __future__ import annotations

import csv
import hashlib
import re
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel

HERE = Path(__file__).parent
ColumnType = Literal[
    "string", "text", "int", "decimal", "date", "enum", "multi-enum", "ref", "multi-ref", "id", "url"
]

_DASHES = re.compile(r"\s*[-‐‑‒–—−]\s*")
_QUOTES = re.compile(r"[«»\"“”„'`]")
_SPACES = re.compile(r"[\s\u00a0\u200b\u2009\u202f]+")
_LOOKALIKES = str.maketrans("aceopxyk", "асеорхук")  # Latin letters typed inside Cyrillic words


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it


def parse_yaml(text: bytes | str):
    """YAML as `yaml.safe_load` reads it, through libyaml's C parser when present (a registry of a thousand ОО
    loads in 0.04 s instead of 0.3 s: every process that reads the reference pays it)."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader


def normal_key(text: str) -> str:
    """The form in which two spellings of one value compare equal (case, ё/е, dashes, quotes, spaces)."""
    text = _QUOTES.sub("", text.replace("\u200b", "")).lower().replace("ё", "е")
    if re.search("[а-я]", text):
        text = text.translate(_LOOKALIKES)
    return _SPACES.sub(" ", _DASHES.sub("-", text)).strip()


class Condition(BaseModel):
    column: str
    in_: list | None = None
    not_in: list | None = None
    gt: float | None = None

    model_config = {"populate_by_name": True}

    def holds(self, value) -> bool:
        if self.gt is not None:
            return value is not None and value > self.gt
        if value is None:
            return False
        if self.in_ is not None:
            return value in self.in_
        return value not in (self.not_in or [])

    def describe(self, label: str) -> str:
        if self.gt is not None:
            return f"«{label}» больше {self.gt:g}"
        if self.in_ is not None:
            return f"«{label}» = «{'», «'.join(map(str, self.in_))}»"
        return f"«{label}» не «{'», «'.join(map(str, self.not_in or []))}»"


SeverityWord = Literal[
    "error", "warning"
]  # `pipeline.domain.vocabulary.Severity`'s values (tests/test_catalogue.py)


class Column(BaseModel):
    sheet: str
    code: str
    label: str
    type: ColumnType
    required: Literal["Y", "N", "C"]
    required_text: str
    required_if: Condition | None = None
    missing_severity: SeverityWord = "error"
    values: list[str] = []
    synonyms: dict[str, str] = {}
    reference: str | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    max_len: int | None = None
    ref: str | None = None
    compare: list[tuple[str, str]] = []
    allowed_text: str
    check_text: str
    source: str
    personal_data: str

    @property
    def is_enum(self) -> bool:
        return bool(self.values)

    def canonical(self, text: str) -> str | None:
        """The canonical list value for any accepted spelling, or None."""
        return self.synonyms.get(normal_key(text))

    @property
    def example(self) -> str:
        return re.sub(r"\\d\{(\d)\}", lambda m: "0" * (int(m.group(1)) - 1) + "1", self.pattern or "").strip(
            "^$"
        )


class Sheet(BaseModel):
    code: str
    title: str
    columns: list[Column]

    def column(self, code: str) -> Column:
        return self._by_code[code]

    @cached_property
    def _by_code(self) -> dict[str, Column]:
        return {c.code: c for c in self.columns}


class Rule(BaseModel):
    code: str
    severity: SeverityWord
    title: str
    message: str
    fix: str


class FormRule(BaseModel):
    mentors: list[str]
    mentees: list[str]
    mentors_guess: list[str] = []
    guess: bool = False


class Catalogue(BaseModel):
    version: str
    fingerprint: str
    sheets: list[Sheet]
    rules: dict[str, Rule]
    form_matrix: dict[str, FormRule]
    thresholds: dict[str, float]
    identities: dict[str, tuple[str, ...]]  # name -> the columns that make two rows of different ОО one thing
    keys: dict[str, str]  # sheet -> its key column
    statuses: dict[str, str]  # name -> the list value the pipeline's logic turns on
    groups: dict[str, tuple[str, ...]]  # name -> list values counted together

    def status(self, name: str) -> str:
        return self.statuses[name]

    def group(self, name: str) -> tuple[str, ...]:
        return self.groups[name]

    def sheet(self, code: str) -> Sheet:
        return self._by_code[code]

    @cached_property
    def _by_code(self) -> dict[str, Sheet]:
        return {s.code: s for s in self.sheets}

    def column(self, dotted: str) -> Column:
        sheet, code = dotted.split(".")
        return self.sheet(sheet).column(code)


def _synonyms(values: list[str], extra: dict[str, list[str]]) -> dict[str, str]:
    table = {}
    for value in values:
        for spelling in [value, *extra.get(value, [])]:
            table[normal_key(spelling)] = value
    return table


@cache
def load_catalogue() -> Catalogue:
    """Read and cross-check the three catalogue files; cached for the process."""
    raw = {
        name: (HERE / name).read_bytes() for name in ("data_dictionary.csv", "catalogue.yaml", "rules.yaml")
    }
    overlay = parse_yaml(raw["catalogue.yaml"])
    lists = {
        name: ([item["value"] for item in items], {item["value"]: item.get("synonyms", []) for item in items})
        for name, items in overlay["lists"].items()
    }
    extra = overlay["columns"]
    sheets: dict[str, Sheet] = {}
    for row in csv.DictReader(raw["data_dictionary.csv"].decode("utf-8").splitlines()):
        spec = extra.get(f"{row['sheet']}.{row['code']}", {})
        values, syn = [], {}
        if "values_from" in spec:
            values, syn = lists[spec["values_from"]]
            values = values + spec.get("also", [])
        elif "values" in spec:
            values = spec["values"]
        elif row["type"] in ("enum", "multi-enum") and "reference" not in spec:
            values = [v.strip() for v in row["allowed_values"].split(";") if v.strip()]
        cond = spec.get("required_if")
        column = Column(
            sheet=row["sheet"],
            code=row["code"],
            label=row["label_ru"],
            type=row["type"],
            required=row["required"][0],
            required_text=row["required"],
            required_if=Condition(
                column=cond["column"], in_=cond.get("in"), not_in=cond.get("not_in"), gt=cond.get("gt")
            )
            if cond
            else None,
            missing_severity=spec.get("severity", "error"),
            values=values,
            synonyms=_synonyms(values, syn),
            reference=spec.get("reference"),
            pattern=spec.get("pattern"),
            min=spec.get("min"),
            max=spec.get("max"),
            max_len=spec.get("max_len"),
            ref=spec.get("ref"),
            compare=[tuple(c) for c in spec.get("compare", [])],
            allowed_text=row["allowed_values"],
            check_text=row["validation"],
            source=row["source"],
            personal_data=row["personal_data"],
        )
        sheets.setdefault(row["sheet"], Sheet(code=row["sheet"], title=row["sheet_ru"], columns=[]))
        sheets[row["sheet"]].columns.append(column)
    unknown = set(extra) - {f"{s.code}.{c.code}" for s in sheets.values() for c in s.columns}
    if unknown:
        raise ValueError(f"catalogue.yaml names columns missing from the dictionary: {sorted(unknown)}")
    rules = {code: Rule(code=code, **body) for code, body in parse_yaml(raw["rules.yaml"]).items()}
    columns = {f"{s.code}.{c.code}": c for s in sheets.values() for c in s.columns}
    named = {
        **{name: (where, [value]) for name, (where, value) in overlay["statuses"].items()},
        **{name: (where, values) for name, (where, values) in overlay["groups"].items()},
    }
    for name, (where, values) in named.items():
        if where not in columns or not set(values) <= set(columns[where].values):
            raise ValueError(f"catalogue.yaml: {name} names values that {where} does not have: {values}")
    for sheet, key in overlay["keys"].items():
        if f"{sheet}.{key}" not in columns:
            raise ValueError(f"catalogue.yaml: key {sheet}.{key} is not a dictionary column")
    return Catalogue(
        version=overlay["version"],
        fingerprint=hashlib.sha256(b"".join(raw.values())).hexdigest()[:16],
        sheets=list(sheets.values()),
        rules=rules,
        form_matrix={k: FormRule(**v) for k, v in overlay["form_matrix"].items()},
        thresholds=overlay["thresholds"],
        identities={name: tuple(columns) for name, columns in overlay["identities"].items()},
        keys=overlay["keys"],
        statuses={name: value for name, (_, value) in overlay["statuses"].items()},
        groups={name: tuple(values) for name, (_, values) in overlay["groups"].items()},
    )

"""Where things are in svod's summary workbooks: sheet names, file names, the lineage sheet and the link from a
figure to its lineage row, the machine-readable figures sheet and the signed seal.

The writers (`pipeline.publish.municipal`, `.regional`) lay workbooks out by these facts, and the readers
(`pipeline.publish.lineage` for `svod explain`, `pipeline.intake.upstream` for the regional tier) find things by
them, so a sheet renamed here is renamed for both.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from pipeline.signing import SignedRecord

LINEAGE_SHEET = "Происхождение"
FIGURE_ID_HEADER = "ID показателя"  # column A of the lineage sheet: the figure each row explains
FIRST_LINEAGE_ROW = 2  # Excel row of the first figure on the lineage sheet
TECHNICAL_SHEET = "Служебное"  # run id, rule and reference versions: what a machine or an engineer reads
MUNICIPAL_SHEETS = (
    "Титул",
    "Показатели по ОО",
    "Разрезы",
    "Цели",
    "Динамика",
    "Дорожная карта",
    "Сдача отчётов",
    "Качество данных",
    LINEAGE_SHEET,
    TECHNICAL_SHEET,
)
INDICATOR_COLUMNS_PER_PAGE = 10  # printed wide tables break after this many figure columns
REGIONAL_SHEETS = ("Титул", "Показатели по МО", "Разрезы", "Цели", "Динамика", "Охват", LINEAGE_SHEET)
DATA_SHEET, SEAL_SHEET = "_data", "_svod"
DATA_HEADER = ["figure_id", "indicator", "level", "entity", "period", "numerator", "denominator"]
HISTORY = "история"  # every issued municipal summary is also kept under its run id
_LINK = re.compile(r"'?([^'!]+)'?!A(\d+)$")


def lineage_link(row: int) -> str:
    """The in-workbook link from a figure's cell to its row on the lineage sheet."""
    return f"internal:'{LINEAGE_SHEET}'!A{row}"


def linked_row(location: str) -> int | None:
    """The lineage row a figure cell's link points at, or None."""
    m = _LINK.search(location or "")
    return int(m.group(2)) if m and m.group(1) == LINEAGE_SHEET else None


def municipal_stem(municipality: str, period: str) -> str:
    return f"svod_{municipality}_{period.replace('/', '-')}"


def municipal_paths(out: Path, municipality: str, period: str, run_id: str) -> tuple[Path, Path]:
    """(the latest summary, the copy kept under the run id)."""
    stem = municipal_stem(municipality, period)
    return out / municipality / f"{stem}.xlsx", out / municipality / HISTORY / f"{stem}_{run_id}.xlsx"


def regional_path(out: Path, region: str, periods: set[str]) -> Path:
    label = "_".join(sorted(p.replace("/", "-") for p in periods))
    return out / "region" / f"svod_region_{region}_{label}.xlsx"


def regional_files(out: Path, region: str) -> list[Path]:
    """Every regional summary published for the region (any periods), by name: its own files only, not those of a
    region whose code begins with this one's (period labels begin with a digit, region codes never do)."""
    own = re.compile(rf"svod_region_{re.escape(region)}_\d[\w-]*\.xlsx")
    return sorted(p for p in (out / "region").glob(f"svod_region_{region}_*.xlsx") if own.fullmatch(p.name))


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
    canon = [
        [
            f"{v:.6g}"
            if isinstance(v, int | float) and not isinstance(v, bool)
            else ("" if v is None else str(v))
            for v in row
        ]
        for row in rows
    ]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode()).hexdigest()

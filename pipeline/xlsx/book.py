"""A deterministic, safe xlsxwriter workbook for svod's summaries, with the formats they share.

Strings are always written as strings (never formulas or links), text gets a quote-prefix style so it stays
text when re-edited, control characters are stripped, document dates are fixed (the same inputs give the same
bytes), and the file appears under its name only when complete (`pipeline.files.atomic_path`).
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pandas as pd
import xlsxwriter
import xlsxwriter.exceptions

from pipeline.files import atomic_path

FIXED_DOCUMENT_DATE = datetime(2025, 1, 1)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def safe_text(value) -> str:
    """Text with control characters stripped; always written with write_string and a quote-prefix style."""
    return _CONTROL.sub("", "" if value is None else str(value))


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not pd.isna(v)


class Book:
    """An xlsxwriter workbook written to a temporary file and renamed into place by `close()`."""

    def __init__(self, path: Path):
        self.path = path
        self._pending = ExitStack()
        self.tmp = self._pending.enter_context(atomic_path(path))
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
                if _is_number(v):
                    ws.write_number(r, c, v)
                else:
                    self.text(ws, r, c, "" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
        ws.freeze_panes(r0 + 1, 0)

    def close(self) -> Path:
        """Finish the temp file and rename it into place; on a write error the old file stays and the temp goes."""
        try:
            self.wb.close()
        except xlsxwriter.exceptions.FileCreateError as exc:
            cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else OSError(str(exc))
            self._pending.__exit__(type(cause), cause, None)  # the temp file goes, the old file stays
            raise cause from exc
        self._pending.close()
        return self.path

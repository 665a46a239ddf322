"""Layout facts of the school workbook and its signed identity, shared by the template writer and the reader.

Row 1 holds Russian labels, row 2 (hidden) the machine codes the reader keys on, data start at row 3. A very
hidden sheet carries the identity of the issued template, signed with HMAC so that ingest can tell an edited,
foreign or outdated file from the real one.
"""

from __future__ import annotations

from functools import cache

from pipeline.signing import SignedRecord

LABEL_ROW, CODE_ROW, FIRST_DATA_ROW = 1, 2, 3
IDENTITY_SHEET = "_svod"
LISTS_SHEET = "Списки"
GUIDE_SHEET = "Инструкция"
TEMPLATE_VERSION = "2025.1"
CAPACITY = {"mentors": 2000, "mentees": 5000, "pairs": 6000, "meta": 1, "school_profile": 1}
DEFAULT_CAPACITY = 500


@cache
def column_letter(index: int) -> str:
    """0-based column index -> Excel letters."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_index(letters: str) -> int:
    """Excel letters -> 0-based column index (the inverse of `column_letter`)."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


class Identity(SignedRecord):
    """What the template was issued for; signed, stored on the identity sheet as key/value rows."""

    template_version: str
    catalogue: str
    school_id: str
    municipality: str
    period: str
    issued: str
    submission_id: str

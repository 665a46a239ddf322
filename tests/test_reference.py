"""Reference data against the seed documents, and the calendar logic that decides what is due."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from pipeline.reference import Period, RoadmapItem, load_reference

SEEDS = Path(__file__).resolve().parent.parent.parent / "shared" / "seeds"
# How each seed numbers its roadmap items (section headings excluded).
ITEM_PATTERNS = {
    "kedrovy": re.compile(r"^\t(\d+)\.?\s*$", re.M),
    "levokumsky": re.compile(r"^(\d+)\.?\t(?!2\t3)", re.M),
    "nazarovo": re.compile(r"^(\d+\.\d+)\.?\t", re.M),
    "voskresensky": re.compile(r"^(\d+\.\d+)\.?\t", re.M),
    "arkhangelsk": re.compile(r"^\t(\d+\.\d+)\s*$", re.M),
}


@pytest.mark.parametrize("code", sorted(ITEM_PATTERNS))
def test_every_seed_roadmap_item_is_in_the_reference(code):
    m = load_reference().municipalities[code]
    seed = SEEDS / m.seed
    if not seed.exists():
        pytest.skip("shared/seeds is not beside this checkout")
    in_seed = sorted(ITEM_PATTERNS[code].findall(seed.read_text(encoding="utf-8")))
    ours = sorted(item.code.rsplit("-", 1)[-1] for item in m.roadmap)
    assert ours == in_seed
    assert all(item.seed == m.seed for item in m.roadmap)


def test_school_level_items_exist_for_every_municipality():
    for m in load_reference().municipalities.values():
        school_level = [i for i in m.roadmap if i.level != "муниципалитет"]
        assert school_level, m.code
        assert len({i.code for i in m.roadmap}) == len(m.roadmap)


def test_registry_sizes_are_plausible():
    ref = load_reference()
    assert len(ref.municipalities["arkhangelsk"].schools) >= 24
    assert len(ref.municipalities["kedrovy"].schools) <= 10
    for m in ref.municipalities.values():
        assert {s.type for s in m.schools} >= {
            "общеобразовательная организация",
            "дошкольная образовательная организация",
        }


def _item(reading: str) -> RoadmapItem:
    return RoadmapItem(code="T-1", level="ОО", deadline_text="", reading=reading, text="", seed="")


Q1 = Period(code="2025-Q1", start=date(2025, 1, 1), end=date(2025, 3, 31), deadline=date(2025, 4, 10))
Q2 = Period(code="2025-Q2", start=date(2025, 4, 1), end=date(2025, 6, 30), deadline=date(2025, 7, 10))
YEAR = Period(code="2024/2025", start=date(2024, 9, 1), end=date(2025, 8, 31), deadline=date(2025, 5, 31))


@pytest.mark.parametrize(
    "reading, period, due",
    [
        ("quarterly 3,6,9,12", Q1, True),
        ("yearly 11-01..12-31", Q1, False),
        ("yearly 11-01..12-31", YEAR, True),
        ("yearly 09-01..05-31", Q2, True),  # an academic-year range wraps the new year
        ("yearly 06-01..08-31", Q1, False),
        ("once 2023-02-01..2023-02-28", YEAR, False),
        ("once 2024-01-01..2025-12-31", Q2, True),
        ("continuous from 2025-04-01", Q1, False),
        ("continuous from 2025-04-01", Q2, True),
        ("continuous", Q1, True),
    ],
)
def test_due_in_period(reading, period, due):
    assert _item(reading).due_in(period) is due


def test_unreadable_reading_is_refused():
    with pytest.raises(ValueError):
        _item("every full moon")


def test_targets_from_the_seeds():
    ref = load_reference()
    arkh = {(t.indicator, t.year): t.value for t in ref.targets if t.municipality == "arkhangelsk"}
    assert arkh[("I07", 2023)] == 25 and arkh[("I07", 2024)] == 35 and arkh[("I07", 2025)] == 45
    assert arkh[("I09", None)] == 5 and arkh[("I10", None)] == 2
    q4 = ref.municipalities["arkhangelsk"].period("2025-Q4")
    applicable = [t for t in ref.targets if t.applies("arkhangelsk", q4) and t.indicator == "I07"]
    assert [t.value for t in applicable] == [45]

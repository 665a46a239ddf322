"""Where summaries are found by name: a region sees its own regional files only."""

from __future__ import annotations

from pipeline.xlsx.summary_layout import regional_files, regional_path


def test_a_region_whose_code_begins_another_s_does_not_see_its_files(tmp_path):
    (tmp_path / "region").mkdir()
    theirs = regional_path(tmp_path, "tomsk_obl", {"2025"})
    ours = regional_path(tmp_path, "tomsk", {"2025-Q4", "2025"})
    for path in (theirs, ours):
        path.write_bytes(b"")
    assert regional_files(tmp_path, "tomsk") == [ours]
    assert regional_files(tmp_path, "tomsk_obl") == [theirs]

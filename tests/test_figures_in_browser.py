"""The numbers in the browser: the methodist's indicators page prints the published figures as the summary does
(hidden ones as their mark), each traces to the school cells it came from, and every page keeps its scope (a
methodist their municipality, a region aggregates of its own municipalities only)."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import pytest
from django.conf import settings

from cabinet.figures import shown
from cabinet.models import Role
from pipeline.domain.figures import FigureId
from pipeline.domain.indicators import BY_CODE
from pipeline.in_process import consolidate
from pipeline.publish import lineage
from pipeline.store import queries
from tests.support.cabinet import client_for
from tests.test_one_truth import hand_in_by_mail

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]
M, P, REGION = "voskresensky", "2025", "saratov_obl"


def page_text(response) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def test_the_numbers_are_in_the_browser_as_in_the_summary_and_trace_to_school_cells():
    ws = settings.WORKSPACE
    hand_in_by_mail(ws, [(M, P, REGION)])
    consolidate(ws, [(M, P)], settle=0)
    with ws.connect(read_only=True) as con:
        rows = queries.published_indicators(con, [M], ["municipality", "school"])
        rows = rows[rows["period"] == P]
        municipal = rows[rows["level"] == "municipality"]
        traced_id = next(
            r.figure_id
            for r in municipal.itertuples()
            if not BY_CODE[r.indicator].breakdown and isinstance(r.value, float) and r.hidden is None
        )
        traced = lineage.trace(con, FigureId.parse(traced_id))
    methodist = client_for(Role.METHODIST, M)

    page = page_text(methodist.get(f"/m/{M}/{P}/indicators/"))
    for r in municipal.itertuples():  # every headline as the summary prints it
        if not BY_CODE[r.indicator].breakdown:
            assert shown(r.value, r.hidden, BY_CODE[r.indicator].unit) in page, r.indicator
    hidden = rows[(rows["level"] == "school") & rows["hidden"].notna()]
    for code in hidden["indicator"].unique()[:3]:  # a hidden figure by ОО shows its mark, not a number
        by_school = page_text(methodist.get(f"/m/{M}/{P}/indicators/?indicator={code}"))
        assert all(mark in by_school for mark in hidden[hidden["indicator"] == code]["hidden"]), code

    figure = page_text(methodist.get(f"/figure/{quote(traced_id, safe='/')}/"))
    assert traced["sources"], "a headline count comes from school cells"
    for source in traced["sources"][:10]:  # the cells, file hash and version of its lineage
        assert source["cell"] in figure and source["sha256"][:16] in figure and source["sheet"] in figure
    assert BY_CODE[traced["indicator"]].title in figure

    other = client_for(Role.METHODIST, "kedrovy")
    assert other.get(f"/figure/{quote(traced_id, safe='/')}/").status_code == 404
    assert other.get(f"/m/{M}/{P}/indicators/").status_code in (403, 404)
    region = client_for(Role.REGION, REGION)
    seen = page_text(region.get(f"/figure/{quote(traced_id, safe='/')}/"))
    assert "Ячейки отчётов ОО (" not in seen  # a region sees how it is made, not the schools' cells
    assert shown(
        municipal.set_index("figure_id").loc[traced_id, "value"], None, BY_CODE[traced["indicator"]].unit
    ) in page_text(region.get(f"/region/{REGION}/indicators/?indicator={traced['indicator']}"))
    school_figure = rows[rows["level"] == "school"].iloc[0].figure_id
    assert region.get(f"/figure/{quote(school_figure, safe='/')}/").status_code == 404
    assert (
        client_for(Role.REGION, "tomsk_obl").get(f"/figure/{quote(traced_id, safe='/')}/").status_code == 404
    )
    assert client_for(Role.SCHOOL, "VOS-001").get(f"/m/{M}/{P}/indicators/").status_code in (403, 404)

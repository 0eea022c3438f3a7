"""The 拟确定名单 export runs a fixed number of queries however long the list is (issue 9: no query per row)."""

from __future__ import annotations

import io

import pandas as pd

from tests.scoring.test_selection import _score


def _export(client, count_queries, programme: int):
    with count_queries() as counter:
        response = client.get(f"/scoring/programmes/{programme}/selection.xlsx")
    assert response.status_code == 200
    frame = pd.read_excel(io.BytesIO(response.data), header=2).dropna(subset=["编号"])
    return counter.count, list(frame[frame["编号"] != "合计"]["编号"])


def test_selection_export_queries_do_not_grow_with_the_list(app, client, login_as, scoring, count_queries):
    login_as("bureau")
    _score(app, scoring, {(0, 0): (40, 20, 40, 0), (1, 0): (30, 15, 30, 0), (2, 0): (20, 10, 20, 0)})
    base = f"/scoring/programmes/{scoring.programme}/selection"
    client.post(f"{base}/propose")
    client.post(f"{base}/tier", data={"application_id": scoring.applications[0], "tier_id": scoring.tiers[0]})
    client.get(f"{base}.xlsx")  # warm: what is loaded once per process is not counted
    short, listed = _export(client, count_queries, scoring.programme)
    assert listed == ["T-1", "T-2"]
    # One more entry, in another township and on another tier: the same number of queries.
    client.post(f"{base}/add", data={"in_id": scoring.applications[2], "reason": "增列"})
    client.post(f"{base}/tier", data={"application_id": scoring.applications[2], "tier_id": scoring.tiers[1]})
    client.get(f"{base}.xlsx")  # the ranking is looked up again once after any change, then remembered
    longer, listed = _export(client, count_queries, scoring.programme)
    assert listed == ["T-1", "T-2", "T-3"]
    assert longer == short

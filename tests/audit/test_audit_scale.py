"""The audit log at province scale (issue 9): the search counts no further than a limit and pages only that far, each
filter has an index in the page's order, and the export is capped with a note saying so."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from app.audit import views as audit_views
from app.audit.models import AuditAction, AuditLog
from app.database import utcnow
from app.extensions import db
from reports import audit_log


def _add_rows(app, count: int, *, object_type: str = "ScorecardDecision", actor: str = "scale-tester") -> None:
    """``count`` rows of one object type, one minute apart, the oldest first (object ids 1 … count)."""
    start = utcnow() - timedelta(days=1)
    with app.app_context():
        db.session.execute(sa.insert(AuditLog), [
            {"at": start + timedelta(minutes=number), "actor_name": actor, "action": AuditAction.UPDATE,
             "object_type": object_type, "object_id": str(number), "summary": f"row {number}"}
            for number in range(1, count + 1)])
        db.session.commit()


def _shown_ids(page: str) -> list[int]:
    return [int(number) for number in re.findall(r"<td>row (\d+)</td>", page)]


def test_the_count_stops_at_the_limit_and_paging_with_it(app, client, login_as, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    monkeypatch.setattr(audit_views, "COUNT_LIMIT", 5)
    _add_rows(app, 12)
    login_as("auditor")
    page = client.get("/audit/?object_type=ScorecardDecision").get_data(as_text=True)
    assert "超过 5 条" in page and "共 12 条" not in page
    assert _shown_ids(page) == [12, 11]  # newest first
    assert "page=2" in page
    # Five rows counted make three pages of two; a page number past them shows the last of them, without a next.
    last = client.get("/audit/?object_type=ScorecardDecision&page=99").get_data(as_text=True)
    assert _shown_ids(last) == [8, 7]
    assert "第 3 页" in last and "page=4" not in last and "page=2" in last


def test_a_short_list_is_counted_exactly(app, client, login_as, monkeypatch, count_queries):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    monkeypatch.setattr(audit_views, "COUNT_LIMIT", 5)
    _add_rows(app, 5)
    login_as("auditor")
    page = client.get("/audit/?object_type=ScorecardDecision&page=2").get_data(as_text=True)
    assert "第 2 / 3 页，共 5 条" in page and "超过" not in page
    assert _shown_ids(page) == [3, 2]
    # The last page shows where the list ends: no count is needed there.
    with count_queries() as counter:
        page = client.get("/audit/?object_type=ScorecardDecision&page=3").get_data(as_text=True)
    assert "第 3 / 3 页，共 5 条" in page and _shown_ids(page) == [1]
    assert not [s for s in counter.statements if "count(" in s.lower() and "audit_log" in s]
    empty = client.get("/audit/?object_type=ScorecardDecision&object_id=999").get_data(as_text=True)
    assert "没有符合条件的记录" in empty


def test_the_count_reads_at_most_the_limit(app, ctx):
    _add_rows(app, 7)
    assert audit_log.count_at_most({"object_type": "ScorecardDecision"}, 4) == 4
    assert audit_log.count_at_most({"object_type": "ScorecardDecision"}, 100) == 7
    assert audit_log.count_at_most({"object_type": "ScorecardDecision", "object_id": "3"}, 100) == 1


# Each filter the form offers, alone and in the usual pairs, with a date range.
SEARCHES = [
    "",
    "action=update",
    "object_type=ScorecardDecision",
    "action=update&object_type=ScorecardDecision",
    "actor=scale-tester",
    "actor=scale-tester&action=update",
    "object_type=ScorecardDecision&object_id=3",
    "date_from=2024-01-01&date_to=2030-12-31",
    "action=update&date_from=2024-01-01",
    "actor=scale-tester&date_to=2030-12-31",
]


# The column each filter of the form compares with equality (the dates are a range on ``at``).
EQUALITY_COLUMNS = {"actor": "actor_name", "action": "action", "object_type": "object_type", "object_id": "object_id"}


@pytest.mark.parametrize("search", SEARCHES)
def test_every_search_has_an_index_in_the_page_order(app, client, login_as, search):
    """At 10 million rows a page must not sort or scan the log: an index holds the search's equality columns, then
    (at, id), and the database walks it (the plan is checked where it does not depend on a tiny table's statistics:
    SQLite's planner has none; PostgreSQL is asked with scans and sorts made expensive)."""
    _add_rows(app, 3)
    login_as("auditor")
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, *_args):
        if "FROM audit_log" in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    engine = db._app_engines[app][None]
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        assert client.get(f"/audit/?{search}").status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = seen[-1]
    equal = {EQUALITY_COLUMNS[part.split("=")[0]] for part in search.split("&") if part.split("=")[0]
             in EQUALITY_COLUMNS}
    with app.app_context():
        connection = db.session.connection()
        indexes = [index["column_names"] for index in sa.inspect(connection).get_indexes("audit_log")]
        assert any(set(columns[:len(equal)]) == equal and columns[len(equal):len(equal) + 2] in (["at"], ["at", "id"])
                   for columns in indexes), (equal, indexes)
        if connection.dialect.name == "sqlite":
            plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            assert not any("TEMP B-TREE" in step for step in plan), plan
            assert all("INDEX" in step for step in plan if "audit_log" in step), plan
        else:
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            connection.exec_driver_sql("SET LOCAL enable_sort = off")
            plan = [row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
            # An incremental sort (ties of ``at`` put in id order) reads only the page's rows; a full sort would not.
            assert not any(re.match(r"\s*(->\s*)?Sort\s+\(", step) for step in plan), plan
            assert not any("Seq Scan" in step for step in plan), plan


def test_the_export_is_capped_with_a_note(app, client, login_as, monkeypatch):
    monkeypatch.setattr(audit_log, "EXPORT_LIMIT", 4)
    _add_rows(app, 6)
    login_as("auditor")
    response = client.get("/audit/export.xlsx?object_type=ScorecardDecision")
    assert response.status_code == 200
    head = pd.read_excel(io.BytesIO(response.data), header=None, nrows=3)[0].tolist()
    assert "符合条件的记录超过 4 条，本表只含最早的 4 条" in head[2]
    frame = pd.read_excel(io.BytesIO(response.data), header=3)  # title, subtitle, the note, then the header
    assert list(frame["摘要"]) == ["row 1", "row 2", "row 3", "row 4"]  # the oldest, oldest first
    assert set(frame["操作"]) == {"修改"}
    # Under the cap there is no note.
    response = client.get("/audit/export.xlsx?object_type=ScorecardDecision&object_id=5")
    frame = pd.read_excel(io.BytesIO(response.data), header=2)
    assert list(frame["摘要"]) == ["row 5"]

"""The offline workbook through the pages: download, fill in, upload — as the evaluator and for them."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from app.extensions import db
from app.scoring.models import Assignment, SheetStatus
from tests.conftest import login


def _assigned(app, client, scoring, evaluator: int):
    client.post(f"/scoring/programmes/{scoring.programme}/assign",
                data={"applications": scoring.applications[1:], "evaluators": [scoring.evaluators[evaluator]]})


def _fill(data: bytes, value) -> bytes:
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    header_row = next(row[0].row for row in sheet.iter_rows(max_row=20) if any(c.value == "编号" for c in row[:3]))
    headers = [cell.value for cell in sheet[header_row]]
    score_columns = [i for i, h in enumerate(headers, start=1) if h and "分）" in str(h)]
    for row in range(header_row + 1, sheet.max_row + 1):
        if sheet.cell(row, 2).value:
            for column in score_columns:
                sheet.cell(row, column).value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(client, scoring, data: bytes, **extra):
    return client.post(f"/scoring/programmes/{scoring.programme}/workbook",
                       data={"file": (io.BytesIO(data), "评分表.xlsx"), **extra}, content_type="multipart/form-data")


def test_evaluator_round_trip_with_submission(app, client, login_as, scoring):
    login_as("bureau")
    _assigned(app, client, scoring, 0)
    evaluator = app.test_client()
    login(evaluator, scoring.usernames[0])
    download = evaluator.get(f"/scoring/programmes/{scoring.programme}/workbook.xlsx")
    assert download.status_code == 200 and "filename*=UTF-8''" in download.headers["Content-Disposition"]
    response = _upload(evaluator, scoring, _fill(download.data, 4.5), submit_complete="1")
    assert response.status_code == 302
    with app.app_context():
        sheets = db.session.query(Assignment).filter(Assignment.evaluator_id == scoring.evaluators[0]).all()
        assert len(sheets) == 2 and all(s.status == SheetStatus.SUBMITTED for s in sheets)
        assert all(score.half_points == 9 for s in sheets for score in s.scores)


def test_a_wrong_workbook_is_reported_by_cell_and_nothing_is_saved(app, client, login_as, scoring):
    login_as("bureau")
    _assigned(app, client, scoring, 0)
    evaluator = app.test_client()
    login(evaluator, scoring.usernames[0])
    download = evaluator.get(f"/scoring/programmes/{scoring.programme}/workbook.xlsx")
    response = _upload(evaluator, scoring, _fill(download.data, 99))
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="workbook-errors"' in page and "评分表" in page
    with app.app_context():
        assert all(not s.scores for s in db.session.query(Assignment).all())
    assert _upload(evaluator, scoring, b"not a workbook").status_code == 400


def test_bureau_downloads_and_uploads_for_an_evaluator(app, client, login_as, scoring):
    login_as("bureau")
    _assigned(app, client, scoring, 1)
    download = client.get(f"/scoring/programmes/{scoring.programme}/workbook.xlsx?evaluator={scoring.evaluators[1]}")
    assert download.status_code == 200
    assert _upload(client, scoring, _fill(download.data, 5), evaluator=scoring.evaluators[1]).status_code == 302
    with app.app_context():
        sheets = db.session.query(Assignment).filter(Assignment.evaluator_id == scoring.evaluators[1]).all()
        assert all(s.status == SheetStatus.DRAFT and len(s.scores) == 4 for s in sheets)
    assert client.get(f"/scoring/programmes/{scoring.programme}/workbook.xlsx?evaluator=999999").status_code == 404

"""Attachments of a nomination: real files on disk, checked by content, served only as downloads."""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest

from app.applications.models import Application, ApplicationAttachment
from app.extensions import db
from app.files.models import StoredFile
from tests.accessibility import error_descriptions
from tests.applications.helpers import (
    communities_of,
    control_tag,
    form_values,
    nominate,
    only_application_id,
    row_count,
)
from tests.files.test_storage import files_on_disk, make_pdf


@pytest.fixture
def draft(app, client, login_as, make_programme, places):
    login_as("township")
    programme_id = make_programme()
    nominate(client, programme_id, communities_of(app, places.anhai, 1)[0])
    return only_application_id(app, programme_id)


def _upload(client, application_id, data: bytes, name: str, description: str = ""):
    return client.post(f"/applications/{application_id}/attachments",
                       data={"file": (io.BytesIO(data), name), "description": description},
                       content_type="multipart/form-data")


def test_upload_download_and_delete(app, client, draft):
    pdf = make_pdf()
    response = _upload(client, draft, pdf, "推荐表扫描件（盖章）.pdf", "盖章件")
    assert response.status_code == 302
    with app.app_context():
        [attachment] = db.session.get(Application, draft).live_attachments
        attachment_id, stored_name = attachment.id, attachment.file.original_name
    assert stored_name == "推荐表扫描件（盖章）.pdf"
    page = client.get(f"/applications/{draft}").get_data(as_text=True)
    assert "推荐表扫描件（盖章）.pdf" in page and "盖章件" in page
    download = client.get(f"/applications/{draft}/attachments/{attachment_id}")
    assert download.data == pdf
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "filename*=UTF-8''" + quote("推荐表扫描件（盖章）.pdf") in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert client.post(f"/applications/{draft}/attachments/{attachment_id}/delete").status_code == 302
    assert client.get(f"/applications/{draft}/attachments/{attachment_id}").status_code == 404
    with app.app_context():
        assert db.session.get(Application, draft).live_attachments == []


def test_a_file_that_is_not_what_its_name_says_is_refused(app, client, draft):
    response = _upload(client, draft, b"MZ\x90\x00" + b"\x00" * 200, "申报材料.pdf")
    assert response.status_code == 200
    assert "不支持的文件类型" in error_descriptions(response.get_data(as_text=True))["attachment-file"]
    _upload(client, draft, b"<html><script>alert(1)</script></html>", "photo.png")
    with app.app_context():
        assert db.session.get(Application, draft).live_attachments == []


@pytest.mark.parametrize(("content", "description", "field", "message"), [
    (None, "盖章件", "file", "请选择要上传的文件。"),
    (b"MZ\x90\x00" + b"\x00" * 200, "盖章件", "file", "不支持的文件类型"),  # refused by storage, after the form
    (make_pdf(), "说" * 201, "description", "不能超过 200 个字符。"),
])
def test_a_refused_upload_keeps_the_description_and_is_told_at_its_field(app, client, draft, content, description,
                                                                         field, message):
    before = (row_count(app), row_count(app, StoredFile), row_count(app, ApplicationAttachment), files_on_disk(app))
    data = {"description": description}
    if content is not None:
        data["file"] = (io.BytesIO(content), "申报材料.pdf")
    response = client.post(f"/applications/{draft}/attachments", data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    described = error_descriptions(page)
    assert list(described) == [f"attachment-{field}"] and message in described[f"attachment-{field}"]
    assert "autofocus" in control_tag(page, f"attachment-{field}")
    assert form_values(page, f"/applications/{draft}/attachments") == {"description": description}
    after = (row_count(app), row_count(app, StoredFile), row_count(app, ApplicationAttachment), files_on_disk(app))
    assert after == before, "nothing saved: no row, no audit row, no file on disk"


def test_a_50_mb_upload_gets_the_chinese_413_page(client, draft):
    response = _upload(client, draft, b"\0" * (50 * 1024 * 1024), "big.pdf")
    assert response.status_code == 413 and "文件过大" in response.get_data(as_text=True)


def test_attachments_of_another_application_are_not_reachable_through_this_one(app, client, draft, make_programme,
                                                                                places):
    _upload(client, draft, make_pdf(), "a.pdf")
    with app.app_context():
        attachment_id = db.session.get(Application, draft).live_attachments[0].id
    programme_id = make_programme()
    nominate(client, programme_id, communities_of(app, places.anhai, 1)[0])
    other = only_application_id(app, programme_id)
    assert client.get(f"/applications/{other}/attachments/{attachment_id}").status_code == 404

from __future__ import annotations

import io

import pandas as pd
import sqlalchemy as sa

from app.audit.models import AuditAction, AuditLog
from app.extensions import db
from app.places.models import Community, Township


def _community_names(app, township_id):
    with app.app_context():
        return set(db.session.scalars(sa.select(Community.name).where(Community.township_id == township_id)))


def test_township_user_sees_only_its_own_township(app, client, login_as, places):
    login_as("township")  # bound to 安海镇
    page = client.get("/places/townships").get_data(as_text=True)
    assert "安海镇" in page and "磁灶镇" not in page
    listing = client.get(f"/places/communities?township={places.cizao}").get_data(as_text=True)
    assert "磁灶镇" not in listing
    assert client.get(f"/places/townships/{places.cizao}").status_code == 403
    assert client.get(f"/places/communities/{places.cizao_community}").status_code == 403
    assert client.get(f"/places/communities/{places.anhai_community}").status_code == 200


def test_community_user_sees_only_its_own_community(app, client, login_as, places):
    login_as("community")  # bound to places.anhai_community
    with app.app_context():
        other = db.session.scalar(sa.select(Community.id).where(Community.township_id == places.anhai,
                                                                Community.id != places.anhai_community))
    assert client.get(f"/places/communities/{places.anhai_community}").status_code == 200
    if other is not None:
        assert client.get(f"/places/communities/{other}").status_code == 403


def test_bureau_and_finance_see_every_township(client, login_as):
    login_as("finance")
    page = client.get("/places/townships").get_data(as_text=True)
    assert page.count("/places/townships/") == 19


def test_unknown_ids_are_404(client, login_as):
    login_as("bureau")
    assert client.get("/places/townships/999999").status_code == 404
    assert client.get("/places/communities/999999").status_code == 404
    assert client.get("/places/communities/999999/edit").status_code == 404


def test_bureau_adds_a_community_and_it_is_audited(app, client, login_as, places):
    login_as("bureau")
    response = client.post("/places/communities/new",
                           data={"township_id": places.anhai, "name": "  新安社区 ", "kind": "community"})
    assert response.status_code == 302
    with app.app_context():
        community = db.session.scalar(sa.select(Community).where(Community.name == "新安社区"))
        assert community is not None and community.township_id == places.anhai
        entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.object_type == "Community",
                                                            AuditLog.object_id == str(community.id)))
        assert entry.action == AuditAction.INSERT and entry.after["name"] == "新安社区"
        assert entry.actor_name.startswith("bureau") and entry.before is None


def test_duplicate_or_empty_name_is_refused_at_the_field(app, client, login_as, places):
    login_as("bureau")
    existing = next(iter(_community_names(app, places.anhai)))
    response = client.post("/places/communities/new",
                           data={"township_id": places.anhai, "name": existing, "kind": "village"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "已有同名" in page and 'data-field="name"' in page
    response = client.post("/places/communities/new", data={"township_id": places.anhai, "name": " ", "kind": "x"})
    page = response.get_data(as_text=True)
    assert "此项为必填项" in page and 'data-field="kind"' in page
    response = client.post("/places/communities/new", data={"township_id": 424242, "name": "甲", "kind": "village"})
    assert 'data-field="township_id"' in response.get_data(as_text=True)


def test_edit_records_before_and_after_and_keeps_the_township(app, client, login_as, places):
    login_as("bureau")
    response = client.post(f"/places/communities/{places.anhai_community}/edit",
                           data={"township_id": places.cizao, "name": "改名社区", "kind": "community", "active": "y"})
    assert response.status_code == 302
    with app.app_context():
        community = db.session.get(Community, places.anhai_community)
        assert community.name == "改名社区" and community.township_id == places.anhai
        entry = db.session.scalars(sa.select(AuditLog).where(
            AuditLog.object_type == "Community", AuditLog.object_id == str(community.id),
            AuditLog.action == AuditAction.UPDATE)).first()
        assert entry.after["name"] == "改名社区" and entry.before["name"] != "改名社区"
        assert "township_id" not in entry.after


def test_township_user_cannot_add_or_edit(client, login_as, places):
    login_as("township")
    assert client.post("/places/communities/new",
                       data={"township_id": places.anhai, "name": "x", "kind": "village"}).status_code == 403
    assert client.post(f"/places/communities/{places.anhai_community}/edit",
                       data={"name": "x", "kind": "village"}).status_code == 403


def test_list_runs_a_bounded_number_of_queries(app, client, login_as, places, count_queries):
    login_as("bureau")
    client.get("/places/communities")
    with count_queries() as small:
        client.get(f"/places/communities?township={places.cizao}")
    with app.app_context():
        township = db.session.get(Township, places.cizao)
        for number in range(40):
            db.session.add(Community(township=township, name=f"加测村{number}", kind="village"))
        db.session.commit()
    with count_queries() as large:
        client.get(f"/places/communities?township={places.cizao}")
    assert large.count == small.count <= 8


def test_filters_with_nonsense_values_do_not_break(client, login_as):
    login_as("bureau")
    for query in ("township=abc", "township=-1", "kind=%00", "page=99999", "q=" + "长" * 500, "page=-3"):
        assert client.get("/places/communities?" + query).status_code == 200


def _xlsx(rows, columns=("镇(街道)", "名称", "类型")) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame(rows, columns=list(columns)).to_excel(buffer, index=False)
    return buffer.getvalue()


def _upload(client, data: bytes, name="名单.xlsx"):
    return client.post("/places/communities/import", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_import_adds_every_row_of_a_clean_file(app, client, login_as, places):
    login_as("bureau")
    response = _upload(client, _xlsx([["安海镇", "导入一村", "村"], ["", "", ""], ["磁灶镇", "导入二社区", "社区"]]))
    assert response.status_code == 302
    assert "导入一村" in _community_names(app, places.anhai)
    assert "导入二社区" in _community_names(app, places.cizao)


def test_import_with_any_error_writes_nothing_and_names_each_row(app, client, login_as, places):
    login_as("bureau")
    existing = next(iter(_community_names(app, places.anhai)))
    before = _community_names(app, places.anhai)
    rows = [
        ["安海镇", "好村", "村"],          # row 2: fine
        ["火星镇", "外星村", "村"],        # row 3: unknown township
        ["安海镇", "", "村"],              # row 4: empty name
        ["安海镇", existing, "村"],        # row 5: already there
        ["安海镇", "好村", "村"],          # row 6: repeats row 2
        ["安海镇", "怪村", "城堡"],        # row 7: bad kind
    ]
    response = _upload(client, _xlsx(rows))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for row, text in [(3, "未知的镇(街道)“火星镇”"), (4, "名称为空"), (5, "已存在"), (6, "与第 2 行重复"),
                      (7, "类型应为")]:
        assert f"<td>{row}</td>" in page and text in page
    assert _community_names(app, places.anhai) == before


def test_import_of_a_broken_or_wrong_file_explains_itself(app, client, login_as):
    login_as("bureau")
    page = _upload(client, b"this is not a spreadsheet", "坏文件.xlsx").get_data(as_text=True)
    assert "无法读取该文件" in page
    page = _upload(client, _xlsx([["a", "b"]], columns=("乡镇", "村名"))).get_data(as_text=True)
    assert "缺少表头" in page
    page = _upload(client, _xlsx([], )).get_data(as_text=True)
    assert "没有数据行" in page
    response = client.post("/places/communities/import", data={}, content_type="multipart/form-data")
    assert "请选择要导入的文件" in response.get_data(as_text=True)


def test_the_template_downloads_and_imports_back(app, client, login_as, places):
    login_as("bureau")
    response = client.get("/places/communities/import/template.xlsx")
    assert response.status_code == 200
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    frame = pd.read_excel(io.BytesIO(response.data), dtype=str)
    assert list(frame.columns) == ["镇(街道)", "名称", "类型"]
    assert _upload(client, response.data).status_code == 302
    assert "示例社区" in _community_names(app, places.anhai)

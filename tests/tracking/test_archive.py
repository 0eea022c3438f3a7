"""The project archive: uploads per kind, the checklist, the zip with its Chinese names, soft deletion, township
isolation, refused uploads and the overview's query count."""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from app.database import china_today
from app.extensions import db
from app.files.models import StoredFile
from app.funding.models import Site
from app.programmes.models import Programme
from app.tracking import archive
from app.tracking.archive import ArchiveError
from app.tracking.models import ArchiveItem, ArchiveKind
from tests.conftest import page_without_tokens
from tests.files.test_storage import make_pdf, make_png
from tests.funding.conftest import funded  # noqa: F401

K = ArchiveKind
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(56) + b"PE\x00\x00" + bytes(200)
FOLDER = {
    K.MEETINGS: "①村(居)民会议、代表会议等会议记录、纪要",
    K.PLAN: "②项目申报方案、项目实施的图文资料",
    K.GUIDANCE: "③民政部门和镇(街道)工作指导督导的佐证材料",
    K.PARTICIPATION: "④推动居民自治和社会力量参与的佐证材料",
    K.FUND_USE: "⑤项目资金使用明细表",
    K.PUBLICITY: "⑥村(居)务公开及媒体宣传报道的佐证材料",
    K.SELF_EVALUATION: "⑦项目中期自评报告和结项自评报告",
    K.WORK_METHOD: "⑧总结提炼的社区工作法",
}


@pytest.fixture
def sites(app, funded):  # noqa: F811
    """The funded programme moved to last year, so that dates from last 1 January up to today are allowed."""
    with app.app_context():
        programme = db.session.get(Programme, funded.programme)
        programme.year = china_today().year - 1
        db.session.commit()
    return funded


def _start(app, funded) -> date:  # noqa: F811
    with app.app_context():
        return date(db.session.get(Programme, funded.programme).year, 1, 1)


def _upload(client, site_id, kind=K.MEETINGS, title="村民代表会议纪要", item_date=None, data=None,
            filename="会议纪要.pdf", description="第一季度", **extra):
    form = {"kind": kind.value if isinstance(kind, ArchiveKind) else kind, "title": title,
            "item_date": item_date if isinstance(item_date, str) else (item_date or china_today()).isoformat(),
            "description": description, **extra}
    if data is not False:
        form["file"] = (io.BytesIO(make_pdf() if data is None else data), filename)
    return client.post(f"/archive/sites/{site_id}/items", data=form, content_type="multipart/form-data")


def _items(app, site_id, *, deleted=False) -> list[ArchiveItem]:
    with app.app_context():
        query = sa.select(ArchiveItem).where(ArchiveItem.site_id == site_id).order_by(ArchiveItem.id)
        if not deleted:
            query = query.where(ArchiveItem.deleted_at.is_(None))
        items = db.session.scalars(query).all()
        db.session.expunge_all()
        return items


def _counts(app, site_id) -> dict[ArchiveKind, int]:
    with app.app_context():
        return dict(archive.completeness(db.session.get(Site, site_id)))


def _add_directly(app, site_id, kind, title, data=None, filename="材料.pdf", item_date=None) -> int:
    with app.app_context():
        site = db.session.get(Site, site_id)
        upload = FileStorage(stream=io.BytesIO(make_pdf() if data is None else data), filename=filename)
        item = archive.add_item(site, kind, title, item_date or china_today(), "", upload, None)
        db.session.commit()
        return item.id


def _files_on_disk(app) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(app.config["UPLOAD_FOLDER"]))


def _state(app) -> tuple[int, int, int]:
    with app.app_context():
        return (db.session.scalar(sa.select(sa.func.count(ArchiveItem.id))),
                db.session.scalar(sa.select(sa.func.count(StoredFile.id))), _files_on_disk(app))


# --- uploads and the checklist ---------------------------------------------------------------------------


def test_upload_per_kind_and_the_checklist_lists_the_empty_kinds(app, client, login_as, sites):
    user_id = login_as("township")  # 安海镇
    site_id = sites.sites[0]
    assert set(_counts(app, site_id).values()) == {0}
    filled = [K.MEETINGS, K.PLAN, K.GUIDANCE, K.PARTICIPATION, K.PUBLICITY, K.SELF_EVALUATION]
    for number, kind in enumerate(filled, start=1):
        response = _upload(client, site_id, kind, title=f"材料{number}", filename=f"材料{number}.pdf")
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        assert response.headers["Location"].endswith(f"/archive/sites/{site_id}#kind-{kind.value}")
    _upload(client, site_id, K.PLAN, title="现场照片", data=make_png(), filename="现场照片.png")

    counts = _counts(app, site_id)
    assert counts == {**dict.fromkeys(K, 0), **dict.fromkeys(filled, 1), K.PLAN: 2}
    assert archive.missing_kinds(counts.items()) == [K.FUND_USE, K.WORK_METHOD]
    items = _items(app, site_id)
    assert {item.uploaded_by_id for item in items} == {user_id}
    assert [item.kind for item in items if item.title == "现场照片"] == [K.PLAN]

    page = client.get(f"/archive/sites/{site_id}").get_data(as_text=True)
    missing = page.split('id="archive-missing"', 1)[1].split("</div>", 1)[0]
    assert FOLDER[K.FUND_USE] in missing and FOLDER[K.WORK_METHOD] in missing
    assert FOLDER[K.MEETINGS] not in missing
    assert '<tr class="table-warning" data-kind="fund_use">' in page
    assert '<tr class="" data-kind="meetings">' in page
    assert "完整度 75%" in page and "现场照片.png" in page

    with app.app_context():
        photo = db.session.scalar(sa.select(ArchiveItem).where(ArchiveItem.title == "现场照片"))
        photo_id = photo.id
    download = client.get(f"/archive/items/{photo_id}")
    assert download.status_code == 200
    assert download.data == make_png()
    assert "attachment" in download.headers["Content-Disposition"]


def test_readers_see_but_only_uploaders_upload(app, client, login_as, sites):
    item_id = _add_directly(app, sites.sites[1], K.MEETINGS, "会议记录")
    login_as("finance")
    page = client.get(f"/archive/sites/{sites.sites[1]}")
    assert page.status_code == 200 and "会议记录" in page.get_data(as_text=True)
    assert 'id="archive-upload"' not in page.get_data(as_text=True)
    assert client.get(f"/archive/items/{item_id}").status_code == 200
    before = _state(app)
    assert _upload(client, sites.sites[1]).status_code == 403
    assert client.post(f"/archive/items/{item_id}/delete").status_code == 403
    assert _state(app) == before and len(_items(app, sites.sites[1])) == 1


# --- the zip -----------------------------------------------------------------------------------------------


def _local_header_flags(data: bytes, info: zipfile.ZipInfo) -> int:
    signature, _version, flags = struct.unpack_from("<IHH", data, info.header_offset)
    assert signature == 0x04034B50
    return flags


def test_zip_has_a_folder_per_kind_chinese_names_and_a_table_of_contents(app, client, login_as, sites):
    login_as("township")
    site_id = sites.sites[0]
    first, second, photo = make_pdf(), make_pdf() + b"% second\n", make_png()
    assert _upload(client, site_id, K.MEETINGS, "一季度村民代表会议纪要", filename="会议纪要.pdf", data=first,
                   description="到会 32 人\n表决通过").status_code == 302
    assert _upload(client, site_id, K.MEETINGS, "二季度村民代表会议纪要", filename="会议纪要.pdf",
                   data=second).status_code == 302
    assert _upload(client, site_id, K.PLAN, "议事厅改造照片", filename="议事厅.png", data=photo,
                   description="").status_code == 302
    assert _upload(client, site_id, K.WORK_METHOD, "工作法", filename="“三议三公开”工作法.pdf",
                   data=first).status_code == 302

    response = client.get(f"/archive/sites/{site_id}/archive.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    data = response.data
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        assert bundle.testzip() is None
        infos = bundle.infolist()
        names = [info.filename for info in infos]
        expected_files = {
            f"{FOLDER[K.MEETINGS]}/会议纪要.pdf": first,
            f"{FOLDER[K.MEETINGS]}/会议纪要 (2).pdf": second,
            f"{FOLDER[K.PLAN]}/议事厅.png": photo,
            f"{FOLDER[K.WORK_METHOD]}/“三议三公开”工作法.pdf": first,
        }
        assert sorted(names) == sorted([f"{folder}/" for folder in FOLDER.values()] + list(expected_files)
                                       + ["目录.txt"])
        for name, content in expected_files.items():
            assert bundle.read(name) == content, name
        for info in infos:
            assert info.flag_bits & 0x800, info.filename  # central directory
            assert _local_header_flags(data, info) & 0x800, info.filename  # local header
        index = bundle.read("目录.txt")
    assert index.startswith(b"\xef\xbb\xbf")
    text = index.decode("utf-8-sig")
    assert "\r\n" in text
    for expected in [
        "项目档案目录", "镇(街道)：安海镇", "材料共 4 份",
        f"{FOLDER[K.MEETINGS]}（2 份）", "1. 一季度村民代表会议纪要", "2. 二季度村民代表会议纪要",
        f"日期：{china_today().isoformat()}", "说明：到会 32 人 表决通过",
        f"文件：{FOLDER[K.MEETINGS]}/会议纪要 (2).pdf", f"文件：{FOLDER[K.PLAN]}/议事厅.png",
        f"{FOLDER[K.FUND_USE]}（0 份）",
    ]:
        assert expected in text, expected
    fund_section = text.split(f"{FOLDER[K.FUND_USE]}（0 份）", 1)[1].split("\r\n")[1]
    assert "暂无材料" in fund_section


def test_zip_names_are_made_safe_and_unique_ignoring_case():
    taken: set[str] = set()
    assert archive.unique_name("Plan.PDF", taken) == "Plan.PDF"
    assert archive.unique_name("plan.pdf", taken) == "plan (2).pdf"
    assert archive.unique_name("plan (2).pdf", taken) == "plan (2) (2).pdf"
    assert archive.unique_name("plan.pdf", taken) == "plan (3).pdf"
    assert archive.safe_name('会议:纪要?*.pdf') == "会议_纪要__.pdf"
    assert archive.safe_name("..") == "file"


def test_a_damaged_file_is_named_instead_of_zipped(app, client, login_as, sites):
    item_id = _add_directly(app, sites.sites[0], K.FUND_USE, "资金明细")
    with app.app_context():
        stored = db.session.get(ArchiveItem, item_id).file
        path = os.path.join(app.config["UPLOAD_FOLDER"], *stored.stored_name.split("/"))
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    login_as("township")
    response = client.get(f"/archive/sites/{sites.sites[0]}/archive.zip", follow_redirects=True)
    assert response.mimetype == "text/html"
    assert "“资金明细”的文件已丢失或损坏" in response.get_data(as_text=True)


# --- deletion ----------------------------------------------------------------------------------------------


def test_deleted_items_leave_the_checklist_and_the_zip_but_stay_in_the_database(app, client, login_as, sites):
    user_id = login_as("township")
    site_id = sites.sites[0]
    _upload(client, site_id, K.FUND_USE, "资金使用明细表（错误版）", filename="明细表.pdf")
    _upload(client, site_id, K.MEETINGS, "会议纪要", filename="纪要.pdf")
    wrong = next(item for item in _items(app, site_id) if item.kind == K.FUND_USE)

    response = client.post(f"/archive/items/{wrong.id}/delete", follow_redirects=True)
    assert response.status_code == 200
    assert "已删除“资金使用明细表（错误版）”" in response.get_data(as_text=True)
    assert _counts(app, site_id)[K.FUND_USE] == 0
    page = client.get(f"/archive/sites/{site_id}").get_data(as_text=True)
    assert "资金使用明细表（错误版）" not in page
    assert '<tr class="table-warning" data-kind="fund_use">' in page
    with zipfile.ZipFile(io.BytesIO(client.get(f"/archive/sites/{site_id}/archive.zip").data)) as bundle:
        names = bundle.namelist()
        index = bundle.read("目录.txt").decode("utf-8-sig")
    assert f"{FOLDER[K.FUND_USE]}/" in names
    assert not any(name.startswith(f"{FOLDER[K.FUND_USE]}/") and name != f"{FOLDER[K.FUND_USE]}/" for name in names)
    assert "错误版" not in index and f"{FOLDER[K.MEETINGS]}/纪要.pdf" in names

    with app.app_context():
        kept = db.session.get(ArchiveItem, wrong.id)
        assert kept is not None and kept.deleted_at is not None and kept.deleted_by_id == user_id
        assert kept.file.deleted_at is not None and kept.file.deleted_by_id == user_id
    assert client.get(f"/archive/items/{wrong.id}").status_code == 404
    assert client.post(f"/archive/items/{wrong.id}/delete").status_code == 404
    with app.app_context():
        assert db.session.get(ArchiveItem, wrong.id).deleted_at == kept.deleted_at


def test_remove_item_twice_keeps_the_first_removal(app, sites):
    item_id = _add_directly(app, sites.sites[0], K.PLAN, "方案")
    with app.app_context():
        item = db.session.get(ArchiveItem, item_id)
        archive.remove_item(item, None)
        first = item.deleted_at
        archive.remove_item(item, 12345)
        assert item.deleted_at == first and item.deleted_by_id is None


# --- township isolation ------------------------------------------------------------------------------------


def test_a_township_cannot_reach_another_townships_archive(app, client, login_as, sites):
    cizao = sites.sites[1]
    item_id = _add_directly(app, cizao, K.MEETINGS, "磁灶镇会议纪要")
    login_as("township")  # 安海镇
    before = _state(app)
    assert client.get(f"/archive/sites/{cizao}").status_code == 403
    assert client.get(f"/archive/items/{item_id}").status_code == 403
    assert client.get(f"/archive/sites/{cizao}/archive.zip").status_code == 403
    assert _upload(client, cizao).status_code == 403
    assert client.post(f"/archive/items/{item_id}/delete").status_code == 403
    assert client.get("/archive/sites/999999").status_code == 404
    assert client.get("/archive/items/999999").status_code == 404
    assert _state(app) == before
    assert [item.id for item in _items(app, cizao)] == [item_id]

    overview = client.get(f"/archive/programmes/{sites.programme}").get_data(as_text=True)
    assert f'data-site="{sites.sites[0]}"' in overview
    assert f'data-site="{cizao}"' not in overview


def test_a_community_sees_only_its_own_site(app, client, login_as, places, sites):
    with app.app_context():
        own = db.session.get(Site, sites.sites[0])
        community_id = own.community_id
    login_as("community", community_id=community_id)
    assert client.get(f"/archive/sites/{sites.sites[0]}").status_code == 200
    assert _upload(client, sites.sites[0]).status_code == 302
    assert client.get(f"/archive/sites/{sites.sites[1]}").status_code == 403


# --- refused uploads ---------------------------------------------------------------------------------------


def _field_error(page: str, field: str) -> str:
    return page.split(f'data-field="{field}">', 1)[1].split("</div>", 1)[0]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"data": EXE, "filename": "协商记录.pdf"}, "file", "不支持的文件类型"),
        ({"data": make_pdf(), "filename": "纪要.docx"}, "file", "文件内容与扩展名不符"),
        ({"data": b"", "filename": "空.pdf"}, "file", "文件为空"),
        ({"data": False}, "file", "请选择要上传的文件"),
        ({"item_date": "2024/13/45"}, "item_date", "日期格式不正确"),
        ({"item_date": "去年五月"}, "item_date", "日期格式不正确"),
        ({"item_date": ""}, "item_date", "此项为必填项"),
        ({"item_date": "before"}, "item_date", "不能早于项目年度开始"),
        ({"item_date": "tomorrow"}, "item_date", "不能晚于今天"),
        ({"title": "   "}, "title", "此项为必填项"),
        ({"kind": "photos"}, "kind", "请选择列表中的材料类别"),
    ],
    ids=["exe-named-pdf", "pdf-named-docx", "empty-file", "no-file", "bad-date", "words-for-date", "no-date",
         "before-programme", "future", "no-title", "unknown-kind"],
)
def test_bad_uploads_are_refused_at_the_field_and_nothing_is_saved(app, client, login_as, sites, changes, field,
                                                                   message):
    login_as("township")
    changes = dict(changes)
    if changes.get("item_date") == "before":
        changes["item_date"] = (_start(app, sites) - timedelta(days=1)).isoformat()
    elif changes.get("item_date") == "tomorrow":
        changes["item_date"] = (china_today() + timedelta(days=1)).isoformat()
    before = _state(app)
    response = _upload(client, sites.sites[0], **changes)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in _field_error(page, field)
    assert 'id="upload" open' in page
    assert _state(app) == before


def test_the_first_day_of_the_programme_year_and_today_are_accepted(app, client, login_as, sites):
    login_as("township")
    start = _start(app, sites)
    assert _upload(client, sites.sites[0], item_date=start).status_code == 302
    assert _upload(client, sites.sites[0], item_date=china_today()).status_code == 302
    assert sorted(item.item_date for item in _items(app, sites.sites[0])) == [start, china_today()]


def test_add_item_checks_the_date_before_storing_anything(app, sites):
    with app.app_context():
        site = db.session.get(Site, sites.sites[0])
        files = _files_on_disk(app)
        too_early = date(site.programme.year - 1, 12, 31)
        with pytest.raises(ArchiveError) as refused:
            archive.add_item(site, K.PLAN, "方案", too_early, "",
                             FileStorage(stream=io.BytesIO(make_pdf()), filename="方案.pdf"), None)
        assert refused.value.field == "item_date" and str(site.programme.year) in refused.value.message
        with pytest.raises(ArchiveError) as refused:
            archive.add_item(site, K.PLAN, "方案", china_today(), "", None, None)
        assert refused.value.field == "file"
        assert _files_on_disk(app) == files


# --- the overview ------------------------------------------------------------------------------------------


def test_overview_counts_and_percentages_in_a_bounded_number_of_queries(app, client, login_as, sites,
                                                                        count_queries):
    anhai, cizao = sites.sites
    _add_directly(app, anhai, K.MEETINGS, "纪要")
    _add_directly(app, anhai, K.PLAN, "方案")
    _add_directly(app, cizao, K.MEETINGS, "纪要")
    login_as("bureau")
    url = f"/archive/programmes/{sites.programme}"
    with count_queries() as few:
        page = client.get(url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'data-site="{anhai}"' in text and f'data-site="{cizao}"' in text
    assert "25%" in text and "12%" in text  # 2 of 8 kinds, 1 of 8 kinds
    row = re.search(rf'<tr data-site="{anhai}">(.*?)</tr>', text).group(1)
    cells = re.findall(r'<td class="text-center( table-warning)?">(\d+)</td>', row)
    assert cells == [("", "1") if kind in (K.MEETINGS, K.PLAN) else (" table-warning", "0") for kind in archive.KINDS]

    for number in range(6):
        for kind in K:
            _add_directly(app, anhai if number % 2 else cizao, kind, f"材料{number}")
    with count_queries() as many:
        page = client.get(url)
    assert page.status_code == 200
    assert many.count == few.count, many.statements
    assert page.get_data(as_text=True).count("100%") == 2
    # Until the next change the page's sites, their counts and the totals are remembered (changes_mark).
    with count_queries() as again:
        repeated = client.get(url)
    assert again.count == few.count - 3, again.statements
    assert page_without_tokens(repeated) == page_without_tokens(page)

    with app.app_context():
        counts = archive.completeness_many([anhai, cizao, 999999])
    assert counts[anhai][K.MEETINGS] == 4 and counts[cizao][K.MEETINGS] == 4 and counts[anhai][K.FUND_USE] == 3
    assert counts[999999] == dict.fromkeys(K, 0)


def test_completeness_is_one_grouped_query(app, sites, count_queries):
    _add_directly(app, sites.sites[0], K.MEETINGS, "纪要")
    with app.app_context():
        site = db.session.get(Site, sites.sites[0])
        with count_queries() as counter:
            counts = archive.completeness(site)
            many = archive.completeness_many(sites.sites)
        assert counter.count == 2
        assert counts[0] == (K.MEETINGS, 1) and [kind for kind, _n in counts] == list(K)
        assert many[sites.sites[0]][K.MEETINGS] == 1


# --- the demo ----------------------------------------------------------------------------------------------


def test_demo_archive_fills_most_kinds_of_the_2023_sites_deterministically(app):
    from app.files.storage import detect_kind, read_stored
    from app.fixtures import load_demo
    from app.fixtures.demo_archive import load_demo_archive

    with app.app_context():
        load_demo()
        programme = db.session.scalar(sa.select(Programme).where(Programme.year == 2023, Programme.code == "GJGX"))
        site_ids = list(db.session.scalars(sa.select(Site.id).where(Site.programme_id == programme.id)))

        def signature():
            items = db.session.scalars(sa.select(ArchiveItem).where(ArchiveItem.site_id.in_(site_ids))).all()
            return sorted((item.site_id, item.kind.value, item.title, item.item_date, item.file.sha256)
                          for item in items)

        # The demo loader brings the archive along; running the archive part again adds nothing.
        before = signature()
        assert len(before) > 100
        assert load_demo_archive() == 0 and signature() == before

        counts = archive.completeness_many(site_ids)
        filled = [sum(1 for n in site_counts.values() if n) for site_counts in counts.values()]
        assert len(site_ids) == 12
        assert sum(1 for n in filled if n >= 6) >= 10  # most sites have most kinds
        assert any(n < 8 for n in filled)  # and a few kinds stay empty
        items = db.session.scalars(sa.select(ArchiveItem).where(ArchiveItem.site_id.in_(site_ids))).all()
        assert all(date(2023, 1, 1) <= item.item_date <= date(2023, 12, 31) for item in items)
        assert {detect_kind(read_stored(item.file)) for item in items} == {"pdf", "png"}
        assert all(item.uploaded_by_id is not None for item in items)
        site = db.session.get(Site, site_ids[0])
        with zipfile.ZipFile(io.BytesIO(archive.build_zip(site))) as bundle:
            assert "目录.txt" in bundle.namelist()

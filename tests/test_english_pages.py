"""Pages read in English show English, and the same pages in Chinese still show Chinese, in one process: nothing
translated is frozen in the language of whoever came first (forms build their choices at import)."""

from __future__ import annotations

import pytest

from app.accounts.models import Role
from app.applications.models import Application, ThinkTankMember
from app.database import china_today
from app.extensions import db
from app.funding.models import Site, SpendingLine
from tests.funding.conftest import funded  # noqa: F401


def _in(client, locale: str, url: str) -> str:
    client.post(f"/language/{locale}")
    return client.get(url).get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "url", "chinese", "english"),
    [
        (Role.BUREAU, "/programmes/new", '<option value="project">社区治理项目</option>',
         '<option value="project">Community governance project</option>'),
        (Role.AUDITOR, "/audit/", '<option value="login_failed">登录失败</option>',
         '<option value="login_failed">Failed login</option>'),
    ],
)
def test_enum_choices_follow_the_language(client, login_as, role, url, chinese, english):
    login_as(role)
    for _ in range(2):  # and back again: the first language seen must not stick
        page = _in(client, "en", url)
        assert english in page and chinese not in page
        page = _in(client, "zh_Hans_CN", url)
        assert chinese in page and english not in page


def test_values_stored_in_chinese_are_shown_in_the_readers_language(app, client, login_as, funded):  # noqa: F811
    """Spending categories and consultation forms are stored as the city's Chinese words and shown translated; a
    form the township wrote itself stays as written, and lists take the language's separator."""
    with app.app_context():
        site = db.session.get(Site, funded.sites[0])
        application = db.session.get(Application, site.application_id)
        application.consultation_forms = ["小区协商会", "线上协商"]
        application.consultation_forms_other = "院坝会"
        application.think_tank = [ThinkTankMember(name="王芳", identity="律师", sort_order=1),
                                  ThinkTankMember(name="陈强", identity="退休教师", sort_order=2)]
        db.session.add(SpendingLine(site_id=site.id, source_id=funded.city, entry_date=china_today(),
                                    amount_fen=120_000, item="议事桌椅", category="设施设备"))
        db.session.commit()
        application_id = application.id
    login_as(Role.BUREAU)
    for _ in range(2):
        for url in (f"/applications/{application_id}", f"/applications/{application_id}/print"):
            english = _in(client, "en", url)
            assert ("Estate consultation meeting, Online consultation (WeChat groups, video conferences, etc.), 院坝会"
                    in english), url
            assert "王芳 (律师), 陈强 (退休教师)" in english and "小区协商会" not in english
            chinese = _in(client, "zh_Hans_CN", url)
            assert "小区协商会、线上协商（微信群、视频会议等）、院坝会" in chinese
            assert "王芳（律师）、陈强（退休教师）" in chinese
        assert "<td>Facilities and equipment</td>" in _in(client, "en", f"/funding/sites/{funded.sites[0]}")
        assert "<td>设施设备</td>" in _in(client, "zh_Hans_CN", f"/funding/sites/{funded.sites[0]}")

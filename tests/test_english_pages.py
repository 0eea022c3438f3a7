"""Pages read in English show English, and the same pages in Chinese still show Chinese, in one process: nothing
translated is frozen in the language of whoever came first (forms build their choices at import)."""

from __future__ import annotations

import pytest

from app.accounts.models import Role


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

"""The password policy: at least 8 characters, 3 of 4 character classes, not the user name."""

from __future__ import annotations

import string

from flask_babel import gettext as _

MIN_LENGTH = 8


def password_problems(password: str, username: str = "") -> list[str]:
    """The policy's objections to ``password`` (empty when it is acceptable), in the user's language."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(_("密码至少需要 %(n)d 个字符。", n=MIN_LENGTH))
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    if sum(classes) < 3:
        problems.append(_("密码须包含大写字母、小写字母、数字、符号中的至少三类。"))
    if username and username.strip().lower() in password.lower():
        problems.append(_("密码不能包含用户名。"))
    return problems

import pytest

from app.accounts.passwords import password_problems


@pytest.mark.parametrize("password", ["Demo@2024", "abcDEF123", "abc-def-123", "ABC_DEF_123", "长密码Ab1!xyz"])
def test_acceptable(app, password):
    with app.test_request_context():
        assert password_problems(password, "zhang") == []


@pytest.mark.parametrize(
    ("password", "problem"),
    [("Ab1!", "至少需要 8 个字符"), ("abcdefgh1", "至少三类"), ("ABCDEFGH", "至少三类"),
     ("Zhang@2024", "不能包含用户名"), ("xxZHANG#99", "不能包含用户名")],
)
def test_refused(app, password, problem):
    with app.test_request_context():
        assert any(problem in text for text in password_problems(password, "zhang"))

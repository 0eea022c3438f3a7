from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import EqualTo, Regexp, ValidationError

from app.accounts.models import EvaluatorGroup, Role
from app.accounts.passwords import password_problems
from forms.base import BaseForm, max_length, optional, options, required


class LoginForm(BaseForm):
    username = StringField(_l("用户名"), validators=[required(), max_length(40)])
    password = PasswordField(_l("密码"), validators=[required(), max_length(200)])
    submit = SubmitField(_l("登录"))


def _check_policy(form, field):
    username = getattr(form, "policy_username", "") or ""
    problems = password_problems(field.data or "", username)
    if problems:
        raise ValidationError(" ".join(problems))


class ChangePasswordForm(BaseForm):
    current_password = PasswordField(_l("当前密码"), validators=[required(), max_length(200)])
    new_password = PasswordField(_l("新密码"), validators=[required(), max_length(200), _check_policy])
    confirm = PasswordField(
        _l("再次输入新密码"),
        validators=[required(), EqualTo("new_password", message=_l("两次输入的新密码不一致。"))],
    )
    submit = SubmitField(_l("修改密码"))

    def __init__(self, username: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy_username = username

    def validate_new_password(self, field):
        if field.data and field.data == self.current_password.data:
            raise ValidationError(_l("新密码不能与当前密码相同。"))


class PreferencesForm(BaseForm):
    locale = SelectField(_l("界面语言"), choices=options([("zh_Hans_CN", "中文"), ("en", "English")]))
    submit = SubmitField(_l("保存"))


_USERNAME = Regexp(r"^[a-z0-9_.-]{2,40}$", message=_l("用户名只能用小写字母、数字和 _ . -，2 至 40 个字符。"))


class UserForm(BaseForm):
    """The admin's account form. Township and community choices are filled in by the view."""

    username = StringField(_l("用户名"), filters=[lambda v: v.lower() if isinstance(v, str) else v],
                           validators=[required(), _USERNAME])
    display_name = StringField(_l("姓名"), validators=[optional(), max_length(60)])
    email = StringField(_l("电子邮箱（接收消息副本，可不填）"), validators=[optional(), max_length(120), Regexp(
        r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("请填写有效的电子邮箱地址。"))])
    role = SelectField(_l("角色"), choices=options(Role.choices()), validators=[required()])
    township_id = SelectField(_l("所属镇(街道)"), coerce=int, validate_choice=False)
    community_id = SelectField(_l("所属村(社区)"), coerce=int, validate_choice=False)
    evaluator_group = SelectField(_l("评审人所属"), validators=[optional()],
                                  choices=options([("", _l("（无）")), *EvaluatorGroup.choices()]))
    tied_township_id = SelectField(_l("需回避的镇(街道)"), coerce=int, validate_choice=False)
    active = BooleanField(_l("启用"), default=True)
    # No optional(): it would stop the chain before validate_temporary_password, which asks a new account for one.
    temporary_password = PasswordField(_l("初始密码"), validators=[max_length(200)])
    submit = SubmitField(_l("保存"))

    def __init__(self, *args, township_choices=(), community_choices=(), editing_username=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The user name never changes once made: audit rows and people's habits refer to it.
        self.editing_username = editing_username
        if editing_username is not None:
            del self.username
        self.township_id.choices = options([(0, _l("（无）")), *township_choices])
        self.community_id.choices = options([(0, _l("（无）")), *community_choices])
        self.tied_township_id.choices = options([(0, _l("（无）")), *township_choices])
        self._valid_townships = {value for value, _label in township_choices}
        self._valid_communities = {value for value, _label in community_choices}

    def validate_township_id(self, field):
        if self.role.data == Role.TOWNSHIP.value and field.data not in self._valid_townships:
            raise ValidationError(_l("镇(街道)账户必须选择所属镇(街道)。"))

    def validate_community_id(self, field):
        if self.role.data == Role.COMMUNITY.value and field.data not in self._valid_communities:
            raise ValidationError(_l("村(社区)账户必须选择所属村(社区)。"))

    def validate_temporary_password(self, field):
        if self.editing_username is None and not field.data:
            raise ValidationError(_l("新建账户需要设置初始密码。"))
        if field.data:
            username = self.editing_username if self.editing_username is not None else (self.username.data or "")
            problems = password_problems(field.data, username)
            if problems:
                raise ValidationError(" ".join(problems))


class ResetPasswordForm(BaseForm):
    temporary_password = PasswordField(_l("临时密码"), validators=[required(), max_length(200)])
    submit = SubmitField(_l("重置密码"))

    def __init__(self, username: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy_username = username

    validate_temporary_password = _check_policy

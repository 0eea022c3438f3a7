from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.accounts import operations
from app.accounts.models import EvaluatorGroup, Role, User
from app.extensions import db
from app.pagination import paginate
from app.permissions import Permission, public, requires
from app.places.models import Community, Township
from forms.accounts import ChangePasswordForm, LoginForm, PreferencesForm, ResetPasswordForm, UserForm

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    # Only paths on this site: an absolute or scheme-relative URL would be an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("main.home")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        result = operations.authenticate(form.username.data, form.password.data)
        if result.user is None:
            db.session.commit()  # the failure count and the audit row are kept
            form.password.errors.append(result.error)
            return render_template("accounts/login.html", form=form), 200
        # A fresh cookie at login: nothing from before the login survives into the session.
        session.clear()
        operations.start_session(result.user, request.remote_addr or "")
        db.session.commit()
        login_user(result.user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@requires(Permission.PROFILE)
def logout():
    operations.end_session(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("您已安全退出。"), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires(Permission.PROFILE)
def change_password():
    form = ChangePasswordForm(current_user.username)
    if form.validate_on_submit():
        if not current_user.check_password(form.current_password.data):
            form.current_password.errors.append(_("当前密码不正确。"))
        else:
            operations.change_password(current_user, form.new_password.data)
            db.session.commit()
            flash(_("密码已修改。"), "success")
            return redirect(url_for("main.home"))
    return render_template("accounts/change_password.html", form=form)


@bp.route("/account/preferences", methods=["GET", "POST"])
@requires(Permission.PROFILE)
def preferences():
    form = PreferencesForm(obj=current_user)
    if form.validate_on_submit():
        current_user.locale = form.locale.data
        db.session.commit()
        flash(_("设置已保存。"), "success")
        return redirect(url_for("accounts.preferences"))
    return render_template("accounts/preferences.html", form=form)


# --- the admin's account management -------------------------------------------------------------


def _place_choices():
    townships = db.session.execute(sa.select(Township.id, Township.name).order_by(Township.sort_order)).all()
    communities = db.session.execute(
        sa.select(Community.id, Township.name, Community.name)
        .join(Community.township)
        .order_by(Township.sort_order, Community.sort_order, Community.id)
    ).all()
    return (
        [(row.id, row.name) for row in townships],
        [(row[0], f"{row[1]} · {row[2]}") for row in communities],
    )


def _evaluator_fields(form: UserForm) -> dict:
    return {
        "email": form.email.data or "",
        "evaluator_group": EvaluatorGroup(form.evaluator_group.data) if form.evaluator_group.data else None,
        "tied_township_id": form.tied_township_id.data or None,
    }


@bp.route("/admin/users")
@requires(Permission.ACCOUNTS_MANAGE)
def users():
    query = sa.select(User).options(sa.orm.selectinload(User.township), sa.orm.selectinload(User.community))
    role = request.args.get("role", "")
    if role in {r.value for r in Role}:
        query = query.where(User.role == Role(role))
    text = request.args.get("q", "").strip()
    if text:
        query = query.where(sa.or_(User.username.contains(text), User.display_name.contains(text)))
    page = paginate(query.order_by(User.username))
    return render_template("accounts/users.html", page=page, roles=Role, role=role, q=text)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@requires(Permission.ACCOUNTS_MANAGE)
def new_user():
    townships, communities = _place_choices()
    form = UserForm(township_choices=townships, community_choices=communities)
    if form.validate_on_submit():
        if operations.find_user(form.username.data):
            form.username.errors.append(_("该用户名已存在。"))
        else:
            user = operations.create_user(
                username=form.username.data,
                password=form.temporary_password.data,
                role=Role(form.role.data),
                display_name=form.display_name.data or "",
                township_id=form.township_id.data or None,
                community_id=form.community_id.data or None,
                **_evaluator_fields(form),
            )
            user.active = form.active.data
            db.session.commit()
            flash(_("账户 %(name)s 已创建，首次登录时须修改密码。", name=user.username), "success")
            return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=None)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@requires(Permission.ACCOUNTS_MANAGE)
def edit_user(user_id: int):
    user = db.get_or_404(User, user_id)
    townships, communities = _place_choices()
    form = UserForm(obj=user, township_choices=townships, community_choices=communities,
                    editing_username=user.username)
    if request.method == "GET":
        form.role.data = user.role.value
        form.township_id.data = user.township_id or 0
        form.community_id.data = user.community_id or 0
        form.evaluator_group.data = user.evaluator_group.value if user.evaluator_group else ""
        form.tied_township_id.data = user.tied_township_id or 0
    if form.validate_on_submit():
        if user.id == current_user.id and (Role(form.role.data) != Role.ADMIN or not form.active.data):
            flash(_("不能停用自己的账户或取消自己的管理员角色。"), "danger")
        else:
            operations.update_user(
                user,
                display_name=form.display_name.data or "",
                role=Role(form.role.data),
                township_id=form.township_id.data or None,
                community_id=form.community_id.data or None,
                active=form.active.data,
                **_evaluator_fields(form),
            )
            if form.temporary_password.data:
                operations.reset_password(user, form.temporary_password.data)
            db.session.commit()
            flash(_("账户已保存。"), "success")
            return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=user, reset_form=ResetPasswordForm(user.username))


@bp.route("/admin/users/<int:user_id>/reset-password", methods=["POST"])
@requires(Permission.ACCOUNTS_MANAGE)
def reset_password(user_id: int):
    user = db.get_or_404(User, user_id)
    form = ResetPasswordForm(user.username)
    if form.validate_on_submit():
        operations.reset_password(user, form.temporary_password.data)
        db.session.commit()
        flash(_("密码已重置，该用户下次登录时须修改密码。"), "success")
        return redirect(url_for("accounts.edit_user", user_id=user.id))
    townships, communities = _place_choices()
    user_form = UserForm(obj=user, township_choices=townships, community_choices=communities,
                         editing_username=user.username)
    user_form.role.data = user.role.value
    return render_template("accounts/user_form.html", form=user_form, user=user, reset_form=form), 200


@bp.route("/admin/users/<int:user_id>/unlock", methods=["POST"])
@requires(Permission.ACCOUNTS_MANAGE)
def unlock(user_id: int):
    user = db.get_or_404(User, user_id)
    operations.unlock(user)
    db.session.commit()
    flash(_("账户已解锁。"), "success")
    return redirect(url_for("accounts.edit_user", user_id=user.id))

"""Wires Flask-Login to the server-side sessions of app.accounts.operations."""

from __future__ import annotations

from flask import flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from app.database import commit_quietly
from app.extensions import db


def init_login(manager: LoginManager) -> None:
    manager.login_view = "accounts.login"
    manager.login_message = _l("请先登录。")
    manager.login_message_category = "warning"
    # Our own session keys already bind a cookie to a login; "strong" would also end it on an IP change.
    manager.session_protection = None

    @manager.user_loader
    def load_user(key: str):
        from app.accounts.operations import load_session

        user, timed_out = load_session(key)
        if timed_out:
            g.session_timed_out = True
        if db.session.dirty:
            commit_quietly(db.session)  # last_seen_at or ended_at, before the view runs
        return user

    @manager.unauthorized_handler
    def unauthorized():
        if request.accept_mimetypes.best == "application/json":
            return jsonify(error=_("请先登录。")), 401
        if getattr(g, "session_timed_out", False):
            flash(_("您已长时间未操作，登录已超时，请重新登录。"), "warning")
        else:
            flash(_("请先登录。"), "warning")
        target = request.full_path if request.query_string else request.path
        if request.method == "GET":
            return redirect(url_for("accounts.login", next=target))
        return redirect(url_for("accounts.login"), 303)

"""示范点项目管理 — the application factory."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, g, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user
from werkzeug.routing import IntegerConverter, ValidationError

from app.config import build_config, load_secret_key
from app.database import ID_MAX
from app.extensions import babel, bootstrap, csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Build the app. ``config`` overrides settings (tests use it); everything else comes from the environment."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH") or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
    )
    configure(app, config or {})
    app.url_map.converters["int"] = IdConverter  # before the routes are added
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_errors(app)
    register_cli(app)
    register_template_helpers(app)
    return app


class IdConverter(IntegerConverter):
    """``<int:…>`` in a route takes ids only: a longer number (99999999999999999999) is a 404, not an overflow in
    the database or in int() itself."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", ID_MAX)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value):
        if len(value) > len(str(ID_MAX)):
            raise ValidationError()
        return super().to_python(value)


def configure(app: Flask, overrides: dict) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(build_config(app.instance_path))
    app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(app.instance_path)
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)


def register_extensions(app: Flask) -> None:
    # Importing the models registers them with the metadata before migrations or queries need them.
    from app import models  # noqa: F401
    from app.database import commit_reading_requests, configure_sqlite, ping_after_idle
    from app.i18n import use_request_domain

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
        ping_after_idle(db.engine, app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])
        commit_reading_requests(app, db)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    bootstrap.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(ROOT / "translations"))
    use_request_domain(app, babel)
    login_manager.init_app(app)
    from app.accounts import login as login_setup

    login_setup.init_login(login_manager)


def select_locale() -> str:
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if session.get("locale") in languages:
        return session["locale"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def register_blueprints(app: Flask) -> None:
    from app.accounts.views import bp as accounts_bp
    from app.applications.views import bp as applications_bp
    from app.audit.views import bp as audit_bp
    from app.calendar.views import bp as calendar_bp
    from app.funding.views import bp as funding_bp
    from app.main.views import bp as main_bp
    from app.places.views import bp as places_bp
    from app.programmes.views import bp as programmes_bp
    from app.scorecard.views import bp as scorecard_bp
    from app.scoring.views import bp as scoring_bp
    from app.shelf.views import bp as shelf_bp
    from app.tracking.archive_views import bp as archive_bp
    from app.tracking.ledger_views import bp as ledger_bp
    from app.tracking.notification_views import bp as notifications_bp
    from app.tracking.progress_views import bp as progress_bp

    blueprints = (main_bp, accounts_bp, places_bp, programmes_bp, applications_bp, scoring_bp, funding_bp,
                  progress_bp, archive_bp, ledger_bp, calendar_bp, scorecard_bp, shelf_bp,
                  notifications_bp, audit_bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    if app.config["BENCH_FLOOR"]:
        from bench.floor import bp as floor_bp

        app.register_blueprint(floor_bp)


def register_request_hooks(app: Flask) -> None:
    from app import permissions, security

    permissions.init_app(app)
    security.init_app(app)

    @app.before_request
    def _remember_start():
        g.request_path = request.path


def register_errors(app: Flask) -> None:
    from app.errors import register_error_handlers

    register_error_handlers(app)


def register_cli(app: Flask) -> None:
    from app.cli import register_commands

    register_commands(app)


def register_template_helpers(app: Flask) -> None:
    from app import formatting, navigation

    formatting.init_app(app)
    navigation.init_app(app)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["html_lang"] = lambda: "zh-CN" if str(get_locale()) == "zh_Hans_CN" else "en"

    @app.context_processor
    def _unread():
        from functools import cache

        @cache
        def unread_notifications() -> int:
            # Counted with the session on every page, or here once when this request changed notifications.
            if not current_user.is_authenticated:
                return 0
            if current_user.unread_notifications is not None:  # read with the session (app.accounts.operations)
                return current_user.unread_notifications
            from app.tracking.notifications import unread_count

            return unread_count(current_user)

        return {"unread_notifications": unread_notifications}

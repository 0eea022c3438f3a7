from __future__ import annotations

import functools

import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_login import current_user

from app.accounts.models import Role, User
from app.applications.models import Application, ApplicationStatus
from app.applications.queries import status_counts
from app.audit.models import AuditLog
from app.database import commit_quietly
from app.extensions import db
from app.main import dashboards
from app.permissions import (
    Permission,
    application_filter,
    community_counts,
    has_permission,
    programme_filter,
    public,
    requires,
    visible_townships,
)
from app.programmes.models import Programme, ProgrammeStatus

bp = Blueprint("main", __name__)


@bp.route("/")
@requires(Permission.HOME)
def home():
    role = current_user.role
    context: dict = {}
    if role == Role.TOWNSHIP:  # only the township's page shows its places (home/_places.html)
        townships = db.session.scalars(visible_townships(current_user)).all()
        counts = community_counts(current_user)
        context.update(townships=townships, counts=counts, total=sum(counts.values()))
    if role == Role.TOWNSHIP:
        from app.tracking.notifications import monthly_reminders

        if monthly_reminders(current_user.township_id):
            commit_quietly(db.session)  # reminders due today, made once (each has its own key)
    if role == Role.COMMUNITY:
        context["community"] = current_user.community
    if has_permission(current_user, Permission.PROGRAMMES_VIEW):
        # The bureau's page lists the running programmes with counts of its own (dashboards.bureau).
        context.update(_programme_summary(counts=role != Role.BUREAU))
    if role == Role.BUREAU:  # the bureau sees every programme: the summary's include every running one
        context.update(dashboards.bureau(context.get("programmes")))
    if role == Role.FINANCE:
        context.update(dashboards.finance())
    if role == Role.TOWNSHIP:
        context["tasks"] = dashboards.township_tasks(current_user.township_id)
    if role == Role.EVALUATOR:
        context.update(dashboards.evaluator(current_user))
    if role == Role.ADMIN:
        context["user_counts"] = dict(
            db.session.execute(sa.select(User.role, sa.func.count(User.id)).group_by(User.role)).tuples().all()
        )
        context["roles"] = Role
    if role == Role.AUDITOR:
        context["recent"] = db.session.scalars(
            sa.select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(10)
        ).all()
    return render_template(f"home/{role.value}.html", **context)


def _programme_summary(counts: bool = True) -> dict:
    """The programmes still running, with the user's applications counted by status (two queries; one without
    ``counts``)."""
    programmes = db.session.scalars(
        sa.select(Programme)
        .where(programme_filter(current_user), Programme.status != ProgrammeStatus.CLOSED)
        .options(sa.orm.joinedload(Programme.milestones))  # one query with the milestones (a handful each)
        .order_by(Programme.year.desc(), Programme.id.desc())
    ).unique().all()
    summary = {"programmes": programmes, "statuses": ApplicationStatus}
    if counts:
        shown = sa.and_(application_filter(current_user), Application.programme_id.in_([p.id for p in programmes]))
        summary["status_counts"] = status_counts(shown)
    if current_user.role in (Role.TOWNSHIP, Role.COMMUNITY):
        summary["my_applications"] = db.session.scalars(
            sa.select(Application)
            .where(application_filter(current_user), Application.status != ApplicationStatus.WITHDRAWN)
            .options(sa.orm.joinedload(Application.community), sa.orm.joinedload(Application.programme))
            .order_by(Application.updated_at.desc())
            .limit(20)
        ).all()
    return summary


@bp.route("/language/<code>", methods=["POST"])
@public
def set_language(code: str):
    """The language of the login page, before anyone is logged in (logged-in users set it in preferences)."""
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    target = request.referrer or ""
    host = request.host_url
    return redirect(target if target.startswith(host) else url_for("accounts.login"))


@functools.cache
def _code_heads(script_location: str) -> frozenset[str]:
    """The migrations' heads in the code: they cannot change while the process runs, and reading them parses every
    migration file (about 20 ms, on every poll of a load balancer)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory(script_location).get_heads())


@bp.route("/favicon.ico")
@public
def favicon():
    """Browsers ask for /favicon.ico whatever the page links to (the printable forms link to none)."""
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon")


@bp.route("/healthz")
@public
def healthz():
    """For load balancers and operators: is the database reachable, is the schema at the newest migration."""
    from alembic.runtime.migration import MigrationContext

    status = {"database": False, "migrations": {"current": None, "head": None, "at_head": False}}
    try:
        connection = db.session.connection()
        connection.execute(sa.text("SELECT 1"))
        status["database"] = True
        current = MigrationContext.configure(connection).get_current_heads()
        config = current_app.extensions["migrate"].migrate.get_config()
        heads = _code_heads(config.get_main_option("script_location"))
        status["migrations"] = {
            "current": sorted(current),
            "head": sorted(heads),
            "at_head": set(current) == set(heads),
        }
    except Exception:  # noqa: BLE001 - health is reported, not raised
        current_app.logger.exception("health check failed")
    healthy = status["database"] and status["migrations"]["at_head"]
    status["status"] = "ok" if healthy else "error"
    return jsonify(status), 200 if healthy else 503

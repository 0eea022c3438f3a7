"""Who may do what — the one place where access is decided.

Every view declares what it needs with :func:`requires` (or :func:`public`); a before-request hook
enforces it for every route and denies any route that declares nothing. Object-level checks
(whose township is this?) are the ``can_*`` predicates and ``visible_*`` queries below, used by views
after loading an object.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

from app.accounts.models import Role, User
from app.extensions import db
from app.places.models import Community, Township

PUBLIC = "public"


class Permission:
    HOME = "home"
    PROFILE = "profile"
    PLACES_VIEW = "places.view"
    PLACES_MANAGE = "places.manage"
    ACCOUNTS_MANAGE = "accounts.manage"
    AUDIT_VIEW = "audit.view"
    PROGRAMMES_VIEW = "programmes.view"
    PROGRAMMES_MANAGE = "programmes.manage"
    APPLICATIONS_VIEW = "applications.view"
    APPLICATIONS_NOMINATE = "applications.nominate"
    APPLICATIONS_REVIEW = "applications.review"
    SCORING_SCORE = "scoring.score"
    SCORING_MANAGE = "scoring.manage"
    RANKING_VIEW = "ranking.view"
    SCORING_WORKBOOK = "scoring.workbook"
    FUNDING_VIEW = "funding.view"
    FUNDING_PAY = "funding.pay"  # allocations, disbursements, reversals, tranches, period sign-off
    FUNDING_RELEASE = "funding.release"  # record that a site met a tranche's condition
    FUNDING_SPEND = "funding.spend"  # spending lines and the township's own matching funds
    TRACKING_VIEW = "tracking.view"  # milestones, monthly reports, archive, ledger, spot checks (scoped)
    TRACKING_SUBMIT = "tracking.submit"  # the township's milestones and monthly reports for its sites
    TRACKING_REVIEW = "tracking.review"  # accept or return milestones, issue 通报, spot checks
    ARCHIVE_UPLOAD = "archive.upload"
    LEDGER_RECORD = "ledger.record"
    REPORTS_VIEW = "reports.view"  # the report shelf (scoped by township for township users)
    CALENDAR_VIEW = "calendar.view"
    SCORECARD_VIEW = "scorecard.view"
    SCORECARD_DECIDE = "scorecard.decide"


_EVERYONE = {Permission.HOME, Permission.PROFILE}

# Separation of duties (三权分立): the admin manages accounts and sees no business data; the auditor
# reads the audit log only; nobody else reads the audit log.
_READ_PROGRAMMES = {Permission.PLACES_VIEW, Permission.PROGRAMMES_VIEW, Permission.APPLICATIONS_VIEW,
                    Permission.FUNDING_VIEW, Permission.TRACKING_VIEW, Permission.REPORTS_VIEW,
                    Permission.CALENDAR_VIEW}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.BUREAU: frozenset(
        _EVERYONE | _READ_PROGRAMMES
        | {Permission.PLACES_MANAGE, Permission.PROGRAMMES_MANAGE, Permission.APPLICATIONS_REVIEW,
           Permission.SCORING_MANAGE, Permission.RANKING_VIEW, Permission.SCORING_WORKBOOK,
           Permission.FUNDING_RELEASE, Permission.TRACKING_REVIEW, Permission.SCORECARD_VIEW,
           Permission.SCORECARD_DECIDE}
    ),
    # Finance co-evaluates with the bureau: it sees the ranking and the selection, and decides nothing here.
    Role.FINANCE: frozenset(
        _EVERYONE | _READ_PROGRAMMES | {Permission.RANKING_VIEW, Permission.FUNDING_PAY, Permission.FUNDING_RELEASE,
                                        Permission.SCORECARD_VIEW}
    ),
    Role.TOWNSHIP: frozenset(
        _EVERYONE | _READ_PROGRAMMES | {Permission.APPLICATIONS_NOMINATE, Permission.FUNDING_SPEND,
                                        Permission.TRACKING_SUBMIT, Permission.ARCHIVE_UPLOAD,
                                        Permission.LEDGER_RECORD}
    ),
    Role.COMMUNITY: frozenset(
        _EVERYONE | _READ_PROGRAMMES | {Permission.FUNDING_SPEND, Permission.ARCHIVE_UPLOAD, Permission.LEDGER_RECORD}
    ),
    Role.EVALUATOR: frozenset(_EVERYONE | {Permission.SCORING_SCORE, Permission.SCORING_WORKBOOK,
                                           Permission.CALENDAR_VIEW}),
    Role.ADMIN: frozenset(_EVERYONE | {Permission.ACCOUNTS_MANAGE}),
    Role.AUDITOR: frozenset(_EVERYONE | {Permission.AUDIT_VIEW}),
}

# Pages a user who must change the password may still reach.
_ALLOWED_BEFORE_PASSWORD_CHANGE = {"accounts.change_password", "accounts.logout"}


def requires(permission: str):
    """Mark a view as needing ``permission``; enforcement happens in :func:`enforce`."""

    def decorate(view):
        view.required_permission = permission
        return view

    return decorate


def public(view):
    view.required_permission = PUBLIC
    return view


def has_permission(user, permission: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return permission in ROLE_PERMISSIONS.get(user.role, frozenset())


def required_permission(endpoint: str | None) -> str | None:
    if endpoint is None:
        return None
    if endpoint == "static" or endpoint.endswith(".static"):
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "required_permission", None)


def password_change_due(user: User) -> bool:
    if user.must_change_password:
        return True
    max_age = current_app.config["PASSWORD_MAX_AGE_DAYS"]
    if max_age <= 0:
        return False
    from datetime import timedelta

    from app.database import utcnow

    return user.password_changed_at < utcnow() - timedelta(days=max_age)


def enforce():
    """before_request: deny by default, then check the view's declared permission."""
    if request.endpoint is None:
        return None  # no route matched: routing answers 404 or 405
    needed = required_permission(request.endpoint)
    if needed == PUBLIC:
        return None
    if not current_user.is_authenticated:
        from app.extensions import login_manager

        return login_manager.unauthorized()
    if password_change_due(current_user) and request.endpoint not in _ALLOWED_BEFORE_PASSWORD_CHANGE:
        return redirect(url_for("accounts.change_password"))
    if needed is None or not has_permission(current_user, needed):
        abort(403)
    return None


def init_app(app: Flask) -> None:
    app.before_request(enforce)
    app.jinja_env.globals["has_permission"] = lambda permission: has_permission(current_user, permission)
    app.jinja_env.globals["Permission"] = Permission


# --- object-level scope -------------------------------------------------------------------------


def township_scope(user) -> int | None:
    """The one township a user is confined to, or None when the user sees every township."""
    if user.role == Role.TOWNSHIP:
        return user.township_id
    if user.role == Role.COMMUNITY:
        return user.community.township_id if user.community else -1
    return None


def can_view_township(user, township: Township) -> bool:
    if not has_permission(user, Permission.PLACES_VIEW):
        return False
    scope = township_scope(user)
    return scope is None or scope == township.id


def can_view_community(user, community: Community) -> bool:
    if not has_permission(user, Permission.PLACES_VIEW):
        return False
    if user.role == Role.COMMUNITY:
        return user.community_id == community.id
    scope = township_scope(user)
    return scope is None or scope == community.township_id


def visible_townships(user) -> sa.Select:
    query = sa.select(Township).order_by(Township.sort_order, Township.id)
    if not has_permission(user, Permission.PLACES_VIEW):
        return query.where(sa.false())
    scope = township_scope(user)
    return query if scope is None else query.where(Township.id == scope)


def community_filter(user) -> sa.ColumnElement[bool]:
    """The condition on Community rows that ``user`` may see."""
    if not has_permission(user, Permission.PLACES_VIEW):
        return sa.false()
    if user.role == Role.COMMUNITY:
        return Community.id == user.community_id
    scope = township_scope(user)
    return sa.true() if scope is None else Community.township_id == scope


def visible_communities(user) -> sa.Select:
    return (
        sa.select(Community)
        .join(Community.township)
        .where(community_filter(user))
        .order_by(Township.sort_order, Community.sort_order, Community.id)
    )


def community_counts(user, active_only: bool = True) -> dict[int, int]:
    """{township id: number of communities} over what ``user`` may see, in one query."""
    query = sa.select(Community.township_id, sa.func.count(Community.id)).where(community_filter(user))
    if active_only:
        query = query.where(Community.active.is_(True))
    return dict(db.session.execute(query.group_by(Community.township_id)).tuples().all())


# --- programmes and applications ------------------------------------------------------------------


def programme_filter(user) -> sa.ColumnElement[bool]:
    """Drafts are the bureau's working copies; everyone else sees a programme once it is opened."""
    from app.programmes.models import Programme, ProgrammeStatus

    if not has_permission(user, Permission.PROGRAMMES_VIEW):
        return sa.false()
    if has_permission(user, Permission.PROGRAMMES_MANAGE):
        return sa.true()
    return Programme.status != ProgrammeStatus.DRAFT


def can_view_programme(user, programme) -> bool:
    from app.programmes.models import ProgrammeStatus

    if not has_permission(user, Permission.PROGRAMMES_VIEW):
        return False
    return has_permission(user, Permission.PROGRAMMES_MANAGE) or programme.status != ProgrammeStatus.DRAFT


def application_filter(user) -> sa.ColumnElement[bool]:
    """The condition on Application rows that ``user`` may see."""
    from app.applications.models import Application

    if not has_permission(user, Permission.APPLICATIONS_VIEW):
        return sa.false()
    if user.role == Role.COMMUNITY:
        return Application.community_id == user.community_id
    scope = township_scope(user)
    return sa.true() if scope is None else Application.township_id == scope


def can_view_application(user, application) -> bool:
    if not has_permission(user, Permission.APPLICATIONS_VIEW):
        return False
    if user.role == Role.COMMUNITY:
        return application.community_id == user.community_id
    scope = township_scope(user)
    return scope is None or scope == application.township_id


def can_nominate_for(user, township_id: int) -> bool:
    """Only a township's own account nominates, and only for its own township."""
    return has_permission(user, Permission.APPLICATIONS_NOMINATE) and user.township_id == township_id


def can_edit_application(user, application) -> bool:
    from app.applications.models import ApplicationStatus

    return can_nominate_for(user, application.township_id) and application.status in (
        ApplicationStatus.DRAFT,
        ApplicationStatus.RETURNED,
    )


def can_score(user, assignment) -> bool:
    """An evaluator sees and fills only the sheets assigned to them."""
    return has_permission(user, Permission.SCORING_SCORE) and assignment.evaluator_id == user.id


def site_filter(user) -> sa.ColumnElement[bool]:
    """The condition on Site rows that ``user`` may see."""
    from app.funding.models import Site

    if not has_permission(user, Permission.FUNDING_VIEW):
        return sa.false()
    if user.role == Role.COMMUNITY:
        return Site.community_id == user.community_id
    scope = township_scope(user)
    return sa.true() if scope is None else Site.township_id == scope


def can_view_site(user, site) -> bool:
    if not has_permission(user, Permission.FUNDING_VIEW):
        return False
    if user.role == Role.COMMUNITY:
        return site.community_id == user.community_id
    scope = township_scope(user)
    return scope is None or scope == site.township_id


def sees_township_milestones(user) -> bool:
    """Whether a user may see townships' own milestone items (their summaries) at all: not a community, which sees
    its own sites only."""
    return has_permission(user, Permission.TRACKING_VIEW) and user.role != Role.COMMUNITY


def can_view_township_milestone(user, township_id: int) -> bool:
    """A township's own milestone item: the bureau, finance and that township."""
    scope = township_scope(user)
    return sees_township_milestones(user) and (scope is None or scope == township_id)


def can_spend_for(user, site) -> bool:
    """A township records spending for its own sites, a community for itself."""
    return has_permission(user, Permission.FUNDING_SPEND) and can_view_site(user, site)


def can_submit_for(user, site) -> bool:
    """Milestones and monthly reports are submitted by the site's township."""
    return has_permission(user, Permission.TRACKING_SUBMIT) and user.township_id == site.township_id


def can_upload_archive(user, site) -> bool:
    return has_permission(user, Permission.ARCHIVE_UPLOAD) and can_view_site(user, site)


def can_record_ledger(user, community) -> bool:
    """A community keeps its own ledger; its township may keep it on its behalf."""
    return has_permission(user, Permission.LEDGER_RECORD) and can_view_community(user, community)


def authorize(allowed: bool) -> None:
    """Abort with 403 (and a logged denial) unless ``allowed``."""
    if not allowed:
        abort(403)

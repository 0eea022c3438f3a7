from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from app.extensions import db
from app.pagination import paginate
from app.permissions import Permission, requires
from app.tracking.models import Notification
from app.tracking.notifications import mark_read

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.route("/")
@requires(Permission.HOME)
def index():
    page = paginate(sa.select(Notification).where(Notification.user_id == current_user.id)
                    .order_by(Notification.created_at.desc(), Notification.id.desc()))
    return render_template("notifications/index.html", page=page)


@bp.route("/<int:notification_id>/open", methods=["POST"])
@requires(Permission.HOME)
def open_(notification_id: int):
    item = db.session.get(Notification, notification_id)
    if item is None or item.user_id != current_user.id:
        return redirect(url_for("notifications.index"))
    mark_read(current_user, item.id)
    db.session.commit()
    # Links are paths this app wrote itself; anything else goes back to the list.
    target = item.link if item.link.startswith("/") and not item.link.startswith("//") else None
    return redirect(target or url_for("notifications.index"))


@bp.route("/read-all", methods=["POST"])
@requires(Permission.HOME)
def read_all():
    mark_read(current_user)
    db.session.commit()
    return redirect(request.referrer if (request.referrer or "").startswith(request.host_url)
                    else url_for("notifications.index"))

"""The floor the key pages are measured against (issue 9), registered only when ``BENCH_FLOOR`` is on.

- ``/_floor/bare``: the framework alone: routing, the request hooks every page has, a few bytes of text.
- ``/_floor/list?rows=N``: a plain page of the same app listing N applications with the same ORM (joined township
  and community, a link per row) in the same layout, for a logged-in user: what any page showing N rows costs, so a
  key page's time divided by it is the price of the page's own work.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from sqlalchemy.orm import joinedload

from app.applications.models import Application
from app.extensions import db
from app.permissions import Permission, public, requires

bp = Blueprint("floor", __name__, url_prefix="/_floor")
MAX_ROWS = 5_000


@bp.route("/bare")
@public
def bare():
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.route("/list")
@requires(Permission.HOME)
def listing():
    rows = min(max(request.args.get("rows", 50, type=int), 0), MAX_ROWS)
    applications = db.session.scalars(
        sa.select(Application).options(joinedload(Application.township), joinedload(Application.community))
        .order_by(Application.id).limit(rows)
    ).all()
    return render_template("bench/floor.html", applications=applications)

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, request

from app.database import id_number
from app.extensions import db


def paginate(query: sa.Select):
    """One page of ``query`` (page number from ?page=, nonsense treated as page 1): two queries, any size."""
    size = current_app.config["PAGE_SIZE"]
    page = request.args.get("page", 1, type=id_number)  # a page number past any offset the database takes is nonsense
    return db.paginate(query, page=page if page >= 1 else 1, per_page=size, max_per_page=size, error_out=False)

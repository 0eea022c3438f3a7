from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from app.extensions import db


def paginate(query: sa.Select):
    """One page of ``query`` (page number from ?page=, nonsense treated as page 1): two queries, any size."""
    size = current_app.config["PAGE_SIZE"]
    return db.paginate(query, per_page=size, max_per_page=size, error_out=False)

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, request
from flask_sqlalchemy.pagination import Pagination

from app.database import id_number
from app.extensions import db


@dataclass
class CappedPage:
    """A page of a list whose total is counted only up to a limit (see :func:`paginate`); it answers what the pager
    asks of Flask-SQLAlchemy's pagination (``items``, ``page``, ``pages``, ``total``, ``has_prev``/``has_next``,
    ``prev_num``/``next_num``)."""

    items: list
    page: int
    per_page: int
    total: int  # exact unless ``total_capped``; then the limit, and there are more
    total_capped: bool
    has_next: bool

    @property
    def pages(self) -> int:
        return max(-(-self.total // self.per_page), 1) if self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def requested_page() -> int:
    """?page=, with nonsense (a word, zero, a number past any offset the database takes) read as page 1."""
    page = request.args.get("page", 1, type=id_number)
    return page if page >= 1 else 1


class ListPagination(Pagination):
    """Flask-SQLAlchemy's pagination over a list already in memory."""

    def _query_items(self) -> list:
        start = self._query_offset
        return list(self._query_args["items"][start:start + self.per_page])

    def _query_count(self) -> int:
        return len(self._query_args["items"])


def paginate_list(items: Sequence) -> ListPagination:
    """One page of a list computed in Python (a ranking, an overview whose order is not a column), as
    :func:`paginate` gives one page of a query: same ?page=, same PAGE_SIZE, same object for the pager macro
    (past the end is an empty page)."""
    size = current_app.config["PAGE_SIZE"]
    return ListPagination(page=requested_page(), per_page=size, max_per_page=size, error_out=False, items=items)


def paginate(query: sa.Select, *, count_limit: int | None = None):
    """One page of ``query`` (page number from ?page=, nonsense treated as page 1).

    Without ``count_limit``: Flask-SQLAlchemy's pagination, two queries (the page and an exact count), any size.

    With ``count_limit``, for lists that grow without bound (the audit log: 10 million rows at province scale), an
    exact count would read every matching row. Instead the count stops after ``count_limit`` + 1 matching rows
    (an index walk of bounded length); when there are more, ``total`` is ``count_limit`` and ``total_capped`` is
    set, and the page says "more than 10,000". Only the first ``count_limit`` rows can be paged to (a page number
    beyond them shows the last of those pages): a deep OFFSET costs as much as a count, and a list that long is
    narrowed with the filters, not paged through. The count is skipped when the page itself shows where the list
    ends. ``query`` selects one ORM entity (the items are entities) or columns (the items are rows); the count
    replaces them with a constant.
    """
    size = current_app.config["PAGE_SIZE"]
    page = requested_page()
    if count_limit is None:
        return db.paginate(query, page=page, per_page=size, max_per_page=size, error_out=False)
    page = min(page, max(-(-count_limit // size), 1))
    offset = (page - 1) * size
    # One row more than the page tells whether another page follows.
    result = db.session.execute(query.limit(size + 1).offset(offset))
    descriptions = query.column_descriptions
    one_entity = len(descriptions) == 1 and descriptions[0]["expr"] is descriptions[0]["entity"]
    items = (result.unique().scalars() if one_entity else result).all()
    has_next = len(items) > size
    items = items[:size]
    if not has_next and (items or offset == 0):  # the list ends on this page: its total is known
        return CappedPage(items, page, size, offset + len(items), False, False)
    counted = query.order_by(None).with_only_columns(sa.literal(1), maintain_column_froms=True).limit(count_limit + 1)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(counted.subquery()))
    capped = total > count_limit
    return CappedPage(items, page, size, min(total, count_limit), capped, has_next and offset + size < count_limit)

"""One page of a list computed in Python (a ranking, an overview whose order is not a column), as
:func:`app.pagination.paginate` gives one page of a query: same ``?page=``, same ``PAGE_SIZE``, same object for the
``pager`` macro."""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app, request
from flask_sqlalchemy.pagination import Pagination

from app.database import id_number


class ListPagination(Pagination):
    """A Flask-SQLAlchemy Pagination over a list already in memory."""

    def _query_items(self) -> list:
        start = self._query_offset
        return list(self._query_args["items"][start:start + self.per_page])

    def _query_count(self) -> int:
        return len(self._query_args["items"])


def paginate_list(items: Sequence) -> ListPagination:
    """The page of ``items`` that ?page= asks for (nonsense is page 1; past the end is an empty page)."""
    size = current_app.config["PAGE_SIZE"]
    page = request.args.get("page", 1, type=id_number)  # a number no page can have is nonsense too
    return ListPagination(page=page if page >= 1 else 1, per_page=size, max_per_page=size, error_out=False,
                          items=items)

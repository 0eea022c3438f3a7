"""No query per row (issue 9 §3): every key page and every xlsx export runs the same number of SQL statements on a
small and on a wider database (SQLite and PostgreSQL).

``flask bench-data`` fills two fresh databases with the same seed and the same date: ``tiny`` and ``tiny-wide``
(the same two years of programmes with three times the townships and three to four times the applications, sites,
spending lines, audit rows and consultations). The wider app also shows more rows per page (``PAGE_SIZE``), so that
paginated lists grow too. Each page of ``bench.pages`` is requested once to warm it, then once more while the
statements are counted (transaction control left out); the two counts must be equal, and each key page must list
several times more rows on the wider database, or the comparison would prove nothing. A failure names the statements
that repeat.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from app.applications.models import Application
from app.bench_data import SCALES
from app.extensions import db
from app.programmes.models import Programme, ProgrammeStatus
from app.statements import REMEMBERED
from bench.pages import exports, key_pages
from tests.bench.helpers import fresh_app
from tests.conftest import QueryCounter, _database_kinds, login

SMALL, WIDE = "tiny", "tiny-wide"
HOME = "bureau home"
PAGE_SIZES = {SMALL: 20, WIDE: 50}
TODAY = "2025-11-20"  # both databases on the same calendar: the latest programmes selected, sites under way
# bench/pages.py opens these with an account that cannot have them (reported; remove an entry once the page is fixed):
# the spending import template is for township accounts; the bureau's offline scoring workbook needs ?evaluator=.
NOT_OK: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _transaction():
    """Replaces the suite's per-test transaction: these tests make and fill databases of their own."""
    yield


@dataclass
class Measured:
    url: str
    status: int
    statements: list[str]
    listed: int  # rows the response lists: table rows of a page, rows of all sheets of a workbook
    rows: int  # rows of the data the page lists or sums up (Page.rows from bench.pages, but see _measure)
    error: str = ""  # the exception a page raised (TESTING propagates them)

    @property
    def count(self) -> int:
        return len(self.statements)


@dataclass
class Scale:
    name: str
    seconds: float  # generation
    pages: dict[str, Measured]
    key: list[str]  # names of the key pages


def _listed(response) -> int:
    if response.mimetype == "text/html":
        return len(re.findall(rb"<tr[\s>]", response.data))
    if response.data[:2] == b"PK":
        book = load_workbook(io.BytesIO(response.data), read_only=True)
        return sum(sheet.max_row or 0 for sheet in book.worksheets)
    return 0


def _measure(app, scale: str) -> Scale:
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["bench-data", "--scale", scale, "--seed", "1", "--today", TODAY])
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    app.config["PAGE_SIZE"] = PAGE_SIZES[scale]
    with app.app_context():
        key = key_pages(PAGE_SIZES[scale])
        pages = key + exports()
        # The bureau's home sums up the running programmes (its Page.rows, their number, is the same on both) and
        # lists at most a fixed number of townships and findings: what must grow is what it sums up.
        running = db.session.scalar(sa.select(sa.func.count(Application.id)).join(Application.programme).where(
            Programme.status.in_([ProgrammeStatus.OPEN, ProgrammeStatus.EVALUATING, ProgrammeStatus.SELECTED,
                                  ProgrammeStatus.IMPLEMENTING])))
    rows = {page.name: page.rows for page in pages} | {HOME: running}
    engine = db._app_engines[app][None]
    measured = {}
    for page in pages:
        client = app.test_client()  # a fresh login: the session's last-seen stamp is not due for a write
        assert login(client, page.user).status_code == 302, page.user
        counter = QueryCounter()
        try:
            client.get(page.url)
            # Counted with nothing remembered (the first view after any change): what a page keeps under
            # changes_mark must be read in a bounded number of statements too.
            for remembered in REMEMBERED:
                remembered.clear()
            sa.event.listen(engine, "before_cursor_execute", counter)
            try:
                response = client.get(page.url)
            finally:
                sa.event.remove(engine, "before_cursor_execute", counter)
        except Exception as error:  # the tests below name the page; the traceback is in the log
            logging.getLogger(__name__).exception("%s %s", scale, page.url)
            measured[page.name] = Measured(page.url, 500, counter.statements, 0, rows[page.name], repr(error))
            continue
        measured[page.name] = Measured(page.url, response.status_code, counter.statements, _listed(response),
                                       rows[page.name])
    return Scale(scale, seconds, measured, [page.name for page in key])


@pytest.fixture(scope="module", params=_database_kinds())
def scales(request, tmp_path_factory) -> dict[str, Scale]:
    out = {}
    for scale in (SMALL, WIDE):
        app = fresh_app(request.param, request, tmp_path_factory)
        try:
            out[scale] = _measure(app, scale)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    return out


_LITERALS = [
    (re.compile(r"'(?:[^']|'')*'"), "'…'"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "N"),
    (re.compile(r"%\(\w+\)s"), "?"),  # psycopg's parameters; SQLite's are already ?
    (re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)"), "(…)"),  # an IN list of any length
    (re.compile(r"\s+"), " "),
]
_COLUMNS = re.compile(r"^SELECT (?:DISTINCT )?(\S+?)(?: AS \w+)?, .{80,}? FROM ")


def _shape(statement: str) -> str:
    """The statement with its literals, parameters and IN lists stripped, and a long column list shortened."""
    for pattern, replacement in _LITERALS:
        statement = pattern.sub(replacement, statement)
    return _COLUMNS.sub(r"SELECT \1, … FROM ", statement.strip())


def _difference(small: Measured, wide: Measured) -> str:
    """The statement shapes whose number differs, with both numbers, most repeated first."""
    a, b = Counter(map(_shape, small.statements)), Counter(map(_shape, wide.statements))
    shapes = sorted((shape for shape in a.keys() | b.keys() if a[shape] != b[shape]),
                    key=lambda shape: (-abs(b[shape] - a[shape]), shape))
    return "\n".join(f"      {a[shape]:>4} → {b[shape]:<4} {shape[:400]}" for shape in shapes)


def _table(scales: dict[str, Scale], names: list[str]) -> str:
    small, wide = scales[SMALL], scales[WIDE]
    lines = [f"  {'page':<28} {'queries ' + SMALL:>14} {'queries ' + WIDE:>19} {'data rows':>12} {'rows listed':>12}"
             "  url"]
    for name in names:
        a, b = small.pages[name], wide.pages[name]
        mark = "  " if a.count == b.count else "≠ "
        lines.append(f"{mark}{name:<28} {a.count:>14} {b.count:>19} {f'{a.rows} → {b.rows}':>12} "
                     f"{f'{a.listed} → {b.listed}':>12}  {b.url}")
    return "\n".join(lines)


def test_every_page_answers(scales):
    wrong = {(name, scale.name): page.error or page.status for scale in scales.values()
             for name, page in scale.pages.items() if page.status != NOT_OK.get(name, 200)}
    assert not wrong, f"statuses not as expected (200, or as in NOT_OK): {wrong}"


def test_the_wide_database_lists_several_times_more_rows(scales):
    """Or equal counts would prove nothing: at least twice the data behind each key page, and (but on the home
    page, whose lists stop at a fixed length) at least twice the table rows in the page."""
    small, wide = scales[SMALL], scales[WIDE]
    assert small.key == wide.key and len(small.key) == 7 and HOME in small.key
    assert SCALES[WIDE].years == SCALES[SMALL].years
    few = [name for name in small.key if not wide.pages[name].rows >= 2 * small.pages[name].rows > 0]
    few += [f"{name} (table rows)" for name in small.key
            if name != HOME and not wide.pages[name].listed >= 2 * small.pages[name].listed > 0]
    assert not few, f"not at least twice the rows on {WIDE}: {few}\n{_table(scales, small.key)}"


def test_query_count_does_not_grow_with_the_rows(scales):
    small, wide = scales[SMALL], scales[WIDE]
    names = list(small.pages)
    assert names == list(wide.pages)
    grows = [name for name in names if small.pages[name].count != wide.pages[name].count]
    print(f"\n{_table(scales, names)}\n(generation: {SMALL} {small.seconds:.1f} s, {WIDE} {wide.seconds:.1f} s)")
    details = "\n".join(f"  {name}: {small.pages[name].count} on {SMALL}, {wide.pages[name].count} on {WIDE}; "
                        f"statements whose number differs ({SMALL} → {WIDE}):\n"
                        f"{_difference(small.pages[name], wide.pages[name])}" for name in grows)
    assert not grows, (f"the query count grows with the data on {len(grows)} page(s): {', '.join(grows)}\n"
                       f"{_table(scales, names)}\n{details}\n"
                       f"(generation: {SMALL} {small.seconds:.1f} s, {WIDE} {wide.seconds:.1f} s)")

"""Template filters: money from fen, times in China time, via Babel in the user's locale."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import format_currency, format_date, format_datetime, get_locale, get_timezone, pgettext


def fen_to_yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else Decimal(int(fen)) / 100


def yuan_text(fen: int) -> str:
    """30000.5 yuan as "30,000.50", computed in Decimal (a float would round some fen wrongly)."""
    return f"{Decimal(int(fen)) / 100:,.2f}"


# "¥" in every language: Babel's English symbol for CNY is "CN¥", but these are RMB amounts for Chinese bureaus, and
# the report pages and workbooks (reports/xlsx.py) write "¥" too.
_MONEY_PATTERN = "¥#,##0.00"


def babel_money(fen: int | None) -> str:
    """¥30,000.00 for 3000000 fen: Babel's currency format, with the current locale's separators."""
    if fen is None:
        return ""
    return format_currency(fen_to_yuan(fen), "CNY", format=_MONEY_PATTERN)


# Babel formats one amount in some tens of microseconds (locale lookup, pattern, Decimal), and a page of sites with
# their sources shows several hundred. So Babel is asked once per locale for the shape of an amount (text around the
# plain "1,234,567.89", for a positive and a negative amount), the shape is checked against Babel on probe amounts,
# and amounts are then written with integer arithmetic. A locale whose shape is not the plain one (other separators
# or grouping) keeps Babel for every amount: the text is Babel's either way.
_MONEY_PROBES = (123456789, -123456789, 5, -5, 100000, 0)
_money_shapes: dict[str, tuple[str, str, str, str] | None] = {}


def _plain_money(fen: int) -> str:
    whole, cents = divmod(abs(fen), 100)
    return f"{whole:,}.{cents:02d}"


def _shaped_money(shape: tuple[str, str, str, str], fen: int) -> str:
    prefix, suffix, negative_prefix, negative_suffix = shape
    if fen < 0:
        return f"{negative_prefix}{_plain_money(fen)}{negative_suffix}"
    return f"{prefix}{_plain_money(fen)}{suffix}"


def _money_shape() -> tuple[str, str, str, str] | None:
    positive, negative = babel_money(123456789), babel_money(-123456789)
    body = _plain_money(123456789)
    if body not in positive or body not in negative:
        return None
    shape = (*positive.split(body, 1), *negative.split(body, 1))
    return shape if all(_shaped_money(shape, fen) == babel_money(fen) for fen in _MONEY_PROBES) else None


def money_writer() -> Callable[[int | None], str]:
    """:func:`money` for the current locale, looked up once: for code that writes hundreds of amounts (finding the
    locale costs more than writing an amount)."""
    locale = str(get_locale())
    if locale not in _money_shapes:
        _money_shapes[locale] = _money_shape()
    shape = _money_shapes[locale]

    def write(fen: int | None) -> str:
        if fen is None:
            return ""
        return babel_money(fen) if shape is None else _shaped_money(shape, int(fen))

    return write


def money(fen: int | None) -> str:
    """¥30,000.00 for 3000000 fen, exactly as :func:`babel_money` writes it, faster."""
    return "" if fen is None else money_writer()(fen)


# Dates and times are written with digit-only patterns ("yyyy-MM-dd HH:mm"), the same in every locale: strftime in
# the user's time zone gives Babel's text at a fraction of its cost (a page lists a time per row).
@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _user_zone() -> ZoneInfo:
    """The user's time zone (Flask-Babel's, a pytz zone) as the standard library's: converting a moment with it
    takes half the time (a page converts one per row)."""
    return _zone(str(get_timezone()))


def datetime_writer() -> Callable[[datetime | None], str]:
    """:func:`datetime_text` with the user's time zone looked up once, for code that writes a time per row."""
    zone = _user_zone()

    def write(value: datetime | None) -> str:
        if not value:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return write


def datetime_text(value: datetime | None) -> str:
    """A moment as "2024-05-31 17:05" in the user's time zone (China time); a naive value is taken as UTC."""
    return datetime_writer()(value) if value else ""


def date_text(value: date | datetime | None) -> str:
    """A day as "2024-05-31"; a moment becomes its day in the user's time zone."""
    if not value:
        return ""
    if isinstance(value, datetime):
        value = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(_user_zone())
    return value.strftime("%Y-%m-%d")


def babel_datetime(value) -> str:
    return format_datetime(value, "yyyy-MM-dd HH:mm") if value else ""


def babel_date(value) -> str:
    return format_date(value, "yyyy-MM-dd") if value else ""


# json.dumps with options builds an encoder per call; the audit search writes two values a row.
_READABLE_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def json_text(value) -> str:
    """JSON with Chinese left readable (Jinja's tojson escapes it); autoescaping still applies."""
    return "" if value is None else _READABLE_JSON.encode(value)


def points(value) -> str:
    """A score (a Fraction of points) with two decimals, rounded half up; empty when there is none."""
    from app.scoring.aggregate import display

    return display(value)


def percent_text(share: Fraction | None, places: int = 2) -> str:
    """A share as a percentage rounded half up, e.g. Fraction(2, 3) → "66.67%"; "—" when there is none."""
    if share is None:
        return "—"
    scaled = share * 100 * 10**places
    whole, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    return f"{Decimal(whole).scaleb(-places):.{places}f}%"


def listing(items: Iterable) -> str:
    """Items joined with the reader's separator: 甲、乙 in Chinese, "a, b" in English."""
    return pgettext("list separator", "、").join(str(item) for item in items)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["points"] = points
    app.jinja_env.filters["listing"] = listing
    app.jinja_env.filters["json_text"] = json_text
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["datetime"] = datetime_text
    app.jinja_env.filters["date"] = date_text

"""Template filters: money from fen, times in China time, via Babel in the user's locale."""

from __future__ import annotations

import json
from decimal import Decimal

from flask import Flask
from flask_babel import format_currency, format_date, format_datetime


def fen_to_yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else Decimal(int(fen)) / 100


def yuan_text(fen: int) -> str:
    """30000.5 yuan as "30,000.50", computed in Decimal (a float would round some fen wrongly)."""
    return f"{Decimal(int(fen)) / 100:,.2f}"


def money(fen: int | None) -> str:
    """¥30,000.00 for 3000000 fen."""
    if fen is None:
        return ""
    return format_currency(fen_to_yuan(fen), "CNY")


def json_text(value) -> str:
    """JSON with Chinese left readable (Jinja's tojson escapes it); autoescaping still applies."""
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def points(value) -> str:
    """A score (a Fraction of points) with two decimals, rounded half up; empty when there is none."""
    from app.scoring.aggregate import display

    return display(value)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["points"] = points
    app.jinja_env.filters["json_text"] = json_text
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["datetime"] = lambda value: format_datetime(value, "yyyy-MM-dd HH:mm") if value else ""
    app.jinja_env.filters["date"] = lambda value: format_date(value, "yyyy-MM-dd") if value else ""

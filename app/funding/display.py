"""Money text for pages that show hundreds of amounts: the same text as the ``money`` filter
(:func:`app.formatting.money`, Babel's currency format in the user's locale) at a fraction of the cost.

Babel formats one amount in some tens of microseconds (locale lookup, pattern, Decimal); a page of sites with their
sources shows several hundred. :func:`money_formatter` asks Babel once per locale for the shape of an amount
(prefix, grouping, decimals, suffix, and the same for a negative amount), checks the shape against Babel on probe
amounts, and then writes amounts with integer arithmetic. A locale whose shape is not the plain one (other
separators or grouping) keeps Babel for every amount, so the text is Babel's either way.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import get_locale

from app.formatting import money

_PROBES = (123456789, -123456789, 5, -5, 100000, 0)
_shapes: dict[str, tuple[str, str, str, str] | None] = {}


def _plain(fen: int) -> str:
    whole, cents = divmod(abs(fen), 100)
    return f"{whole:,}.{cents:02d}"


def _shape() -> tuple[str, str, str, str] | None:
    """(prefix, suffix, negative prefix, negative suffix) around the plain "1,234,567.89", or None."""
    positive, negative = money(123456789), money(-123456789)
    body = _plain(123456789)
    if body not in positive or body not in negative:
        return None
    shape = (*positive.split(body, 1), *negative.split(body, 1))
    return shape if all(_apply(shape, fen) == money(fen) for fen in _PROBES) else None


def _apply(shape: tuple[str, str, str, str], fen: int) -> str:
    prefix, suffix, negative_prefix, negative_suffix = shape
    if fen < 0:
        return f"{negative_prefix}{_plain(fen)}{negative_suffix}"
    return f"{prefix}{_plain(fen)}{suffix}"


def money_formatter() -> Callable[[int | None], str]:
    """A function that writes fen as the ``money`` filter does, for the current request's locale."""
    locale = str(get_locale())
    if locale not in _shapes:
        _shapes[locale] = _shape()
    shape = _shapes[locale]
    if shape is None:
        return money

    def fast(fen: int | None) -> str:
        return "" if fen is None else _apply(shape, int(fen))

    return fast

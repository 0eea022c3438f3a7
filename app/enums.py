"""Enum base whose members carry a translated title, stored by value as short strings."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_babel import LazyString, get_locale

# Translated titles per (enum class, locale): titles() makes a dict of lazy strings, and pages ask for a title per row.
_titles: dict[tuple, dict] = {}


class TitledEnum(enum.StrEnum):
    """A str enum; subclasses define ``titles()`` returning {member: lazy_gettext(...)}."""

    @classmethod
    def titles(cls) -> dict:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @property
    def title(self) -> str:
        locale = get_locale()
        key = (type(self), str(locale) if locale is not None else None)
        titles = _titles.get(key)
        if titles is None:
            titles = _titles[key] = {member: str(text) for member, text in self.titles().items()}
        return titles[self]

    @property
    def lazy_title(self) -> LazyString:
        """The title in the language current when it is made into a string (a notification's receiver's)."""
        return LazyString(lambda: self.title)

    @classmethod
    def choices(cls) -> list[tuple[str, LazyString]]:
        """(value, title) pairs for a select; the titles are lazy because forms build their choices at import,
        before any request has a locale."""
        return [(member.value, member.lazy_title) for member in cls]

    def __str__(self) -> str:
        return self.value


def enum_column(enum_cls: type[enum.Enum], length: int = 20, name: str | None = None) -> sa.Enum:
    """A portable enum column: a VARCHAR with a CHECK on PostgreSQL and SQLite alike.

    ``name`` names the CHECK constraint; two columns of one enum in the same table need different names.
    """
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
        name=name or enum_cls.__name__.lower(),
    )

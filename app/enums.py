"""Enum base whose members carry a translated title, stored by value as short strings."""

from __future__ import annotations

import enum

import sqlalchemy as sa


class TitledEnum(enum.StrEnum):
    """A str enum; subclasses define ``titles()`` returning {member: lazy_gettext(...)}."""

    @classmethod
    def titles(cls) -> dict:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @property
    def title(self) -> str:
        return str(self.titles()[self])

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.title) for member in cls]

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

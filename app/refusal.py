"""What every domain's refusal carries: a message for the user, and the form field it concerns (when one does), so
that the page shown again puts it there (``BaseForm.refuse``); a refusal naming no field is about the state of
things."""

from __future__ import annotations


class Refusal(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

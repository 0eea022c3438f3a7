"""Response headers that every page carries."""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user
from werkzeug.datastructures import ImmutableMultiDict

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    @app.before_request
    def _query_without_nul():
        # No link carries a NUL character and PostgreSQL text cannot hold one: query arguments are read without
        # it, as other nonsense in a filter is ignored. (Forms refuse it at the field: forms.base.)
        if any("\x00" in key + value for key, value in request.args.items(multi=True)):
            request.args = ImmutableMultiDict([(key.replace("\x00", ""), value.replace("\x00", ""))
                                               for key, value in request.args.items(multi=True)])

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        # Pages behind a login may show personal or money data: no browser or proxy keeps a copy.
        if current_user.is_authenticated and not request.path.startswith("/static"):
            response.headers["Cache-Control"] = "no-store"
        return response

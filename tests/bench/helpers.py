"""Fresh, migrated databases for the tests that fill databases of their own (bench-data)."""

from __future__ import annotations

import uuid

from flask_migrate import upgrade

from tests.conftest import make_app


def fresh_app(kind: str, request, tmp_path_factory):
    """A new app on a new, migrated, empty database of ``kind`` (sqlite or postgresql)."""
    folder = tmp_path_factory.mktemp(f"bench-{kind}")
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database(f"bench_{uuid.uuid4().hex[:16]}")
    else:
        url = f"sqlite:///{folder / 'bench.db'}"
    app = make_app(url, folder)
    with app.app_context():
        upgrade()
    return app

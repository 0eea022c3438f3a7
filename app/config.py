"""Settings, read from the environment once when the app is created.

Nothing secret has a default in the code: SECRET_KEY comes from the environment or from a file generated
once under ``instance/`` and shared by every gunicorn worker.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_secret_key(instance_path: str) -> str:
    """Return SECRET_KEY from the environment, or from ``instance/secret_key``, creating it once.

    The file is created with O_EXCL so that several workers starting together agree on one key.
    """
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    key = path.read_text().strip()
    if not key:  # another worker is between create and write
        import time

        time.sleep(0.2)
        key = path.read_text().strip()
    return key


def build_config(instance_path: str) -> dict:
    """All settings as a dict; tests pass overrides on top of it."""
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(instance_path) / 'app.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; the plain scheme would ask for psycopg2.
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        # A pooled connection is checked before use only after it has been idle this long (app.database).
        "DATABASE_PING_AFTER_IDLE_SECONDS": _int("DATABASE_PING_AFTER_IDLE_SECONDS", 2),
        "UPLOAD_FOLDER": os.environ.get("UPLOAD_FOLDER") or str(Path(instance_path) / "uploads"),
        "MAX_CONTENT_LENGTH": _int("MAX_UPLOAD_MB", 20) * 1024 * 1024,
        "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 15000),
        # Accounts and sessions (等保 2.0 level 3 defaults; PASSWORD_MAX_AGE_DAYS=90 turns on password ageing).
        "PASSWORD_HASH_METHOD": "scrypt",
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCK_MINUTES": _int("LOGIN_LOCK_MINUTES", 30),
        "PASSWORD_MAX_AGE_DAYS": _int("PASSWORD_MAX_AGE_DAYS", 0),
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30),
        "SESSION_ABSOLUTE_HOURS": _int("SESSION_ABSOLUTE_HOURS", 12),
        "AUDIT_RETENTION_DAYS": max(180, _int("AUDIT_RETENTION_DAYS", 365)),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", False),
        # Reverse proxies in front of the app (0: none). With 1, X-Forwarded-For/-Proto from it are trusted, so the
        # audit log records the real client and links are https.
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        "SESSION_COOKIE_NAME": "sfd_session",
        "WTF_CSRF_TIME_LIMIT": None,  # the session's own timeouts bound the token's life
        "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "LANGUAGES": {"zh_Hans_CN": "中文", "en": "English"},
        "BOOTSTRAP_SERVE_LOCAL": True,
        "BOOTSTRAP_BOOTSWATCH_THEME": None,
        "PAGE_SIZE": _int("PAGE_SIZE", 50),
        # E-mail copies of notifications: off unless SMTP_HOST is set.
        "SMTP_HOST": os.environ.get("SMTP_HOST", ""),
        "SMTP_PORT": _int("SMTP_PORT", 25),
        "SMTP_USER": os.environ.get("SMTP_USER", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS", False),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "sfd@localhost"),
        # `make bench` only: adds the two floor pages (bench/floor.py) that key pages are measured against.
        "BENCH_FLOOR": _bool("BENCH_FLOOR", False),
    }

"""Every domain's models, imported once so that SQLAlchemy and Alembic see the whole schema."""

from app.accounts.models import Role, User, UserSession  # noqa: F401
from app.audit.models import AuditLog  # noqa: F401
from app.places.models import Community, Township  # noqa: F401

"""Every domain's models, imported once so that SQLAlchemy and Alembic see the whole schema."""

from app.accounts.models import Role, User, UserSession  # noqa: F401
from app.applications.models import (  # noqa: F401
    Application,
    ApplicationAttachment,
    ApplicationEvent,
    BudgetLine,
    Convenor,
    ThinkTankMember,
)
from app.audit.models import AuditLog  # noqa: F401
from app.files.models import StoredFile  # noqa: F401
from app.funding.models import (  # noqa: F401
    Allocation,
    Disbursement,
    PeriodSignOff,
    Site,
    SpendingLine,
    Tranche,
    TrancheRelease,
)
from app.places.models import Community, Township  # noqa: F401
from app.programmes.models import (  # noqa: F401
    DeadlineExtension,
    FundingSource,
    FundingTier,
    FundingTierAmount,
    Milestone,
    Programme,
    ProjectType,
)
from app.scoring.models import (  # noqa: F401
    Assignment,
    Criterion,
    Objection,
    Score,
    Selection,
    SelectionEntry,
    TieDecision,
    VetoCondition,
)
from app.tracking.models import (  # noqa: F401
    ArchiveItem,
    ConsultationMatter,
    ConsultationRecord,
    ConsultationRule,
    MilestoneDocument,
    MilestoneEvent,
    MonthlyReport,
    MonthlyReportPhoto,
    Notification,
    ProgressNotice,
    RepresentativeMeeting,
    ScorecardDecision,
    SiteMilestone,
    SpotCheck,
)

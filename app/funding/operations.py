"""Money after selection: allocations, tranches, disbursements (拨付), spending, reversals and period sign-off.

Every money table is append-only: a correction is a new line (a reversal or an adjusting entry), dated in a
period that is still open. Totals are always sums of lines, never stored. Operations flush, never commit.
"""

from __future__ import annotations

import re
import uuid
from calendar import monthrange
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.files.models import StoredFile
from app.formatting import yuan_text
from app.funding.models import (
    SPENDING_CATEGORIES,
    Allocation,
    Disbursement,
    PeriodSignOff,
    Site,
    SpendingLine,
    Tranche,
    TrancheRelease,
)
from app.funding.queries import ledger_sums
from app.programmes.models import FundingSource, Programme
from app.refusal import Refusal

MAX_FEN = 10_000_000_000_00  # ten billion yuan: no line of any grant comes near it


def _uid(user) -> int | None:
    return user.id if user is not None else None


class FundingError(Refusal):
    """A money step the rules refuse; the message is for the user, and ``field`` names the form field it concerns
    (when one does) so that the page can show it there."""


# --- periods -----------------------------------------------------------------------------------------


def signed_off(day: date) -> PeriodSignOff | None:
    return db.session.scalar(
        sa.select(PeriodSignOff).where(PeriodSignOff.period_start <= day, PeriodSignOff.period_end >= day).limit(1)
    )


def _open(day: date) -> None:
    period = signed_off(day)
    if period is not None:
        raise FundingError(_("%(d)s 所在期间（%(p)s）已结账，不能再录入；如需更正，请在未结账的期间录入调整分录。",
                             d=day.isoformat(), p=period.label), field="entry_date")


def parse_period(label: str) -> tuple[date, date]:
    """'2024-05' → May 2024; '2024Q2' → April–June 2024."""
    label = label.strip().upper()
    month = re.fullmatch(r"(\d{4})-(\d{1,2})", label)
    quarter = re.fullmatch(r"(\d{4})Q([1-4])", label)
    year_text = (month or quarter).group(1) if (month or quarter) else ""
    if not year_text or not 2000 <= int(year_text) <= 2100:
        raise FundingError(_("期间应写成 2024-05（月）或 2024Q2（季度），年份在 2000 至 2100 之间。"))
    if month and 1 <= int(month.group(2)) <= 12:
        year, number = int(month.group(1)), int(month.group(2))
        return date(year, number, 1), date(year, number, monthrange(year, number)[1])
    if quarter:
        year, number = int(quarter.group(1)), int(quarter.group(2))
        first = 3 * (number - 1) + 1
        return date(year, first, 1), date(year, first + 2, monthrange(year, first + 2)[1])
    raise FundingError(_("期间应写成 2024-05（月）或 2024Q2（季度）。"))


def sign_off(label: str, note: str, user) -> PeriodSignOff:
    start, end = parse_period(label)
    overlapping = db.session.scalar(
        sa.select(PeriodSignOff).where(PeriodSignOff.period_start <= end, PeriodSignOff.period_end >= start).limit(1)
    )
    if overlapping is not None:
        raise FundingError(_("与已结账的期间 %(p)s 重叠。", p=overlapping.label))
    period = PeriodSignOff(period_start=start, period_end=end, label=label.strip().upper(), note=note.strip(),
                           signed_by_id=_uid(user))
    db.session.add(period)
    db.session.flush()
    return period


# --- sums ----------------------------------------------------------------------------------------------


def _sum(model, site_id: int, source_id: int) -> int:
    # PostgreSQL sums a BIGINT into NUMERIC (a Decimal); money stays an int here.
    return int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(model.amount_fen), 0)).where(
            model.site_id == site_id, model.source_id == source_id)
    ))


def allocated(site: Site, source_id: int) -> int:
    return _sum(Allocation, site.id, source_id)


def disbursed(site: Site, source_id: int) -> int:
    return _sum(Disbursement, site.id, source_id)


def spent(site: Site, source_id: int) -> int:
    return _sum(SpendingLine, site.id, source_id)


def released_percent(site: Site) -> int:
    """The share of the allocation that may be paid now: tranches without a condition, and those released."""
    tranches = db.session.scalars(sa.select(Tranche).where(Tranche.programme_id == site.programme_id)).all()
    if not tranches:
        return 100
    released = set(db.session.scalars(sa.select(TrancheRelease.tranche_id).where(TrancheRelease.site_id == site.id)))
    return _released_percent(tranches, released)


def _released_percent(tranches: list[Tranche], released: set[int]) -> int:
    """Of a programme with tranches: those without a condition, and those ``released``."""
    return min(100, sum(t.percent for t in tranches if not t.condition or t.id in released))


def payable(site: Site, source_id: int) -> int:
    """What may still be paid to ``site`` from ``source_id`` without an override."""
    return _payable(allocated(site, source_id), released_percent(site), disbursed(site, source_id))


def _payable(allocated_fen: int, percent: int, disbursed_fen: int) -> int:
    return allocated_fen * percent // 100 - disbursed_fen


def _amount(amount_fen: int) -> int:
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise FundingError(_("金额须大于零。"), field="amount")
    if amount_fen > MAX_FEN:
        raise FundingError(_("金额过大。"), field="amount")
    return amount_fen


def _lock(site: Site) -> None:
    # Serialises money written to one site (PostgreSQL row lock; SQLite holds its write lock from BEGIN).
    db.session.execute(sa.select(Site.id).where(Site.id == site.id).with_for_update())


# --- allocations -------------------------------------------------------------------------------------------


def add_allocation(site: Site, source: FundingSource, amount_fen: int, reason: str, user, *,
                   entry_date: date, local_only: bool = False) -> Allocation:
    """A further allocation line (negative to reduce), with its reason. Townships add only their own sources."""
    if local_only and not source.local:
        raise FundingError(_("镇(街道)只能录入本级配套资金或社会资金（含慈善捐赠、社区基金）。"), field="source_id")
    if not reason.strip():
        raise FundingError(_("请填写调整原因。"), field="reason")
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen == 0 or abs(amount_fen) > MAX_FEN:
        raise FundingError(_("金额须不为零且在合理范围内。"), field="amount")
    _open(entry_date)
    _lock(site)
    # Only a cut can leave less allocated than already paid; a top-up is always welcome.
    if amount_fen < 0 and allocated(site, source.id) + amount_fen < disbursed(site, source.id):
        raise FundingError(_("调减后下达金额将少于已拨付金额。"), field="amount")
    allocation = Allocation(site_id=site.id, source_id=source.id, amount_fen=amount_fen, reason=reason.strip(),
                            entry_date=entry_date, created_by_id=_uid(user))
    db.session.add(allocation)
    db.session.flush()
    return allocation


# --- tranches --------------------------------------------------------------------------------------------


def save_tranches(programme: Programme, rows: list[dict]) -> None:
    """rows: [{name, percent, condition}] in paying order; the shares must add up to 100."""
    if rows and sum(row["percent"] for row in rows) != 100:
        raise FundingError(_("各批次比例之和应为 100％。"))
    existing = db.session.scalars(sa.select(Tranche).where(Tranche.programme_id == programme.id)
                                  .order_by(Tranche.sequence)).all()
    if db.session.scalar(sa.select(TrancheRelease.id).join(Tranche, Tranche.id == TrancheRelease.tranche_id)
                         .where(Tranche.programme_id == programme.id).limit(1)) is not None:
        raise FundingError(_("已有批次被放行，不能再修改拨付批次。"))
    for tranche in existing:
        db.session.delete(tranche)
    db.session.flush()
    for sequence, row in enumerate(rows, start=1):
        db.session.add(Tranche(programme_id=programme.id, sequence=sequence, name=row["name"],
                               percent=row["percent"], condition=row.get("condition", "")))
    db.session.flush()


def release_tranche(site: Site, tranche: Tranche, note: str, user) -> TrancheRelease:
    if tranche.programme_id != site.programme_id:
        raise FundingError(_("该批次不属于本项目。"), field="tranche_id")
    if not tranche.condition:
        raise FundingError(_("该批次无前置条件，无需放行。"), field="tranche_id")
    found = db.session.scalar(sa.select(TrancheRelease).where(TrancheRelease.site_id == site.id,
                                                              TrancheRelease.tranche_id == tranche.id))
    if found is not None:
        raise FundingError(_("该批次已放行。"), field="tranche_id")
    release = TrancheRelease(site_id=site.id, tranche_id=tranche.id, note=note.strip(),
                             released_by_id=_uid(user))
    db.session.add(release)
    db.session.flush()
    return release


# --- disbursements -----------------------------------------------------------------------------------------


def disburse(site: Site, source: FundingSource, amount_fen: int, *, entry_date: date, voucher_no: str,
             note: str = "", override_reason: str = "", user=None, batch: str = "") -> Disbursement:
    """A payment. More than is payable (allocation × released share − paid) needs an override reason."""
    amount_fen = _amount(amount_fen)
    voucher_no = voucher_no.strip()
    if not voucher_no:
        raise FundingError(_("请填写凭证号。"), field="voucher_no")
    _open(entry_date)
    _lock(site)
    available = payable(site, source.id)
    if amount_fen > available and not override_reason.strip():
        raise FundingError(_("%(site)s 的 %(source)s 可拨付 %(a)s 元，本次 %(b)s 元超出；如确需超额拨付，请填写理由。",
                             site=site.community.name, source=source.name, a=yuan_text(available),
                             b=yuan_text(amount_fen)), field="override_reason")
    line = Disbursement(site_id=site.id, source_id=source.id, entry_date=entry_date, amount_fen=amount_fen,
                        voucher_no=voucher_no, note=note.strip(),
                        override_reason=override_reason.strip() if amount_fen > available else "",
                        batch=batch, created_by_id=_uid(user))
    try:
        with db.session.begin_nested():
            db.session.add(line)
            db.session.flush()
    except IntegrityError as error:
        raise FundingError(_("凭证号 %(v)s 已使用过。", v=voucher_no), field="voucher_no") from error
    from app.tracking.notifications import notify_township

    notify_township(site.township_id, "disbursement",
                    _l("%(c)s 收到拨付 %(a)s 元（%(s)s）", c=site.community.name, a=yuan_text(amount_fen),
                      s=source.name),
                    note.strip(), f"/funding/sites/{site.id}", f"disbursement:{line.id}")
    return line


def reverse_disbursement(line: Disbursement, *, entry_date: date, reason: str, user) -> Disbursement:
    """A correction: the negative of ``line``, dated in an open period, with the same voucher number."""
    if line.reverses_id is not None:
        raise FundingError(_("冲销分录不能再冲销。"))
    if db.session.scalar(sa.select(Disbursement.id).where(Disbursement.reverses_id == line.id)) is not None:
        raise FundingError(_("该笔拨付已冲销。"))
    if not reason.strip():
        raise FundingError(_("请填写冲销原因。"), field="reason")
    _open(entry_date)
    _lock(line.site)
    reversal = Disbursement(site_id=line.site_id, source_id=line.source_id, entry_date=entry_date,
                            amount_fen=-line.amount_fen, voucher_no=line.voucher_no, reverses_id=line.id,
                            note=f"冲销：{reason.strip()}", created_by_id=_uid(user))
    db.session.add(reversal)
    db.session.flush()
    return reversal


def batch_plan(programme: Programme, source: FundingSource) -> list[tuple[Site, int]]:
    """For each site of the programme with an allocation from ``source``: what is payable now (may be 0), as
    :func:`payable` works it out for one site, in a fixed number of queries whatever the number of sites."""
    sums = ledger_sums(lambda model: [model.site_id, model.source_id], Site.programme_id == programme.id)
    by_site = {site_id: totals for (site_id, source_id), totals in sums.items() if source_id == source.id}
    tranches = db.session.scalars(sa.select(Tranche).where(Tranche.programme_id == programme.id)).all()
    releases: dict[int, set[int]] = {}
    for site_id, tranche_id in db.session.execute(
            sa.select(TrancheRelease.site_id, TrancheRelease.tranche_id).join(Site, Site.id == TrancheRelease.site_id)
            .where(Site.programme_id == programme.id)):
        releases.setdefault(site_id, set()).add(tranche_id)

    allocated_sites = [site_id for site_id, totals in by_site.items() if totals.allocated > 0]
    if not allocated_sites:
        return []
    sites = db.session.scalars(
        sa.select(Site).where(Site.id.in_(allocated_sites))
        .options(sa.orm.joinedload(Site.township), sa.orm.joinedload(Site.community))
        .order_by(Site.rank, Site.id)).all()

    def percent(site_id: int) -> int:
        return _released_percent(tranches, releases.get(site_id, set())) if tranches else 100

    return [(site, max(0, _payable(by_site[site.id].allocated, percent(site.id), by_site[site.id].disbursed)))
            for site in sites]


def batch_disburse(programme: Programme, source: FundingSource, *, entry_date: date, voucher_prefix: str,
                   note: str, user) -> list[Disbursement]:
    """Pay every site what is payable now from ``source``; vouchers PREFIX-001 …; all or nothing."""
    prefix = voucher_prefix.strip()
    if not prefix:
        raise FundingError(_("请填写凭证号前缀。"), field="voucher_prefix")
    plan = [(site, amount) for site, amount in batch_plan(programme, source) if amount > 0]
    if not plan:
        raise FundingError(_("没有可拨付的金额。"))
    batch = uuid.uuid4().hex[:12]
    return [
        disburse(site, source, amount, entry_date=entry_date, voucher_no=f"{prefix}-{number:03d}", note=note,
                 user=user, batch=batch)
        for number, (site, amount) in enumerate(plan, start=1)
    ]


# --- spending -------------------------------------------------------------------------------------------


def add_spending(site: Site, source: FundingSource, *, entry_date: date, item: str, category: str,
                 amount_fen: int, payee: str, receipt: StoredFile | None = None, note: str = "",
                 user=None) -> SpendingLine:
    amount_fen = _amount(amount_fen)
    if category not in SPENDING_CATEGORIES:
        raise FundingError(_("请选择支出类别。"), field="category")
    if not item.strip():
        raise FundingError(_("请填写支出项目。"), field="item")
    _open(entry_date)
    _lock(site)
    line = SpendingLine(site_id=site.id, source_id=source.id, entry_date=entry_date, item=item.strip(),
                        category=category, amount_fen=amount_fen, payee=payee.strip(), receipt=receipt,
                        note=note.strip(), created_by_id=_uid(user))
    db.session.add(line)
    db.session.flush()
    return line


def reverse_spending(line: SpendingLine, *, entry_date: date, reason: str, user) -> SpendingLine:
    if line.reverses_id is not None:
        raise FundingError(_("冲销分录不能再冲销。"))
    if db.session.scalar(sa.select(SpendingLine.id).where(SpendingLine.reverses_id == line.id)) is not None:
        raise FundingError(_("该笔支出已冲销。"))
    if not reason.strip():
        raise FundingError(_("请填写冲销原因。"), field="reason")
    _open(entry_date)
    reversal = SpendingLine(site_id=line.site_id, source_id=line.source_id, entry_date=entry_date,
                            item=line.item, category=line.category, amount_fen=-line.amount_fen, payee=line.payee,
                            reverses_id=line.id, note=f"冲销：{reason.strip()}",
                            created_by_id=_uid(user))
    db.session.add(reversal)
    db.session.flush()
    return reversal

"""The consultation ledger (台账): 协商记录表 (001 annex 2) and 村(居)民代表会议 (004) — the rules and the operations.

The rules are pure functions on integers, computed exactly (``Fraction``, integer comparisons; no floats):

- A consultation's agreement holds when **more than two thirds of those present** vote for it
  (``votes_for * 3 > present * 2``): 20 of 30 is exactly two thirds and does *not* hold, 21 of 30 does.
- A representative meeting is valid with **at least two thirds of all representatives** present
  (``present * 3 >= total * 2``): 30 of 45 is valid, 29 of 45 is not.
- A meeting's decision passes when the meeting is valid and **more than half of all representatives** (not of
  those present) vote for it (``votes_for * 2 > total``): 20 of 40 fails, 21 of 40 passes.
- Counts are never negative and ``for + against + abstain <= present`` (some present may not vote).
- A community holds at least one meeting a quarter; :func:`quarters_without_meeting` names the quarters (ended
  or current) that have none. A meeting below quorum is not a meeting in law and does not count.

The operations only ``flush()``; the view commits. A consultation is entered in China time and stored as aware
UTC; one dated in the future is refused. A record matching one of the 五不议 is kept but carries a warning.
Records are never removed, only marked (``deleted_at``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from app.applications.models import UnitLevel
from app.database import CHINA, china_today, utcnow
from app.extensions import db
from app.files.storage import UploadRejected, save_upload
from app.formatting import percent_text
from app.places.models import Community
from app.refusal import Refusal
from app.tracking.models import ConsultationMatter, ConsultationRecord, ConsultationRule, RepresentativeMeeting

MUST_NOT = "must_not"  # ConsultationRule.kind of the 五不议
EARLIEST = date(2000, 1, 1)  # anything before is a typing mistake, not a consultation
MAX_COUNT = 1_000_000  # far above any meeting, far below any integer limit
MEETING_DOCUMENTS = ("sign_in", "minutes", "vote_sheet")  # 签到表, 会议记录表, 表决签名表: never one for another


class LedgerError(Refusal):
    """A step the rules refuse; ``message`` is for the user, ``field`` names the form field it belongs to."""


# --- the rules ---------------------------------------------------------------------------------------------


def _check_counts(present: int, *votes: int) -> None:
    for value in (present, *votes):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"counts are integers, not {value!r}")
        if value < 0:
            raise ValueError(f"counts are never negative: {value}")
    if sum(votes) > present:
        raise ValueError(f"{sum(votes)} votes from {present} present")


@dataclass(frozen=True)
class VoteShares:
    """Each count as a share of those present (None when nobody was present), and as percent text."""

    present: int
    votes_for: Fraction | None
    against: Fraction | None
    abstain: Fraction | None

    @property
    def for_text(self) -> str:
        return percent_text(self.votes_for)

    @property
    def against_text(self) -> str:
        return percent_text(self.against)

    @property
    def abstain_text(self) -> str:
        return percent_text(self.abstain)


def vote_shares(present: int, votes_for: int, against: int, abstain: int) -> VoteShares:
    """The shares of the 协商表决 row: 20 for of 30 present → Fraction(2, 3), "66.67%".

    Raises ValueError for negative counts or more votes than people present."""
    _check_counts(present, votes_for, against, abstain)
    if present == 0:
        return VoteShares(0, None, None, None)
    return VoteShares(present, Fraction(votes_for, present), Fraction(against, present), Fraction(abstain, present))


def agreement_holds(present: int, votes_for: int) -> bool:
    """More than two thirds of those present voted for it: ``votes_for * 3 > present * 2``."""
    _check_counts(present, votes_for)
    return votes_for * 3 > present * 2


def _check_meeting(total: int, present: int, *votes: int) -> None:
    _check_counts(present, *votes)
    _check_counts(total)
    if total <= 0:
        raise ValueError("a meeting has at least one representative")
    if present > total:
        raise ValueError(f"{present} present of {total} representatives")


def meeting_valid(total: int, present: int) -> bool:
    """At least two thirds of all representatives present: ``present * 3 >= total * 2``."""
    _check_meeting(total, present)
    return present * 3 >= total * 2


def decision_passes(total: int, present: int, votes_for: int) -> bool:
    """The meeting is valid and more than half of *all* representatives voted for: ``votes_for * 2 > total``."""
    _check_meeting(total, present, votes_for)
    return meeting_valid(total, present) and votes_for * 2 > total


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int  # 1–4

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> date:
        if self.number == 4:
            return date(self.year, 12, 31)
        return Quarter(self.year, self.number + 1).start - timedelta(days=1)


def _counted_day(meeting) -> date | None:
    """A meeting's date if it counts towards the quarterly rule: a date, or a meeting that had its quorum."""
    if isinstance(meeting, date):
        return meeting
    if not meeting_valid(meeting.representatives_total, meeting.present):
        return None
    return meeting.held_on


def quarters_without_meeting(meetings: Iterable, year: int, up_to: date) -> list[Quarter]:
    """The quarters of ``year`` that have started by ``up_to`` (ended or current) with no meeting in them.

    ``meetings`` are dates, or objects with ``held_on``, ``representatives_total`` and ``present`` (a meeting
    below quorum does not count). Quarters after ``up_to`` are not yet due and never warned.
    """
    held = {Quarter.of(day) for day in map(_counted_day, meetings) if day is not None and day.year == year}
    return [quarter for quarter in (Quarter(year, n) for n in range(1, 5))
            if quarter.start <= up_to and quarter not in held]


def count_errors(present: int | None, votes_for: int | None, votes_against: int | None, abstain: int | None,
                 representatives_total: int | None = None) -> dict[str, list[str]]:
    """The user's mistakes in a vote, by form field (the names of the model's columns); empty when all is well.

    ``representatives_total`` is given for a representative meeting, left out for a consultation."""
    errors: dict[str, list[str]] = {}
    values = {"present": present, "votes_for": votes_for, "votes_against": votes_against, "abstain": abstain}
    if representatives_total is not None:
        values["representatives_total"] = representatives_total
    for name, value in values.items():
        if value is not None and value < 0:
            errors.setdefault(name, []).append(_("人数不能为负数。"))
        elif value is not None and value > MAX_COUNT:
            errors.setdefault(name, []).append(_("人数过大。"))
    if errors or any(value is None for value in values.values()):
        return errors
    if representatives_total is not None:
        if representatives_total == 0:
            errors.setdefault("representatives_total", []).append(_("代表总数必须大于 0。"))
        elif present > representatives_total:
            errors.setdefault("present", []).append(_(
                "到会代表 %(present)d 人，超过代表总数 %(total)d 人。", present=present, total=representatives_total))
    voted = votes_for + votes_against + abstain
    if voted > present:
        errors.setdefault("present", []).append(_(
            "赞成、反对、弃权人数合计 %(voted)d 人，超过表决人数 %(present)d 人。", voted=voted, present=present))
    return errors


def _raise_count_errors(errors: dict[str, list[str]]) -> None:
    for field, messages in errors.items():
        raise LedgerError(messages[0], field)


# --- times ---------------------------------------------------------------------------------------------------


def from_china_time(value: datetime) -> datetime:
    """A time as typed in China (naive, or already aware) as aware UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=CHINA)
    return value.astimezone(UTC)


def china_time(value: datetime) -> datetime:
    """An aware time as wall-clock time in China, naive (what a datetime-local input shows)."""
    return value.astimezone(CHINA).replace(tzinfo=None)


# --- consultation records ---------------------------------------------------------------------------------

RECORD_TEXT = ("topic", "unit_name", "parties", "place", "form", "host", "recorder", "supervisor", "proceedings",
               "outcome", "follow_up")


def record_passed(record: ConsultationRecord) -> bool:
    return agreement_holds(record.present, record.votes_for)


def record_shares(record: ConsultationRecord) -> VoteShares:
    return vote_shares(record.present, record.votes_for, record.votes_against, record.abstain)


def create_record(
    community: Community,
    *,
    held_at: datetime,
    unit_level: UnitLevel | str,
    present: int,
    votes_for: int,
    votes_against: int = 0,
    abstain: int = 0,
    matter: ConsultationMatter | None = None,
    excluded_rule: ConsultationRule | None = None,
    user=None,
    now: datetime | None = None,
    **text: str,
) -> ConsultationRecord:
    """Add a 协商记录表 for ``community`` (flushed). ``text`` holds the written fields of :data:`RECORD_TEXT`.

    Refused (LedgerError, with the field): no topic, a time in the future or before 2000, negative counts, more
    votes than people present, a 五不议 choice that is not a 五不议 rule. A 五不议 match is saved, with a warning.
    """
    unknown = set(text) - set(RECORD_TEXT)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    if not (text.get("topic") or "").strip():
        raise LedgerError(_("请填写协商议题。"), "topic")
    if held_at.tzinfo is None:
        raise ValueError("held_at must be aware; use from_china_time()")
    now = now or utcnow()
    if held_at > now:
        raise LedgerError(_("协商时间不能晚于现在。"), "held_at")
    if held_at.astimezone(CHINA).date() < EARLIEST:
        raise LedgerError(_("协商时间过早，请检查年份。"), "held_at")
    _raise_count_errors(count_errors(present, votes_for, votes_against, abstain))
    if excluded_rule is not None and excluded_rule.kind != MUST_NOT:
        raise LedgerError(_("请选择“五不议”中的一项。"), "excluded_rule_id")
    record = ConsultationRecord(
        community_id=community.id,
        matter_id=matter.id if matter is not None else None,
        excluded_rule_id=excluded_rule.id if excluded_rule is not None else None,
        unit_level=UnitLevel(unit_level),
        held_at=held_at,
        present=present,
        votes_for=votes_for,
        votes_against=votes_against,
        abstain=abstain,
        created_by_id=user.id if user is not None else None,
        **{name: (text.get(name) or "").strip() for name in RECORD_TEXT},
    )
    db.session.add(record)
    db.session.flush()
    return record


def delete_record(record: ConsultationRecord, now: datetime | None = None) -> None:
    """Mark the record removed (the audit log keeps who did it); a record already removed keeps its first mark."""
    if record.deleted_at is None:
        record.deleted_at = now or utcnow()
        db.session.flush()


# --- representative meetings -------------------------------------------------------------------------------


def meeting_is_valid(meeting: RepresentativeMeeting) -> bool:
    return meeting_valid(meeting.representatives_total, meeting.present)


def meeting_passes(meeting: RepresentativeMeeting) -> bool:
    return decision_passes(meeting.representatives_total, meeting.present, meeting.votes_for)


def _digest(upload: FileStorage) -> str | None:
    """The upload's sha256, leaving the stream where it was; None if the stream cannot be rewound."""
    stream = upload.stream
    try:
        start = stream.tell()
        digest = hashlib.sha256(stream.read()).hexdigest()
        stream.seek(start)
    except (AttributeError, OSError, ValueError):
        return None
    return digest


def _has_file(upload) -> bool:
    return upload is not None and bool(getattr(upload, "filename", ""))


def create_meeting(
    community: Community,
    *,
    held_on: date,
    topic: str,
    representatives_total: int,
    present: int,
    votes_for: int = 0,
    votes_against: int = 0,
    abstain: int = 0,
    decision: str = "",
    sign_in: FileStorage | None = None,
    minutes: FileStorage | None = None,
    vote_sheet: FileStorage | None = None,
    user=None,
    today: date | None = None,
) -> RepresentativeMeeting:
    """Add a 村(居)民代表会议 with its three documents (flushed). A meeting below quorum is kept, and shown so.

    Refused (LedgerError, with the field): no topic, a date in the future or before 2000, bad counts, a present
    count above the representatives, a document the storage refuses, or one file given for two documents (the
    sign-in sheet is never the vote signature sheet).
    """
    if not (topic or "").strip():
        raise LedgerError(_("请填写会议议题。"), "topic")
    if held_on > (today or china_today()):
        raise LedgerError(_("会议日期不能晚于今天。"), "held_on")
    if held_on < EARLIEST:
        raise LedgerError(_("会议日期过早，请检查年份。"), "held_on")
    _raise_count_errors(count_errors(present, votes_for, votes_against, abstain, representatives_total))
    uploads = {"sign_in": sign_in, "minutes": minutes, "vote_sheet": vote_sheet}
    seen: dict[str, str] = {}
    for which, upload in uploads.items():
        if not _has_file(upload):
            continue
        digest = _digest(upload)
        if digest is not None and digest in seen:
            raise LedgerError(_("与“%(other)s”是同一个文件：签到表、会议记录表、表决签名表不可互相代替。",
                                other=document_title(seen[digest])), which)
        if digest is not None:
            seen[digest] = which
    meeting = RepresentativeMeeting(
        community_id=community.id, held_on=held_on, topic=topic.strip(), representatives_total=representatives_total,
        present=present, votes_for=votes_for, votes_against=votes_against, abstain=abstain,
        decision=(decision or "").strip(), created_by_id=user.id if user is not None else None,
    )
    for which, upload in uploads.items():
        if not _has_file(upload):
            continue
        try:
            stored = save_upload(upload, uploaded_by=user)
        except UploadRejected as error:
            raise LedgerError(error.message, which) from error
        setattr(meeting, f"{which}_file_id", stored.id)
    db.session.add(meeting)
    db.session.flush()
    return meeting


def document_title(which: str) -> str:
    return {"sign_in": _("会议签到表"), "minutes": _("会议记录表"), "vote_sheet": _("表决签名表")}[which]

"""The isolation matrix (issue 8 §1): every registered route that takes an object id, with every method, as every
role, given objects of ANOTHER township (磁灶镇), another community, another evaluator's sheet and another user's
notification. The answer must be 403 or 404, the response must not show the foreign objects, and the database must
be unchanged.

What "unchanged" means (``_snapshot``): after every request, the row count of every table and a sha256 of every row
of ``notifications``, ``user_sessions`` and ``users`` (the tables changed by Core updates, without an audit row);
before and after each role's whole run, a sha256 of every row of every table. Left out, and only these:
- ``audit_log`` rows whose action is ``denied``: a 403 writes one by design (``app/errors.py``). The other rows are
  counted, and every ORM insert, update or delete of an audited table adds one, so a write is caught at the request
  that made it even where the table's own count does not move;
- ``user_sessions.last_seen_at``, which the session loader writes (at most once a minute) on any request, allowed or
  not; everything else of the session (ended_at, …) must stay.
Notifications' read state is compared: no route of the matrix may mark one read (only ``/notifications/read-all``,
which takes no id, and opening one's own).

Route arguments are sorted into kinds (``OWNED``, ``SHARED``, ``PARAMETERS``); a route with an argument of no known
kind fails ``test_every_route_argument_has_a_kind``, so a new route cannot slip past the matrix.
- OWNED ids name an object of one township, community or user: the scoped roles (安海镇's township, a community of
  安海镇, another community of 磁灶镇 itself, evaluator A) must get 403/404 — with all ids foreign, and with mixtures
  (own application + foreign attachment, foreign application + own attachment, 磁灶镇's township-level milestone).
  The roles that see every township (bureau, finance) and the admin and auditor are checked only where their
  permission denies the route: 403.
- SHARED ids (``programme_id``) name an opened programme, which every township reads: such pages may answer, but
  must show none of 磁灶镇's objects (HTML, or every cell of a workbook).
- Opening someone else's notification answers exactly as a notification that does not exist (a redirect to one's
  own list, ``tests/tracking/test_notifications.py``), and marks nothing read.

Not in the matrix, and why: ``calendar.ics`` (``<token>`` is a bearer secret: the public feed is meant for whoever
holds the link; revocation and death with the account are ``tests/calendar``), ``main.set_language`` (``<code>``),
the static routes, and ``shelf.report``/``shelf.export`` (``<key>`` names a report, not an object: they are walked,
with 磁灶镇's ids as filters, by ``test_exports_and_lists_given_foreign_ids_show_nothing_foreign``).
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import openpyxl
import pytest
import sqlalchemy as sa
from flask import url_for
from werkzeug.datastructures import FileStorage

from app.accounts.models import Role, User
from app.audit.models import AuditAction
from app.extensions import db
from app.permissions import PUBLIC, ROLE_PERMISSIONS, required_permission
from tests.conftest import login

MARK = "磁灶隔离"  # every text of the foreign objects carries it
COMMUNITY = f"{MARK}村"  # the 磁灶镇 community that owns the foreign objects
NEIGHBOUR = "磁灶邻村"  # another 磁灶镇 community: its user must not see COMMUNITY's objects
REFERENCE = "CZ-ISO-01"  # the foreign application's reference
NEEDLES = (MARK, REFERENCE)
TOWNSHIP = "磁灶镇"  # shown to nobody outside it either (the neighbour community lives in it, so may see the name)

# Argument kinds. Where one name means different objects, the path prefix decides (``_AMBIGUOUS``).
OWNED = {"application_id", "attachment_id", "site_id", "line_id", "item_id", "assignment_id", "objection_id",
         "community_id", "record_id", "meeting_id", "photo_id", "document_id", "check_id", "notification_id",
         "user_id", "township_id"}
SHARED = {"programme_id"}
PARAMETERS = {"month", "which", "decision", "year", "key", "token", "code", "filename"}
_AMBIGUOUS = {
    "line_id": {"/funding/disbursements/": "disbursement_id", "/funding/spending/": "spending_line_id"},
    "item_id": {"/progress/milestones/": "site_milestone_id", "/archive/items/": "archive_item_id"},
}
# Routes outside the matrix (see the module docstring).
_NOT_OBJECTS = {"calendar.ics", "main.set_language", "shelf.report", "shelf.export"}
_NOTIFICATION = "notifications.open_"
# A plausible body for every POST, so that a route that forgot its check would act rather than fail validation.
_POST = {"reason": f"{MARK}理由", "comment": f"{MARK}意见", "note": f"{MARK}说明", "response": f"{MARK}答复",
         "content": f"{MARK}内容", "confirm": "1"}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        yield rule


def _object_routes(app):
    return [rule for rule in _routes(app)
            if rule.endpoint not in _NOT_OBJECTS and rule.arguments & (OWNED | SHARED)]


def _key(rule, argument: str) -> str:
    """The key of ``Foreign.ids`` for ``argument`` of ``rule``."""
    if argument not in _AMBIGUOUS:
        return argument
    for prefix, key in _AMBIGUOUS[argument].items():
        if rule.rule.startswith(prefix):
            return key
    raise AssertionError(f"{rule.rule}: no object known for {argument}; add its prefix to _AMBIGUOUS")


# --- the foreign objects ----------------------------------------------------------------------------------


@dataclass
class Foreign:
    ids: dict[str, object]  # argument (or _AMBIGUOUS key) -> 磁灶镇's object
    township_milestone_id: int  # 磁灶镇's own summary (a SiteMilestone without a site)
    own_application_id: int  # 安海镇's application with its attachment, for the mixed ids
    own_attachment_id: int
    neighbour_id: int  # NEIGHBOUR's id
    programme_year: int
    owners: dict[str, int]  # 'township' (磁灶镇's account, user B), 'evaluator' (evaluator B) -> user id


def _upload(data: bytes, name: str, **kwargs):
    from app.files.storage import save_upload

    return save_upload(FileStorage(stream=io.BytesIO(data), filename=name), **kwargs)


@pytest.fixture
def foreign(app, places, make_programme, make_user) -> Foreign:
    """A full set of 磁灶镇 objects in one opened programme, each in a state where its owner could act on it."""
    from app.applications.models import Application, ApplicationAttachment, ApplicationStatus, UnitLevel
    from app.database import china_today, utcnow
    from app.funding.models import Allocation, Disbursement, Site, SpendingLine, Tranche
    from app.places.models import Community, CommunityKind
    from app.programmes.models import Milestone, MilestoneKind, Programme
    from app.programmes.templates import funding_source
    from app.scoring.models import Assignment, Objection, Selection, SelectionEntry, SelectionStatus
    from app.tracking.models import (
        ArchiveItem,
        ArchiveKind,
        ConsultationRecord,
        MilestoneDocument,
        MonthlyReport,
        MonthlyReportPhoto,
        Notification,
        RepresentativeMeeting,
        SiteMilestone,
        SpotCheck,
    )
    from app.tracking.progress import ensure_site_milestones, first_of, local_date, next_month
    from tests.files.test_storage import make_pdf, make_png

    today = china_today()
    programme_id = make_programme(name="隔离矩阵项目", code="ISO", year=today.year)
    user_b = make_user(Role.TOWNSHIP, township_id=places.cizao)  # 磁灶镇's own account
    evaluator_b = make_user(Role.EVALUATOR)
    with app.app_context():
        programme = db.session.get(Programme, programme_id)
        programme.milestones.append(Milestone(name="协商议事章程备案", kind=MilestoneKind.CHARTER,
                                              due_date=today + timedelta(days=30)))
        programme.milestones.append(Milestone(name="总结与典型案例", kind=MilestoneKind.SUMMARY,
                                              due_date=today + timedelta(days=60)))
        community = Community(township_id=places.cizao, name=COMMUNITY, kind=CommunityKind.VILLAGE)
        neighbour = Community(township_id=places.cizao, name=NEIGHBOUR, kind=CommunityKind.VILLAGE)
        db.session.add_all([community, neighbour])
        db.session.flush()

        application = Application(programme_id=programme_id, township_id=places.cizao, community_id=community.id,
                                  sequence=1, reference=REFERENCE, status=ApplicationStatus.DRAFT,
                                  contact_name=f"{MARK}联系人")
        own = Application(programme_id=programme_id, township_id=places.anhai, community_id=places.anhai_community,
                          sequence=1, reference="AH-ISO-01", status=ApplicationStatus.DRAFT)
        db.session.add_all([application, own])
        db.session.flush()
        attachment = ApplicationAttachment(application_id=application.id,
                                           file_id=_upload(make_pdf(), f"{MARK}附件.pdf").id,
                                           description=f"{MARK}附件")
        own_attachment = ApplicationAttachment(application_id=own.id, file_id=_upload(make_pdf(), "安海附件.pdf").id)
        db.session.add_all([attachment, own_attachment])

        # Selection with an objection, and evaluator B's sheet.
        selection = Selection(programme_id=programme_id, status=SelectionStatus.PUBLICISED,
                              publicity_start=today - timedelta(days=3), publicity_end=today + timedelta(days=4))
        selection.entries = [SelectionEntry(application_id=application.id, position=1)]
        selection.objections = [Objection(application_id=application.id, received_at=today,
                                          raised_by=f"{MARK}村民", content=f"{MARK}异议")]
        assignment = Assignment(application_id=application.id, evaluator_id=evaluator_b, comment=f"{MARK}评语")
        db.session.add_all([selection, assignment])

        # The site and its money: allocation, payment, spending with a receipt; a tranche waiting for release.
        selected = utcnow() - timedelta(days=70)
        site = Site(programme_id=programme_id, application_id=application.id, township_id=places.cizao,
                    community_id=community.id, rank=1, selected_at=selected)
        db.session.add(site)
        db.session.flush()
        city = funding_source("晋江市级财政")
        disbursement = Disbursement(site_id=site.id, source_id=city.id, entry_date=today, amount_fen=1_000_000,
                                    voucher_no="CZ-ISO-V1", note=f"{MARK}拨付")
        spending = SpendingLine(site_id=site.id, source_id=city.id, entry_date=today, item=f"{MARK}支出",
                                category="活动经费", amount_fen=200_000, payee=f"{MARK}商店",
                                receipt=_upload(make_pdf(), f"{MARK}发票.pdf"))
        db.session.add_all([
            Allocation(site_id=site.id, source_id=city.id, amount_fen=3_000_000, reason=f"{MARK}档次",
                       entry_date=today),
            disbursement, spending,
            Tranche(programme_id=programme_id, sequence=1, name="中期批次", percent=50, condition="中期评估通过"),
        ])

        # Milestones (the site's charter and summary, and 磁灶镇's own summary), one with a document.
        ensure_site_milestones(programme)
        milestones = db.session.scalars(sa.select(SiteMilestone).where(SiteMilestone.programme_id == programme_id)
                                        .order_by(SiteMilestone.id)).all()
        site_milestone = next(m for m in milestones if m.site_id == site.id)
        township_milestone = next(m for m in milestones if m.site_id is None and m.township_id == places.cizao)
        site_milestone.content = f"{MARK}章程"
        document = MilestoneDocument(site_milestone=site_milestone, file=_upload(make_pdf(), f"{MARK}章程.pdf"),
                                     description=f"{MARK}章程")
        db.session.add(document)

        # A monthly report (a draft, so its township could still change it) with a photo.
        month = next_month(first_of(local_date(selected)))
        report = MonthlyReport(site_id=site.id, month=month, work_done=f"{MARK}进展")
        picture = _upload(make_png(), f"{MARK}照片.png", allowed=frozenset({"png"}))
        photo = MonthlyReportPhoto(report=report, file=picture, caption=f"{MARK}照片")
        db.session.add_all([report, photo])

        archive_item = ArchiveItem(site_id=site.id, kind=ArchiveKind.MEETINGS, title=f"{MARK}纪要", item_date=today,
                                   file=_upload(make_pdf(), f"{MARK}纪要.pdf"))
        check = SpotCheck(site_id=site.id, checked_on=today, inspectors=f"{MARK}检查组", findings=f"{MARK}问题",
                          follow_up_required=True, follow_up=f"{MARK}整改")
        # The ledger of the 磁灶镇 community.
        record = ConsultationRecord(community_id=community.id, topic=f"{MARK}议题", unit_level=UnitLevel.BUILDING,
                                    held_at=utcnow() - timedelta(days=2), present=30, votes_for=25, votes_against=3,
                                    abstain=2, outcome=f"{MARK}结果")
        meeting = RepresentativeMeeting(community_id=community.id, held_on=today, topic=f"{MARK}代表会议",
                                        representatives_total=45, present=40, votes_for=38,
                                        minutes_file=_upload(make_pdf(), f"{MARK}会议记录.pdf"))
        notification = Notification(user_id=user_b, kind="milestone", title=f"{MARK}通知", body=f"{MARK}正文",
                                    link="/progress/")
        db.session.add_all([archive_item, check, record, meeting, notification])
        db.session.commit()
        return Foreign(
            ids={
                "application_id": application.id, "attachment_id": attachment.id, "site_id": site.id,
                "disbursement_id": disbursement.id, "spending_line_id": spending.id,
                "site_milestone_id": site_milestone.id, "archive_item_id": archive_item.id,
                "assignment_id": assignment.id, "objection_id": selection.objections[0].id,
                "community_id": community.id, "record_id": record.id, "meeting_id": meeting.id,
                "photo_id": photo.id, "document_id": document.id, "check_id": check.id,
                "notification_id": notification.id, "user_id": user_b, "township_id": places.cizao,
                "programme_id": programme_id, "year": today.year, "month": f"{month:%Y-%m}", "which": "minutes",
                "decision": "accept", "key": "applications", "token": "x" * 32, "code": "en",
            },
            township_milestone_id=township_milestone.id,
            own_application_id=own.id,
            own_attachment_id=own_attachment.id,
            neighbour_id=neighbour.id,
            programme_year=today.year,
            owners={"township": user_b, "evaluator": evaluator_b},
        )


# --- the snapshot ---------------------------------------------------------------------------------------

# Digested after every request, because they may change without an audit row (Core updates: the session's end,
# a notification's read_at, the user's failure count). Every other table is digested before and after each role's
# whole run; its ORM inserts, updates and deletes add audit rows, which the per-request count sees at once.
_WATCHED = ("notifications", "user_sessions", "users")


def _digest(rows) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


@functools.cache
def _counts() -> sa.TextClause:
    """Every table's row count in one statement (plain SQL, written once: this runs after every request)."""
    parts = []
    for table in db.metadata.tables.values():
        where = f" WHERE action <> '{AuditAction.DENIED.value}'" if table.name == "audit_log" else ""
        parts.append(f"SELECT '{table.name}' AS name, count(*) AS n FROM {table.name}{where}")
    return sa.text(" UNION ALL ".join(parts))


def _snapshot(app, *, full: bool = False) -> dict[str, tuple]:
    """{table: (row count, sha256 of its rows in key order)} — every table's count in one query, the digest of
    ``_WATCHED`` (or, ``full``, of every table); see the module docstring for what is left out."""
    with app.app_context():
        result = {name: (rows,) for name, rows in db.session.execute(_counts()).tuples()}
        for table in db.metadata.tables.values():
            if table.name == "audit_log" or not (full or table.name in _WATCHED):
                continue
            columns = [column for column in table.columns
                       if not (table.name == "user_sessions" and column.name == "last_seen_at")]
            rows = db.session.execute(sa.select(*columns).order_by(*table.primary_key.columns)).all()
            result[table.name] += (_digest(rows),)
        return result


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


# --- responses ------------------------------------------------------------------------------------------


def _texts(response) -> str:
    """All the text a response shows: the HTML, or every cell and sheet name of a workbook."""
    if response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
        workbook = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
        parts = []
        for sheet in workbook.worksheets:
            parts.append(sheet.title)
            for row in sheet.iter_rows(values_only=True):
                parts.extend(str(value) for value in row if value is not None)
        workbook.close()
        return "\n".join(parts)
    if response.mimetype.startswith("text/") or response.mimetype == "application/json":
        return response.get_data(as_text=True)
    return ""  # a file sent as an attachment: its status already said whether it should have been sent


def _shown(response, name: str) -> list[str]:
    text = _texts(response)
    needles = NEEDLES if name == "neighbour" else (*NEEDLES, TOWNSHIP)
    return [needle for needle in needles if needle in text]


# --- roles ----------------------------------------------------------------------------------------------

SCOPED = ("township", "community", "neighbour", "evaluator")  # confined to a township, a community, own sheets
UNSCOPED = ("bureau", "finance", "admin", "auditor")  # see every township (or no business data at all)


def _log_in(app, client, make_user, foreign: Foreign, name: str) -> User:
    scoped = {
        "township": (Role.TOWNSHIP, {}),  # 安海镇
        "community": (Role.COMMUNITY, {}),  # a community of 安海镇
        "neighbour": (Role.COMMUNITY, {"community_id": foreign.neighbour_id}),  # 磁灶镇, not COMMUNITY
        "evaluator": (Role.EVALUATOR, {}),  # evaluator A: no sheet assigned
    }
    role, fields = scoped[name] if name in scoped else (Role(name), {})
    user_id = make_user(role, **fields)
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
    assert login(client, user.username).status_code == 302
    return user


def _ids_for(name: str, foreign: Foreign, places) -> dict:
    ids = dict(foreign.ids)
    if name == "neighbour":
        ids["township_id"] = places.anhai  # 磁灶镇 is this user's own township; 安海镇 is the foreign one
    return ids


def _url(app, rule, ids: dict, **query) -> str:
    values = {argument: ids[_key(rule, argument)] for argument in rule.arguments}
    with app.test_request_context():
        url = url_for(rule.endpoint, **values)
    return url + ("?" + urlencode(query) if query else "")


def _variants(rule, name: str, foreign: Foreign, ids: dict) -> list[tuple[str, dict]]:
    """The id sets a route is tried with: all foreign, and mixtures that a forgotten cross-check would let pass."""
    variants = [("foreign", ids)]
    if {"application_id", "attachment_id"} <= rule.arguments and name in ("township", "community"):
        # the user's own application with the foreign attachment
        variants.append(("own application", {**ids, "application_id": foreign.own_application_id}))
    if {"application_id", "attachment_id"} <= rule.arguments:
        variants.append(("own attachment", {**ids, "attachment_id": foreign.own_attachment_id}))
    if rule.rule.startswith("/progress/milestones/"):
        # 磁灶镇's own summary: a township's own items are not its communities' (the neighbour lives in 磁灶镇)
        variants.append(("township milestone", {**ids, "site_milestone_id": foreign.township_milestone_id}))
    if "decision" in rule.arguments:
        variants.append(("return", {**ids, "decision": "return"}))
    return variants


def _expectation(rule, name: str, role: Role, needed: str) -> str | None:
    """What the answer must be: 'denied' (403/404), 'forbidden' (403), 'scoped' (no foreign data), 'notification'
    (as for a notification that does not exist), or None (the role legitimately reaches every township)."""
    if rule.endpoint == _NOTIFICATION:
        return "notification"
    allowed = needed == PUBLIC or needed in ROLE_PERMISSIONS[role]
    if name in UNSCOPED:
        return None if allowed else "forbidden"
    if rule.arguments & OWNED:
        return "denied"
    return "scoped" if allowed else "forbidden"


# --- the tests ------------------------------------------------------------------------------------------


def test_every_route_argument_has_a_kind(app):
    unknown = {(rule.endpoint, argument) for rule in _routes(app) for argument in rule.arguments
               if argument not in OWNED | SHARED | PARAMETERS}
    assert unknown == set()
    for rule in _object_routes(app):
        for argument in rule.arguments:
            _key(rule, argument)  # every ambiguous name is mapped for every prefix it appears under


@pytest.mark.parametrize("name", SCOPED + UNSCOPED)
def test_isolation_matrix(app, client, make_user, places, foreign, name):
    user = _log_in(app, client, make_user, foreign, name)
    ids = _ids_for(name, foreign, places)
    with app.test_request_context():
        plan = [(rule, required_permission(rule.endpoint)) for rule in _object_routes(app)]
    nowhere = None
    failures: list[str] = []
    start = _snapshot(app, full=True)
    before = _snapshot(app)
    tried = 0
    for rule, needed in sorted(plan, key=lambda pair: pair[0].rule):
        expected = _expectation(rule, name, user.role, needed)
        if expected is None:
            continue
        for label, variant in _variants(rule, name, foreign, ids):
            url = _url(app, rule, variant)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                tried += 1
                response = client.open(url, method=method, data=_POST if method == "POST" else None)
                where = f"{method} {url} ({rule.endpoint}, {label}) as {name}: {response.status_code}"
                status = response.status_code
                if expected == "denied" and status not in (403, 404):
                    failures.append(f"{where}, expected 403 or 404")
                elif expected == "forbidden" and status != 403:
                    failures.append(f"{where}, expected 403")
                elif expected == "scoped" and status >= 500:
                    failures.append(f"{where}, expected no error")
                elif expected == "notification":
                    if nowhere is None:
                        missing = client.post(_url(app, rule, {**ids, "notification_id": 0}))
                        nowhere = (missing.status_code, missing.headers.get("Location"))
                    if (status, response.headers.get("Location")) != nowhere:
                        failures.append(f"{where}, expected the answer to a missing notification {nowhere}")
                shown = _shown(response, name)
                if shown:
                    failures.append(f"{where} shows {shown}")
                after = _snapshot(app)
                changed = _changed(before, after)
                if changed:
                    failures.append(f"{where} changed {changed}")
                    before = after
    changed = _changed(start, _snapshot(app, full=True))
    if changed:
        failures.append(f"the run as {name} changed {changed}")
    assert tried > 0
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("name", SCOPED)
def test_exports_and_lists_given_foreign_ids_show_nothing_foreign(app, client, make_user, places, foreign, name):
    """Every workbook export and every list page (no object id in the path), as 安海镇's township or community user
    (and 磁灶镇's other community, and evaluator A), filtered by 磁灶镇 and its programme, shows none of 磁灶镇's
    community names or references: every cell of every workbook is read."""
    from reports import shelf

    _log_in(app, client, make_user, foreign, name)
    ids = _ids_for(name, foreign, places)
    queries = [{}, {"township": places.cizao}, {"programme": ids["programme_id"]},
               {"township": places.cizao, "programme": ids["programme_id"], "year": foreign.programme_year}]
    pages = []
    for rule in _routes(app):
        if "GET" not in rule.methods or rule.endpoint in {"calendar.ics", "accounts.login"}:
            continue
        if rule.rule.endswith(".xlsx") or not rule.arguments - {"key"}:
            keys = [report.key for report in shelf.REPORT_LIST] if "key" in rule.arguments else [None]
            pages.extend(_url(app, rule, {**ids, "key": key}, **query) for key in keys for query in queries)
    failures = []
    workbooks = 0
    for url in pages:
        response = client.get(url, follow_redirects=True)
        if response.status_code >= 500:
            failures.append(f"GET {url}: {response.status_code}")
        workbooks += response.mimetype.endswith("spreadsheetml.sheet")
        shown = _shown(response, name)
        if shown:
            failures.append(f"GET {url} shows {shown}")
    assert workbooks > 0 or name == "evaluator"
    assert failures == [], "\n".join(failures)


def test_the_needles_are_found_where_they_may_be_seen(app, client, make_user, places, foreign):
    """The control: the bureau, who sees every township, finds 磁灶镇's objects in the same exports."""
    _log_in(app, client, make_user, foreign, "bureau")
    export = client.get(f"/applications/export.xlsx?township={places.cizao}")
    assert set(_shown(export, "bureau")) == {*NEEDLES, TOWNSHIP}
    spending = client.get(f"/reports/site-spending.xlsx?programme={foreign.ids['programme_id']}")
    assert MARK in _texts(spending)


@pytest.mark.parametrize("owner", ["township", "evaluator"])
def test_the_owners_reach_the_same_objects(app, client, places, foreign, owner):
    """The control of the matrix: 磁灶镇's own account and evaluator B open every page of these ids that their role
    may read, so the matrix's 403s and 404s come from ownership, not from objects that could not be opened anyway."""
    with app.app_context():
        username = db.session.get(User, foreign.owners[owner]).username
        role = db.session.get(User, foreign.owners[owner]).role
    assert login(client, username).status_code == 302
    with app.test_request_context():
        plan = [(rule, required_permission(rule.endpoint)) for rule in _object_routes(app)]
    opened, failures = 0, []
    for rule, needed in sorted(plan, key=lambda pair: pair[0].rule):
        if "GET" not in rule.methods or needed not in ROLE_PERMISSIONS[role] or not rule.arguments & OWNED:
            continue
        if rule.endpoint == _NOTIFICATION or rule.arguments & {"user_id"}:
            continue
        url = _url(app, rule, foreign.ids)
        response = client.get(url)
        opened += 1
        if response.status_code != 200:
            failures.append(f"GET {url} ({rule.endpoint}) as {owner}: {response.status_code}")
    assert opened >= (20 if owner == "township" else 2)
    assert failures == [], "\n".join(failures)


def test_a_township_cannot_nominate_a_community_of_another_township(app, client, make_user, places, foreign):
    """A township-owned id that travels in a form rather than the path: the community a township nominates."""
    from app.applications.models import Application

    _log_in(app, client, make_user, foreign, "township")
    before = _snapshot(app, full=True)
    response = client.post(f"/applications/nominate/{foreign.ids['programme_id']}",
                           data={"community_id": foreign.ids["community_id"]})
    assert response.status_code == 200  # the form again, with the choice refused at the field
    assert _changed(before, _snapshot(app, full=True)) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Application.id))
                                 .where(Application.community_id == foreign.ids["community_id"])) == 1

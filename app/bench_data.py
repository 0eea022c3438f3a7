"""Benchmark data (issue 9 §1): ``flask bench-data --scale city|province [--seed N]`` fills an EMPTY migrated
database with five years of activity, so that pages, reports and exports can be timed on realistic volumes.

- ``city``: Jinjiang's 19 townships (seed data) filled to their official counts with generated communities (about
  400). For each year from the current year − 4 to the current year, the three template programmes (SFD, GJGX, SD),
  each with nominations from most townships, all accepted and scored by five evaluators (``bench-e1`` … ``bench-e5``),
  a finalised selection (sites and allocations from the tiers), monthly reports for every site and month begun,
  milestones per site in various states, tranches and their releases, disbursements (a few reversed), 20,000 spending
  lines in all (a few reversed), archive items (rows only: they all point at ONE shared stored file), consultation
  records, spot checks, 通报, quarterly sign-offs, and 200,000 audit-log rows in all.
- ``province``: 50 times the volume. The township set is copied 50 times (``青阳街道·02`` / ``qingyang02`` …, with
  the communities of the original), so there are 50 × 19 townships and about 20,000 communities, and every quota is
  multiplied by 50: each programme has about 50 times the nominations, sheets, sites, reports and money lines of the
  city scale. 1,000,000 spending lines and 10,000,000 audit rows.
- ``tiny`` (hidden, for the tests): two years, two copies of the township set with a few communities each, a third
  of the townships nominating, three or four sites per programme. ``tiny-wide`` (hidden too): the same two years with
  six copies and up to twelve or thirteen sites per programme, four times tiny's lines, audit rows and
  consultations (tests/bench/test_query_counts.py compares each page's query count on the two).

Deterministic: one ``random.Random(seed)`` and the date of the run (China) decide every value except creation stamps
(``created_at`` of rows made through the ORM, the audit rows the ORM's flush hook writes, the stored file's name).
Programmes, selections and sites go through the real operations (``instantiate``, ``programme_ranking``, ``propose``,
``finalise``, ``ensure_site_milestones``); the large tables are bulk inserts (``db.session.execute(insert, rows)``),
and the work is committed in a few large transactions.
"""

from __future__ import annotations

import io
import math
import random
import time as clock
from bisect import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import accumulate

import sqlalchemy as sa
from flask import current_app
from werkzeug.datastructures import FileStorage
from werkzeug.security import generate_password_hash

from app.accounts.models import EvaluatorGroup, Role, User
from app.applications.models import (
    Application,
    ApplicationEvent,
    ApplicationStatus,
    BudgetLine,
    Convenor,
    ThinkTankMember,
    UnitLevel,
)
from app.audit.models import AuditAction, AuditLog
from app.database import CHINA, china_today
from app.extensions import db
from app.files.storage import save_upload
from app.fixtures import DEMO_PASSWORD, load_catalogue, load_places
from app.fixtures.demo_archive import CATALOGUE, demo_pdf
from app.fixtures.demo_ledger import TOPICS
from app.fixtures.demo_programmes import SPENDING_ITEMS
from app.fixtures.demo_progress import WORK
from app.funding.models import (
    SPENDING_CATEGORIES,
    Allocation,
    Disbursement,
    PeriodSignOff,
    SpendingLine,
    Tranche,
    TrancheRelease,
)
from app.places.models import Community, CommunityKind, Township
from app.programmes.models import Milestone, MilestoneKind, Programme, ProgrammeStatus
from app.programmes.operations import allowance
from app.programmes.templates import ensure_funding_sources, funding_source, get_template, instantiate
from app.scoring import selection as selecting
from app.scoring.models import Assignment, CriterionKind, Objection, Score, SheetStatus
from app.scoring.ranking import programme_ranking
from app.tracking import progress
from app.tracking.models import (
    ArchiveItem,
    ConsultationMatter,
    ConsultationRecord,
    ConsultationRule,
    MilestoneEvent,
    MilestoneStatus,
    MonthlyReport,
    ProgressNotice,
    ReportStatus,
    SiteMilestone,
    SpotCheck,
)

A = ApplicationStatus
MS = MilestoneStatus
TEMPLATE_KEYS = ("demonstration", "governance_project", "pilot_by_size")
CHUNK = 10_000


@dataclass(frozen=True)
class Scale:
    name: str
    copies: int  # copies of the township set (the first is the real one)
    years: int
    community_cap: int | None  # generated communities per township and kind at most (None: the official counts)
    township_share: float  # share of the townships that nominate in a programme
    quota_cap: int | None  # sites per programme at most (None: the template's quota × copies)
    spending_lines: int
    audit_rows: int
    consultations: int


SCALES = {
    "tiny": Scale("tiny", copies=2, years=2, community_cap=2, township_share=0.3, quota_cap=3, spending_lines=400,
                  audit_rows=3_000, consultations=80),
    # tiny's calendar with three times the townships and three to four times every list: the query-count test
    # compares each page on the two (the count must not grow with the rows).
    "tiny-wide": Scale("tiny-wide", copies=6, years=2, community_cap=2, township_share=0.3, quota_cap=12,
                       spending_lines=1_600, audit_rows=12_000, consultations=320),
    "city": Scale("city", copies=1, years=5, community_cap=None, township_share=0.9, quota_cap=None,
                  spending_lines=20_000, audit_rows=200_000, consultations=6_000),
    "province": Scale("province", copies=50, years=5, community_cap=None, township_share=0.9, quota_cap=None,
                      spending_lines=1_000_000, audit_rows=10_000_000, consultations=300_000),
}
PUBLIC_SCALES = ("city", "province")


class BenchError(Exception):
    """The generator refuses (a database that is not empty, an unknown scale); the message is for the console."""


@dataclass
class Result:
    scale: str
    seed: int
    seconds: float
    counts: dict[str, int]

    def lines(self) -> list[str]:
        width = max(len(name) for name in self.counts)
        out = [f"bench data: scale {self.scale}, seed {self.seed}"]
        out += [f"  {name:<{width}}  {count:>10,}" for name, count in sorted(self.counts.items()) if count]
        out.append(f"  {'(rows in all)':<{width}}  {sum(self.counts.values()):>10,}")
        out.append(f"done in {self.seconds:.1f} s")
        return out


def generate(scale: str, seed: int = 1, today: date | None = None) -> Result:
    """Fill the (empty) database; commits. BenchError if the scale is unknown or programmes already exist."""
    if scale not in SCALES:
        raise BenchError(f"unknown scale {scale!r}; use one of: {', '.join(PUBLIC_SCALES)}")
    if db.session.scalar(sa.select(sa.func.count(Programme.id))):
        raise BenchError("the database already has programmes: bench-data only fills an EMPTY migrated database "
                         "(create a new database, run `flask db upgrade`, then bench-data)")
    started = clock.perf_counter()
    _Builder(SCALES[scale], seed, today or china_today()).run()
    counts = {table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
              for table in db.metadata.sorted_tables}
    return Result(scale, seed, clock.perf_counter() - started, counts)


# --- helpers ---------------------------------------------------------------------------------------------------


def _at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CHINA)


def _insert(model, rows: list[dict], returning: bool = False) -> list[int]:
    """Bulk insert in chunks (Core, no ORM objects); with ``returning`` the new ids in the order of ``rows``."""
    table = model.__table__
    ids: list[int] = []
    for start in range(0, len(rows), CHUNK):
        part = rows[start:start + CHUNK]
        if returning:
            statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
            ids.extend(db.session.execute(statement, part).scalars().all())
        else:
            db.session.execute(sa.insert(table), part)
    return ids


def _update_by_id(model, rows: list[dict]) -> None:
    """Bulk UPDATE … WHERE id = :id for rows that all carry the same keys (plus ``id``)."""
    if not rows:
        return
    table = model.__table__
    columns = [key for key in rows[0] if key != "id"]
    statement = (table.update().where(table.c.id == sa.bindparam("b_id", type_=table.c.id.type))
                 .values({name: sa.bindparam("b_" + name, type_=table.c[name].type) for name in columns}))
    for start in range(0, len(rows), CHUNK):
        db.session.execute(statement, [{"b_" + key: value for key, value in row.items()}
                                       for row in rows[start:start + CHUNK]])


def _split(total: int, weights: list[float]) -> list[int]:
    """``total`` shared in proportion to ``weights`` (largest remainder), exactly."""
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    raw = [total * weight / whole for weight in weights]
    parts = [math.floor(value) for value in raw]
    order = sorted(range(len(raw)), key=lambda index: (parts[index] - raw[index], index))
    for index in order[: total - sum(parts)]:
        parts[index] += 1
    return parts


def _working_day_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _next_month(day: date) -> date:
    return progress.next_month(day.replace(day=1))


SURNAMES = "陈林黄吴许蔡施王张李郑洪苏曾杨丁庄柯粘"
GIVEN = ["志强", "丽华", "建国", "秀英", "文华", "振南", "美玲", "晓燕", "伟", "国栋", "淑贞", "明辉", "雅琴", "海峰"]
EXTRA_SPENDING = [
    ("议事厅空调及音响设备", "设施设备", "晋江市某电器有限公司"),
    ("民情收集箱及标识牌制作", "宣传印制", "某广告有限公司"),
    ("邻里节活动场地布置", "活动经费", "某文化传播有限公司"),
    ("协商议事培训讲课费", "人员补贴", "培训讲师（签领表附后）"),
    ("口袋公园健身器材", "设施设备", "某体育器材有限公司"),
    ("楼道照明及扶手修缮", "场地改造", "某建筑工程有限公司"),
    ("项目成果汇编印刷", "宣传印制", "某印务有限公司"),
    ("志愿者保险及误餐补助", "人员补贴", "某保险公司"),
    ("会议茶歇及文具", "其他", "某超市"),
]
SPENDING = [item for item in SPENDING_ITEMS + EXTRA_SPENDING if item[1] in SPENDING_CATEGORIES]
PROJECT_WORDS = ("微更新", "邻里驿站", "议事厅", "幸福家园")
FORMS = ["小区协商会", "楼栋协商会", "线上协商", "业主协商会"]
PROBLEMS = ["部分居民参与积极性不高。", "施工受雨季影响略有延误。", "志愿者队伍人员流动较大。", "", "", ""]
PLANS = ["继续推进项目建设，做好资金使用公开。", "召开协商议事会，落实上月议定事项。", "整理项目档案，准备中期自评。"]
SPOT_FINDINGS = [
    ("台账记录完整；议事厅“六具备”齐全。", False),
    ("协商记录缺表决结果；资金公开栏未更新。", True),
    ("项目档案第⑥类宣传材料缺失。", True),
    ("资金使用明细与票据一致。", False),
]


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


# --- the plan of one programme ------------------------------------------------------------------------------------


@dataclass
class Plan:
    programme: Programme
    key: str
    due: date  # the nomination deadline
    stage: str  # draft / open / evaluating / selected
    publicity_start: date
    publicity_end: date
    final_day: date
    application_ids: list[int] = field(default_factory=list)
    tranche_ids: list[int] = field(default_factory=list)


@dataclass
class SiteInfo:
    id: int
    plan: Plan
    township_id: int
    community_id: int
    rank: int
    selected_day: date
    sources: list[tuple[int, int]]  # (source id, allocated fen) from the tier
    months: list[date]
    reference: str
    user_id: int
    closed: bool
    paid: dict[int, int] = field(default_factory=dict)  # source id -> fen paid (net)
    first_paid: date | None = None


class _Builder:
    def __init__(self, scale: Scale, seed: int, today: date):
        self.scale, self.seed, self.today = scale, seed, today
        self.rng = random.Random(seed)
        self.years = list(range(today.year - scale.years + 1, today.year + 1))
        self.start = date(self.years[0], 1, 1)
        self.plans: list[Plan] = []
        self.sites: list[SiteInfo] = []

    def run(self) -> None:
        self.places()
        self.accounts()
        self.programmes()
        db.session.commit()
        for plan in self.plans:
            self.nominations(plan)
            self.scoring(plan)
        db.session.flush()
        for plan in self.plans:
            if plan.stage == "selected":
                self.select(plan)
        db.session.commit()
        self.milestones()
        self.money()
        self.spending()
        self.monthly_reports()
        self.archive()
        self.oversight()
        self.consultations()
        self.sign_offs()
        db.session.commit()
        self.audit()
        db.session.commit()

    # --- places and accounts ----------------------------------------------------------------------------------

    def places(self) -> None:
        load_places()
        load_catalogue()
        base = db.session.scalars(sa.select(Township).order_by(Township.sort_order, Township.id)).all()
        existing = defaultdict(list)
        for township_id, kind, name in db.session.execute(
                sa.select(Community.township_id, Community.kind, Community.name)):
            existing[township_id].append((kind, name))
        rows = []
        for township in base:
            taken = {name for _kind, name in existing[township.id]}
            for kind, official in ((CommunityKind.COMMUNITY, township.official_urban_communities),
                                   (CommunityKind.VILLAGE, township.official_villages)):
                want = official if self.scale.community_cap is None else min(official, self.scale.community_cap)
                have = sum(1 for known, _name in existing[township.id] if known == kind)
                word = "社区" if kind == CommunityKind.COMMUNITY else "村"
                number = 0
                while have < want:
                    number += 1
                    name = f"示例{word}{number:02d}"
                    if name in taken:
                        continue
                    taken.add(name)
                    have += 1
                    rows.append({"township_id": township.id, "name": name, "kind": kind, "active": True,
                                 "generated": True, "created_at": _at(self.start, 9),
                                 "sort_order": (1000 if kind == CommunityKind.COMMUNITY else 2000) + number})
        _insert(Community, rows)
        if self.scale.copies > 1:
            self._copy_townships(base)
        self.townships = db.session.execute(
            sa.select(Township.id, Township.name, Township.code,
                      Township.official_urban_communities + Township.official_villages)
            .order_by(Township.sort_order, Township.id)).all()
        self.communities: dict[int, list[tuple[int, str]]] = defaultdict(list)
        self.community_names: dict[int, str] = {}
        self.community_township: dict[int, int] = {}
        for community_id, township_id, name in db.session.execute(
                sa.select(Community.id, Community.township_id, Community.name).where(Community.active.is_(True))
                .order_by(Community.sort_order, Community.id)):
            self.communities[township_id].append((community_id, name))
            self.community_names[community_id] = name
            self.community_township[community_id] = township_id

    def _copy_townships(self, base: list[Township]) -> None:
        """Province: copies 2 … N of the township set, with suffixed names and codes and the same communities."""
        rows, origins = [], []
        for copy in range(2, self.scale.copies + 1):
            for township in base:
                rows.append({"name": f"{township.name}·{copy:02d}", "kind": township.kind,
                             "code": f"{township.code}{copy:02d}",
                             "official_urban_communities": township.official_urban_communities,
                             "official_villages": township.official_villages,
                             "sort_order": copy * 1000 + township.sort_order})
                origins.append(township.id)
        ids = _insert(Township, rows, returning=True)
        members = defaultdict(list)
        for township_id, name, kind, order in db.session.execute(
                sa.select(Community.township_id, Community.name, Community.kind, Community.sort_order)
                .order_by(Community.sort_order, Community.id)):
            members[township_id].append((name, kind, order))
        copies = []
        for new_id, origin in zip(ids, origins, strict=True):
            for name, kind, order in members[origin]:
                copies.append({"township_id": new_id, "name": name, "kind": kind, "active": True,
                               "generated": True, "sort_order": order, "created_at": _at(self.start, 9)})
        _insert(Community, copies)

    def accounts(self) -> None:
        password = generate_password_hash(DEMO_PASSWORD, method=current_app.config["PASSWORD_HASH_METHOD"])
        wanted = [
            ("bench-bureau", "市民政局 基层政权建设和社区治理科", Role.BUREAU, None, None),
            ("bench-finance", "市财政局 社会保障科", Role.FINANCE, None, None),
            ("bench-admin", "系统管理员", Role.ADMIN, None, None),
            ("bench-auditor", "审计管理员", Role.AUDITOR, None, None),
        ]
        groups = [EvaluatorGroup.BUREAU, EvaluatorGroup.FINANCE, EvaluatorGroup.EXPERT, EvaluatorGroup.EXPERT,
                  EvaluatorGroup.EXPERT]
        for number, group in enumerate(groups, start=1):
            wanted.append((f"bench-e{number}", f"评审人{number}（{group.title}）", Role.EVALUATOR, None, group))
        for township_id, name, code, _size in self.townships:
            wanted.append((f"bench-{code}".lower()[:40], f"{name}社会事务办", Role.TOWNSHIP, township_id, None))
        taken = set(db.session.scalars(sa.select(User.username)))
        now = datetime.now(CHINA)  # a password set "today": never aged out at the first login
        rows = [{"username": username, "display_name": display, "role": role, "township_id": township_id,
                 "community_id": None, "password_hash": password, "password_changed_at": now,
                 "must_change_password": False, "failed_logins": 0, "active": True, "locale": "zh_Hans_CN",
                 "evaluator_group": group, "email": "", "created_at": _at(self.start, 9)}
                for username, display, role, township_id, group in wanted if username not in taken]
        _insert(User, rows)
        ids = dict(db.session.execute(sa.select(User.username, User.id)).tuples().all())
        self.bureau_id, self.finance_id = ids["bench-bureau"], ids["bench-finance"]
        self.evaluator_ids = [ids[f"bench-e{number}"] for number in range(1, 6)]
        self.township_user = {township_id: ids[f"bench-{code}".lower()[:40]]
                              for township_id, _name, code, _size in self.townships}
        self.usernames = {user_id: username for username, user_id in ids.items()}
        self.role_users = defaultdict(list)
        for user_id, role in db.session.execute(sa.select(User.id, User.role).order_by(User.id)):
            self.role_users[role].append(user_id)

    # --- programmes, nominations, scoring, selection -----------------------------------------------------------

    def programmes(self) -> None:
        ensure_funding_sources()
        for year in self.years:
            for number, key in enumerate(TEMPLATE_KEYS, start=1):
                programme = instantiate(key, year)
                programme.notice_reference = f"晋政民〔{year}〕{20 + number * 7}号"
                programme.use_trimmed_mean = key == "governance_project"
                due = programme.nomination_due
                start = _working_day_on_or_after(due + timedelta(days=16))
                end = selecting.add_working_days(start, programme.publicity_days)
                final_day = _working_day_on_or_after(end + timedelta(days=1))
                if final_day < self.today:
                    stage = "selected"
                elif due < self.today:
                    stage = "evaluating"
                elif due - timedelta(days=30) <= self.today:
                    stage = "open"
                else:
                    stage = "draft"
                programme.status = {"draft": ProgrammeStatus.DRAFT, "open": ProgrammeStatus.OPEN}.get(
                    stage, ProgrammeStatus.EVALUATING)
                programme.scoring_due = due + timedelta(days=14)
                self.plans.append(Plan(programme, key, due, stage, start, end, final_day))
        db.session.flush()
        for plan in self.plans:
            if plan.key == "governance_project":
                first = Tranche(programme_id=plan.programme.id, sequence=1, name="第一批", percent=50, condition="")
                second = Tranche(programme_id=plan.programme.id, sequence=2, name="第二批", percent=50,
                                 condition="中期自评报告经市民政局审核通过")
                db.session.add_all([first, second])
                db.session.flush()
                plan.tranche_ids = [first.id, second.id]

    def nominations(self, plan: Plan) -> None:
        if plan.stage == "draft":
            return
        rng, programme, horizon = self.rng, plan.programme, _at(self.today, 0)
        template = get_template(plan.key)
        count = max(1, round(len(self.townships) * self.scale.township_share))
        chosen = sorted(rng.sample(range(len(self.townships)), count))
        types = [t.id for t in programme.project_types]
        rows = []
        for index in chosen:
            township_id, _name, code, size = self.townships[index]
            limits = allowance(programme, size)
            high = limits.maximum if limits.maximum is not None else limits.minimum + 1
            available = self.communities[township_id]
            number = min(rng.randint(max(1, limits.minimum), max(1, high)), len(available))
            for sequence, (community_id, community) in enumerate(rng.sample(available, number), start=1):
                created = _at(plan.due - timedelta(days=rng.randint(8, 30)), rng.randint(8, 11), rng.randint(0, 59))
                submitted = _at(plan.due - timedelta(days=rng.randint(0, 6)), rng.randint(14, 17), rng.randint(0, 59))
                accepted = submitted + timedelta(days=rng.randint(1, 4), hours=rng.randint(-3, 2))
                if created >= horizon:
                    continue
                if plan.stage == "open" or accepted >= horizon:
                    status = A.SUBMITTED if submitted < horizon else A.DRAFT
                else:
                    status = A.ACCEPTED
                row = self._application_row(plan, template, township_id, code, community_id, community, sequence,
                                            status, created, submitted)
                if types:
                    row["project_type_id"] = rng.choice(types)
                    row["project_name"] = f"{community}“近邻共治”{PROJECT_WORDS[sequence % 4]}项目"
                rows.append((row, created, submitted, accepted, status))
        ids = _insert(Application, [row for row, *_ in rows], returning=True)
        plan.application_ids = [app_id for app_id, (_r, *_rest, status) in zip(ids, rows, strict=True)
                                if status == A.ACCEPTED]
        events, convenors, think_tank, budget = [], [], [], []
        for app_id, (row, created, submitted, accepted, status) in zip(ids, rows, strict=True):
            user_id = row["created_by_id"]
            steps = [(created, None, A.DRAFT, user_id)]
            if status != A.DRAFT:
                steps.append((submitted, A.DRAFT, A.SUBMITTED, user_id))
            if status == A.ACCEPTED:
                steps.append((accepted, A.SUBMITTED, A.ACCEPTED, self.bureau_id))
            events += [{"application_id": app_id, "at": at, "actor_id": actor, "actor_name": self.usernames[actor],
                        "from_status": old, "to_status": new, "reason": ""} for at, old, new, actor in steps]
            if types:
                for order, (item, share) in enumerate((("场地改造及设施设备", 45), ("志愿服务与协商活动", 30),
                                                       ("宣传与成果汇编", 25))):
                    budget.append({"application_id": app_id, "item": item, "amount_fen": share * 200_000,
                                   "note": "", "sort_order": order})
            else:
                for order, (level, unit, role) in enumerate(((UnitLevel.GRID, "第一网格", "网格长"),
                                                             (UnitLevel.ESTATE, "新华街", "街巷长"),
                                                             (UnitLevel.BUILDING, "3号楼", "楼长"))):
                    convenors.append({"application_id": app_id, "level": level, "unit_name": unit,
                                      "name": _person(self.rng), "role": role, "sort_order": order})
                for order, identity in enumerate(("老党员、退休教师", "乡贤、律师")):
                    think_tank.append({"application_id": app_id, "name": _person(self.rng), "identity": identity,
                                       "sort_order": order})
        _insert(ApplicationEvent, events)
        _insert(Convenor, convenors)
        _insert(ThinkTankMember, think_tank)
        _insert(BudgetLine, budget)

    def _application_row(self, plan: Plan, template: dict, township_id: int, code: str, community_id: int,
                         community: str, sequence: int, status: ApplicationStatus, created: datetime,
                         submitted: datetime) -> dict:
        rng, year = self.rng, plan.programme.year
        project = bool(template["project_types"])
        return {
            "programme_id": plan.programme.id, "township_id": township_id, "community_id": community_id,
            "sequence": sequence, "reference": f"{year}-{template['code']}-{code.upper()}-{sequence:02d}",
            "status": status, "version": 1, "contact_name": _person(rng),
            "contact_phone": f"139{rng.randrange(10**8):08d}",
            "township_opinion": "项目方案可行，同意申报。" if project else "情况属实，同意推荐。",
            "participants": "" if project else "议题涉及的住户及业主代表、物业服务企业、驻村(社区)单位。",
            "venue_kind": "" if project else "议事厅(室)",
            "venue_name": "" if project else f"{community}民主议事厅",
            "venue_area_m2": None if project else rng.randint(30, 120),
            "opinion_box": not project, "wechat_column": "" if project else f"{community}公众号“微议事”专栏",
            "consultation_forms": [] if project else rng.sample(FORMS, 2),
            "consultation_forms_other": "",
            "procedure_topic": "" if project else "召集人每月收集群众诉求，经两委研究确定议题并发布公告。",
            "procedure_consult": "" if project else "召开协商议事会，达成一致的由协商主体签字确认。",
            "procedure_follow_up": "" if project else "召集人跟进落实并反馈，成果报村(居)委会备案。",
            "self_governance": "" if project else f"近一年开展协商议事 {rng.randint(6, 24)} 次，解决民生事项 "
                                                  f"{rng.randint(4, 15)} 件。",
            "project_type_id": None, "project_name": "",
            "foundation": "村(社区)党组织班子健全，志愿服务队伍活跃，群众参与度高。" if project else "",
            "goals": "一年内建成邻里驿站，形成可复制的协商议事工作机制。" if project else "",
            "measures": "健全网格党支部—楼栋党小组—党员联系户体系；开展主题志愿服务。" if project else "",
            "schedule": "上半年方案细化、场地改造；下半年全面实施、总结提炼。" if project else "",
            "expected_results": "群众满意度达 95%；形成一套社区工作法。" if project else "",
            "created_by_id": self.township_user[township_id], "created_at": created, "updated_at": submitted,
            "submitted_at": submitted if status != A.DRAFT else None, "submitted_late": False,
            "resubmit_due": None, "last_reason": "",
        }

    def scoring(self, plan: Plan) -> None:
        if plan.stage not in ("evaluating", "selected") or not plan.application_ids:
            return
        rng, programme, horizon = self.rng, plan.programme, _at(self.today, 0)
        criteria = [(c.id, c.max_points, c.kind) for c in programme.criteria]
        veto = programme.vetoes[0].id if programme.vetoes else None
        leanings = [rng.uniform(-0.05, 0.05) for _ in self.evaluator_ids]
        assigned = _at(plan.due + timedelta(days=3), 9)
        sheets, marks = [], []
        for app_id in plan.application_ids:
            strength = rng.uniform(0.55, 0.95)
            vetoed_by = rng.randrange(5) if veto is not None and rng.random() < 1 / 60 else None
            for number, evaluator_id in enumerate(self.evaluator_ids):
                submitted = _at(plan.due + timedelta(days=rng.randint(5, 12)), rng.randint(9, 20), rng.randint(0, 59))
                done = submitted < horizon
                sheets.append({
                    "application_id": app_id, "evaluator_id": evaluator_id,
                    "status": SheetStatus.SUBMITTED if done else SheetStatus.ASSIGNED,
                    "comment": "方案可行，特色较鲜明。" if done else "",
                    "veto_ids": [veto] if vetoed_by == number else [],
                    "assigned_by_id": self.bureau_id, "assigned_at": assigned,
                    "submitted_at": submitted if done else None, "reopen_reason": "", "version": 1 + done,
                })
                if not done:
                    marks.append(None)
                    continue
                marks.append([
                    (criterion_id, rng.choice([0, 0, 0, 2, 4, points * 2]) if kind == CriterionKind.BONUS else
                     round(points * 2 * min(1.0, max(0.3, strength + leanings[number] + rng.uniform(-0.08, 0.08)))))
                    for criterion_id, points, kind in criteria])
        ids = _insert(Assignment, sheets, returning=True)
        _insert(Score, [{"assignment_id": sheet_id, "criterion_id": criterion_id, "half_points": half}
                        for sheet_id, sheet_marks in zip(ids, marks, strict=True) if sheet_marks
                        for criterion_id, half in sheet_marks])

    def select(self, plan: Plan) -> None:
        """Ranking → proposal → tiers → public notice (an objection now and then) → finalise."""
        rng, programme = self.rng, plan.programme
        rows = programme_ranking(programme)
        eligible = sum(1 for row in rows if row.ranked.position is not None)
        quota = get_template(plan.key)["quota"] * self.scale.copies
        if self.scale.quota_cap is not None:
            quota = min(quota, self.scale.quota_cap + (plan.key == "pilot_by_size"))
        programme.quota = min(quota, eligible)
        if programme.quota == 0:
            programme.status = ProgrammeStatus.EVALUATING
            plan.stage = "evaluating"
            return
        chosen = selecting.propose(programme, rows)
        entries = sorted(chosen.entries, key=lambda entry: entry.position)
        if len(programme.tiers) > 1:
            top = max(programme.tiers, key=lambda tier: (tier.total_fen, -tier.sort_order))
            for entry in entries[: max(1, round(programme.quota / 5))]:
                entry.tier_id = top.id
        chosen.status = selecting.SelectionStatus.PUBLICISED
        chosen.publicity_start, chosen.publicity_end = plan.publicity_start, plan.publicity_end
        if rng.random() < 0.5:
            received = plan.publicity_start + timedelta(days=1)
            db.session.add(Objection(
                selection=chosen, application_id=rng.choice(entries).application_id, received_at=received,
                raised_by="村民（匿名）", content="反映该村(社区)协商议事场所尚未建成。",
                response="经实地核查，议事场所已完成主体建设，不影响入选。",
                responded_at=_at(received + timedelta(days=2), 15), responded_by_id=self.bureau_id))
        db.session.flush()
        bureau = db.session.get(User, self.bureau_id)
        sites = selecting.finalise(chosen, bureau, today=plan.final_day)
        chosen.finalised_at = _at(plan.final_day, 11)
        closed = programme.year < self.today.year
        programme.status = ProgrammeStatus.CLOSED if closed else ProgrammeStatus.IMPLEMENTING
        first = progress.first_of(self.today)
        tiers = {tier.id: tier for tier in programme.tiers}
        references = {row.application.id: row.application.reference for row in rows}
        for site in sites:
            self.sites.append(SiteInfo(
                id=site.id, plan=plan, township_id=site.township_id, community_id=site.community_id,
                rank=site.rank, selected_day=plan.final_day,
                sources=[(amount.source_id, amount.amount_fen) for amount in tiers[site.tier_id].amounts],
                months=[m for m in progress.report_months(site, programme) if m <= first],
                reference=references[site.application_id], user_id=self.township_user[site.township_id],
                closed=closed))
        db.session.flush()

    # --- implementation --------------------------------------------------------------------------------------------

    def milestones(self) -> None:
        """Every site's (and township's) milestones in the state a real round would have them by now."""
        rng, today = self.rng, self.today
        plans = {site.plan.programme.id: site.plan for site in self.sites}
        if not plans:
            return
        updates, events = [], []
        self.midterm_accepted: dict[int, date] = {}
        query = (sa.select(SiteMilestone.id, SiteMilestone.site_id, SiteMilestone.township_id,
                           SiteMilestone.programme_id, Milestone.kind, Milestone.due_date)
                 .join(SiteMilestone.milestone).where(SiteMilestone.programme_id.in_(sorted(plans)))
                 .order_by(SiteMilestone.id))
        for item_id, site_id, township_id, programme_id, kind, due in db.session.execute(query):
            plan = plans[programme_id]
            closed = plan.programme.year < today.year
            earliest = plan.final_day + timedelta(days=2)
            submitted_day = max(earliest, due - timedelta(days=rng.randint(-6, 12)))
            roll = rng.random()
            if due < today:
                status = (MS.ACCEPTED if roll < (0.86 if closed else 0.72) else
                          MS.RETURNED if roll < (0.91 if closed else 0.82) else
                          MS.SUBMITTED if roll < (0.94 if closed else 0.90) else MS.NOT_STARTED)
            else:
                status = MS.SUBMITTED if due - today <= timedelta(days=30) and roll < 0.3 else MS.NOT_STARTED
            decided_day = submitted_day + timedelta(days=rng.randint(2, 10))
            if status != MS.NOT_STARTED and submitted_day >= today:
                status = MS.NOT_STARTED
            if status in (MS.ACCEPTED, MS.RETURNED) and decided_day >= today:
                status = MS.SUBMITTED
            user_id = self.township_user[township_id]
            row = {"id": item_id, "status": status, "content": "", "meeting_date": None, "meeting_result": "",
                   "township_approved_on": None, "filed_on": None, "system_entered_on": None, "submitted_at": None,
                   "submitted_late": False, "reviewer_comment": "", "decided_at": None, "version": 1}
            if status != MS.NOT_STARTED:
                submitted = _at(submitted_day, 16, rng.randint(0, 59))
                row.update(content="已按要求完成，具体见附件材料。", submitted_at=submitted,
                           submitted_late=submitted_day > due, version=2)
                if kind == MilestoneKind.CHARTER:
                    row.update(meeting_date=submitted_day - timedelta(days=20),
                               meeting_result=f"应到 45 人，实到 {rng.randint(31, 45)} 人，表决通过",
                               township_approved_on=submitted_day - timedelta(days=10),
                               filed_on=submitted_day - timedelta(days=3), system_entered_on=submitted_day)
                events.append({"site_milestone_id": item_id, "at": submitted, "actor_id": user_id,
                               "actor_name": self.usernames[user_id], "from_status": MS.NOT_STARTED,
                               "to_status": MS.SUBMITTED, "comment": ""})
                if status in (MS.ACCEPTED, MS.RETURNED):
                    decided = _at(decided_day, 10, rng.randint(0, 59))
                    comment = "材料齐全。" if status == MS.ACCEPTED else "典型案例过于简略，请补充做法和成效。"
                    row.update(reviewer_comment=comment, decided_at=decided, version=3)
                    events.append({"site_milestone_id": item_id, "at": decided, "actor_id": self.bureau_id,
                                   "actor_name": self.usernames[self.bureau_id], "from_status": MS.SUBMITTED,
                                   "to_status": status, "comment": comment})
                    if status == MS.ACCEPTED and kind == MilestoneKind.MIDTERM and site_id is not None:
                        self.midterm_accepted[site_id] = decided_day
            updates.append(row)
        _update_by_id(SiteMilestone, updates)
        _insert(MilestoneEvent, events)

    def money(self) -> None:
        """Tranche releases, payments by tranche or in one go, town matching funds, and a few reversed mistakes."""
        rng, today = self.rng, self.today
        matching = funding_source("镇(街道)配套").id
        releases, allocations, payments, mistakes = [], [], [], []
        counter = 0

        def pay(site: SiteInfo, source_id: int, amount: int, day: date, note: str, tranche_id=None, batch=""):
            nonlocal counter
            counter += 1
            payments.append({
                "site_id": site.id, "source_id": source_id, "entry_date": day, "amount_fen": amount,
                "voucher_no": f"CZ{day:%Y%m}-{counter:07d}", "note": note, "tranche_id": tranche_id,
                "override_reason": "", "reverses_id": None, "batch": batch, "created_by_id": self.finance_id,
                "created_at": _at(day, 15, rng.randint(0, 59))})
            site.paid[source_id] = site.paid.get(source_id, 0) + amount
            site.first_paid = min(site.first_paid or day, day)

        for site in self.sites:
            plan = site.plan
            batch = f"{plan.programme.year}-{plan.programme.code}"
            if plan.tranche_ids:
                first_day = plan.final_day + timedelta(days=20)
                if first_day < today:
                    for source_id, fen in site.sources:
                        pay(site, source_id, fen // 2, first_day, "第一批补助资金", plan.tranche_ids[0], batch + "-1")
                released = self.midterm_accepted.get(site.id)
                if released is not None:
                    releases.append({"site_id": site.id, "tranche_id": plan.tranche_ids[1],
                                     "note": "中期自评报告已审核通过", "released_by_id": self.bureau_id,
                                     "released_at": _at(released, 11)})
                    second_day = released + timedelta(days=rng.randint(10, 25))
                    if second_day < today:
                        for source_id, fen in site.sources:
                            pay(site, source_id, fen - fen // 2, second_day, "第二批补助资金", plan.tranche_ids[1],
                                batch + "-2")
            else:
                day = plan.final_day + timedelta(days=rng.randint(18, 40))
                if day < today:
                    for source_id, fen in site.sources:
                        pay(site, source_id, fen, day, "补助资金", batch=batch)
            if rng.random() < 0.3:
                day = plan.final_day + timedelta(days=rng.randint(10, 30))
                fen = rng.randint(1, 5) * 1_000_000
                if day < today:
                    allocations.append({"site_id": site.id, "source_id": matching, "amount_fen": fen,
                                        "reason": "镇(街道)配套资金", "entry_date": day, "created_by_id": site.user_id,
                                        "created_at": _at(day, 10)})
                    if day + timedelta(days=7) < today:
                        pay(site, matching, fen, day + timedelta(days=7), "镇(街道)配套资金")
            if site.first_paid is not None and rng.random() < 0.02:
                source_id, _fen = site.sources[0]
                day = site.first_paid + timedelta(days=rng.randint(3, 20))
                if day + timedelta(days=10) < today:
                    mistakes.append((len(payments), day + timedelta(days=rng.randint(2, 10))))
                    pay(site, source_id, rng.randint(5, 20) * 100_000, day, "补助资金（误录）")
                    payments[-1]["override_reason"] = "重复拨付，待冲销"
        _insert(TrancheRelease, releases)
        _insert(Allocation, allocations)
        ids = _insert(Disbursement, payments, returning=True)
        reversals = []
        sites = {site.id: site for site in self.sites}
        for index, day in mistakes:
            wrong = payments[index]
            reversals.append({**wrong, "entry_date": day, "amount_fen": -wrong["amount_fen"], "override_reason": "",
                              "note": "冲销：重复拨付", "reverses_id": ids[index], "created_at": _at(day, 16)})
            sites[wrong["site_id"]].paid[wrong["source_id"]] -= wrong["amount_fen"]
        _insert(Disbursement, reversals)

    def spending(self) -> None:
        """The spending lines: ``spending_lines`` in all, shared by the sites that were paid, in proportion to what
        they were paid; most sites spend most of it, a few spend nothing or more than they were paid."""
        rng, today = self.rng, self.today
        total = self.scale.spending_lines
        reversals = round(total * 0.005)
        eligible, weights, periods = [], [], []
        for site in self.sites:
            if site.first_paid is None:
                continue
            begin = site.first_paid + timedelta(days=3)
            end = min(date(site.plan.programme.year, 12, 31) + timedelta(days=45), today - timedelta(days=1))
            if end < begin or rng.random() < 0.025:
                continue  # nothing spent (yet): the reconciliation flags it after 90 days
            paid = sum(amount for amount in site.paid.values() if amount > 0)
            eligible.append(site)
            weights.append(paid * min(1.0, ((end - begin).days + 1) / 180))
            periods.append((begin, end))
        counts = _split(total - reversals, weights)
        self.file_id = self._shared_file()
        lines: list[dict] = []
        for site, count, (begin, end) in zip(eligible, counts, periods, strict=True):
            if count == 0:
                continue
            elapsed = min(1.0, ((end - begin).days + 1) / 240)
            share = (rng.uniform(1.04, 1.12) if rng.random() < 0.03 else
                     rng.uniform(0.85, 1.0) if site.closed else rng.uniform(0.35, 0.95) * elapsed + 0.05)
            sources = sorted((source_id, amount) for source_id, amount in site.paid.items() if amount > 0)
            units = round(sum(amount for _source, amount in sources) * share / 10)  # in tens of fen
            targets = _split(units, [amount for _source, amount in sources])
            picks = _split(count, [a for _s, a in sources])
            days = sorted(date.fromordinal(rng.randint(begin.toordinal(), end.toordinal())) for _ in range(count))
            made = 0
            for (source_id, _amount), target, lines_here in zip(sources, targets, picks, strict=True):
                if lines_here == 0:
                    continue
                amounts = [max(1, part) * 10 for part in _split(max(target, lines_here),
                                                                [rng.random() + 0.3 for _ in range(lines_here)])]
                for amount in amounts:
                    item, category, payee = rng.choice(SPENDING)
                    day = days[made]
                    made += 1
                    lines.append({
                        "site_id": site.id, "source_id": source_id, "entry_date": day, "item": item,
                        "category": category, "amount_fen": amount, "payee": payee,
                        "receipt_id": self.file_id if rng.random() < 0.3 else None, "reverses_id": None, "note": "",
                        "created_by_id": site.user_id, "created_at": _at(day, 17, rng.randint(0, 59))})
        order = sorted(range(len(lines)), key=lambda index: (lines[index]["entry_date"], index))
        lines = [lines[index] for index in order]
        ids = _insert(SpendingLine, lines, returning=True)
        undo = []
        for index in sorted(rng.sample(range(len(lines)), min(reversals, len(lines)))):
            line = lines[index]
            day = min(line["entry_date"] + timedelta(days=rng.randint(1, 15)), today - timedelta(days=1))
            undo.append({**line, "entry_date": day, "amount_fen": -line["amount_fen"],
                         "item": f"冲销：{line['item']}"[:120], "receipt_id": None, "reverses_id": ids[index],
                         "note": "重复录入，冲销", "created_at": _at(day, 17)})
        _insert(SpendingLine, undo)
        self.spent = defaultdict(int)
        for line in lines + undo:
            self.spent[line["site_id"], line["entry_date"].replace(day=1)] += line["amount_fen"]

    def _shared_file(self) -> int:
        """The one stored file every archive item and receipt points at (one small PDF written to the uploads)."""
        data = demo_pdf(["bench data", "shared archive file"], "基准测试共用档案文件")
        upload = FileStorage(stream=io.BytesIO(data), filename="基准测试共用档案文件.pdf")
        return save_upload(upload, uploaded_by=self.bureau_id).id

    def monthly_reports(self) -> None:
        """A report for every site and every month of its reporting period that has begun."""
        rng, today, horizon = self.rng, self.today, _at(self.today, 0)
        rows = []
        for site in self.sites:
            for month in site.months:
                due = progress.due_date(month)
                late = rng.random() < 0.08
                submitted = _at(due + timedelta(days=rng.randint(1, 9) if late else -rng.randint(0, 9)),
                                rng.randint(9, 18), rng.randint(0, 59))
                draft = submitted >= horizon or (due < today and rng.random() < 0.02)
                spent = max(0, self.spent.get((site.id, month), 0))
                rows.append({
                    "site_id": site.id, "month": month,
                    "status": ReportStatus.DRAFT if draft else ReportStatus.SUBMITTED,
                    "work_done": WORK[rng.randrange(len(WORK))], "consultations_held": rng.randint(0, 4),
                    "problems": rng.choice(PROBLEMS), "next_plan": rng.choice(PLANS), "spent_this_month_fen": spent,
                    "submitted_at": None if draft else submitted, "created_by_id": site.user_id,
                    "created_at": min(submitted, horizon) - timedelta(days=2), "version": 1 if draft else 2})
        _insert(MonthlyReport, rows)

    def archive(self) -> None:
        """Archive items of the eight kinds (rows only; all point at the shared file); a few gaps."""
        rng, today = self.rng, self.today
        rows = []
        for site in self.sites:
            year = site.plan.programme.year
            for kind, entries in CATALOGUE.items():
                if rng.random() < (0.06 if site.closed else 0.15):
                    continue
                for title, description, _type, earliest, latest in entries[: rng.randint(1, len(entries))]:
                    first, last = date(year, *earliest), date(year, *latest)
                    day = date.fromordinal(rng.randint(first.toordinal(), last.toordinal()))
                    if day >= today:
                        continue
                    deleted = rng.random() < 0.01
                    rows.append({"site_id": site.id, "kind": kind, "title": title, "item_date": day,
                                 "description": description, "file_id": self.file_id, "uploaded_by_id": site.user_id,
                                 "created_at": _at(day, 16, 30),
                                 "deleted_at": _at(day + timedelta(days=1), 9) if deleted else None,
                                 "deleted_by_id": site.user_id if deleted else None})
        _insert(ArchiveItem, rows)

    def oversight(self) -> None:
        """The bureau's spot checks on some sites and a 通报 per programme to a township that reported late."""
        rng, today = self.rng, self.today
        checks, notices = [], []
        for site in self.sites:
            if rng.random() >= 0.12:
                continue
            day = site.selected_day + timedelta(days=rng.randint(40, 160))
            if day >= today:
                continue
            findings, follow = SPOT_FINDINGS[rng.randrange(len(SPOT_FINDINGS))]
            closed = follow and rng.random() < (0.9 if site.closed else 0.5) and day + timedelta(days=14) < today
            checks.append({"site_id": site.id, "checked_on": day,
                           "inspectors": f"市民政局 {_person(rng)}、{_person(rng)}",
                           "findings": findings, "follow_up_required": follow,
                           "follow_up": "限期整改并上传佐证材料。" if follow else "",
                           "closed_at": _at(day + timedelta(days=14), 15) if closed else None,
                           "closed_note": "已整改并拍照上传档案。" if closed else "", "created_by_id": self.bureau_id,
                           "created_at": _at(day, 17)})
        for plan in {site.plan.programme.id: site.plan for site in self.sites}.values():
            townships = sorted({site.township_id for site in self.sites if site.plan is plan})
            day = plan.final_day + timedelta(days=rng.randint(60, 120))
            if day < today:
                township_id = rng.choice(townships)
                notices.append({"programme_id": plan.programme.id, "township_id": township_id, "issued_on": day,
                                "title": "关于月度进展报送滞后的通报",
                                "content": "部分试点未按时报送月度进展，请于 5 个工作日内补报并说明原因。",
                                "issued_by_id": self.bureau_id, "created_at": _at(day, 10)})
        _insert(SpotCheck, checks)
        _insert(ProgressNotice, notices)

    def consultations(self) -> None:
        """协商记录 over the five years: most in the sites' communities, the rest anywhere."""
        rng = self.rng
        matters = {(category, item): matter_id for matter_id, category, item in db.session.execute(
            sa.select(ConsultationMatter.id, ConsultationMatter.category, ConsultationMatter.item))}
        excluded = db.session.scalar(sa.select(ConsultationRule.id).where(ConsultationRule.kind == "must_not")
                                     .order_by(ConsultationRule.sort_order, ConsultationRule.id).limit(1))
        site_communities = sorted({site.community_id for site in self.sites})
        every = sorted(self.community_names)
        begin, end = self.start.toordinal(), (self.today - timedelta(days=1)).toordinal()
        rows = []
        for _ in range(self.scale.consultations):
            pool = site_communities if site_communities and rng.random() < 0.6 else every
            community_id = rng.choice(pool)
            topic = TOPICS[rng.randrange(len(TOPICS))]
            held = _at(date.fromordinal(rng.randint(begin, end)), rng.randint(9, 20), rng.choice((0, 30)))
            present = rng.randint(12, 60)
            agreed = rng.random() >= 0.08
            votes_for = rng.randint(present * 2 // 3 + 1, present) if agreed else rng.randint(present // 3,
                                                                                             present * 2 // 3)
            against = rng.randint(0, present - votes_for)
            abstain = rng.randint(0, present - votes_for - against)
            out_of_bounds = excluded is not None and rng.random() < 0.01
            user_id = self.township_user[self.community_township[community_id]]
            rows.append({
                "community_id": community_id, "topic": topic.topic, "matter_id": matters.get((topic.category,
                                                                                              topic.item)),
                "excluded_rule_id": excluded if out_of_bounds else None, "unit_level": topic.level,
                "unit_name": topic.unit, "parties": topic.parties, "held_at": held, "place": topic.place,
                "form": topic.mode, "host": _person(rng), "recorder": _person(rng), "supervisor": _person(rng),
                "proceedings": topic.opinions, "present": present, "votes_for": votes_for,
                "votes_against": against, "abstain": abstain,
                "outcome": topic.outcome if agreed else "未达成一致，提交村(居)民会议研究决定。",
                "follow_up": topic.follow_up, "created_by_id": user_id, "created_at": held + timedelta(hours=20),
                "deleted_at": None})
        rows.sort(key=lambda row: row["held_at"])
        _insert(ConsultationRecord, rows)

    def sign_offs(self) -> None:
        """Finance closes every quarter that ended more than a month ago."""
        rows = []
        for year in self.years:
            for quarter in range(1, 5):
                first = date(year, 3 * quarter - 2, 1)
                last = _next_month(date(year, 3 * quarter, 1)) - timedelta(days=1)
                if last + timedelta(days=31) >= self.today:
                    continue
                rows.append({"period_start": first, "period_end": last, "label": f"{year}Q{quarter}",
                             "note": "季度资金对账完毕", "signed_by_id": self.finance_id,
                             "signed_at": _at(last + timedelta(days=15), 16)})
        _insert(PeriodSignOff, rows)

    # --- the audit log -------------------------------------------------------------------------------------------

    def audit(self) -> None:
        """Audit rows up to ``audit_rows`` in all: logins, changes and exports spread over the working days of the
        five years (weekends quiet), in time order, inserted in chunks."""
        rng = self.rng
        have = db.session.scalar(sa.select(sa.func.count(AuditLog.id)))
        need = max(0, self.scale.audit_rows - have)
        if need == 0:
            return
        maxima = {model.__name__: db.session.scalar(sa.select(sa.func.max(model.id))) or 1 for model in (
            Application, MonthlyReport, SpendingLine, ArchiveItem, ConsultationRecord, SiteMilestone, Assignment,
            Disbursement, Convenor, BudgetLine)}
        days = [date.fromordinal(day) for day in range(self.start.toordinal(), self.today.toordinal())]
        per_day = _split(need, [1.0 if day.weekday() < 5 else 0.15 for day in days])
        township_users = self.role_users[Role.TOWNSHIP]
        office = self.role_users[Role.BUREAU] + self.role_users[Role.FINANCE] + self.evaluator_ids
        people = (township_users, office, self.role_users[Role.AUDITOR] + self.role_users[Role.ADMIN])
        kinds = ["login", "logout", "login_failed", "insert", "update", "export", "denied", "delete"]
        cumulative = list(accumulate([28, 16, 2, 26, 22, 4, 1, 1]))
        chunk: list[dict] = []
        chunks = 0
        for day, count in zip(days, per_day, strict=True):
            stamps = sorted(rng.randint(8 * 60, 18 * 60 + 30) for _ in range(count))
            for minutes in stamps:
                group = people[0] if rng.random() < 0.6 else people[1] if rng.random() < 0.92 else people[2]
                actor = group[rng.randrange(len(group))] if group else self.bureau_id
                kind = kinds[bisect(cumulative, rng.randrange(cumulative[-1]))]
                chunk.append(self._audit_row(kind, actor, _at(day, minutes // 60, minutes % 60)
                                             + timedelta(seconds=rng.randrange(60)), maxima))
            if len(chunk) >= CHUNK:
                db.session.execute(sa.insert(AuditLog.__table__), chunk)
                chunk = []
                chunks += 1
                if chunks % 50 == 0:  # province: a commit every half million rows or so
                    db.session.commit()
        if chunk:
            db.session.execute(sa.insert(AuditLog.__table__), chunk)

    def _audit_row(self, kind: str, actor: int, at: datetime, maxima: dict[str, int]) -> dict:
        rng = self.rng
        name = self.usernames.get(actor, "")
        row = {"at": at, "actor_id": actor, "actor_name": name, "object_type": "User", "object_id": str(actor),
               "summary": name, "before": None, "after": None,
               "ip": f"10.{20 + rng.randrange(20)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"}
        if kind in ("login", "logout"):
            row["action"] = AuditAction.LOGIN if kind == "login" else AuditAction.LOGOUT
        elif kind == "login_failed":
            row.update(action=AuditAction.LOGIN_FAILED, summary="wrong password")
        elif kind == "export":
            key = rng.choice(["reconciliation", "monthly_summary", "archive_completeness", "ledger_book", "notices"])
            row.update(action=AuditAction.EXPORT, object_type="Report", object_id=key, summary=f"report {key}")
        elif kind == "denied":
            row.update(action=AuditAction.DENIED, object_type="route", object_id="",
                       summary=f"GET /funding/sites/{rng.randint(1, 999)}")
        elif kind == "delete":
            model = rng.choice(["Convenor", "BudgetLine"])
            number = rng.randint(1, maxima[model])
            row.update(action=AuditAction.DELETE, object_type=model, object_id=str(number),
                       summary=f"{number}", before={"application_id": rng.randint(1, maxima["Application"])})
        elif kind == "insert":
            model = rng.choice(["MonthlyReport", "SpendingLine", "ArchiveItem", "ConsultationRecord", "Disbursement"])
            number = rng.randint(1, maxima[model])
            row.update(action=AuditAction.INSERT, object_type=model, object_id=str(number), summary=f"{model} {number}",
                       after={"id": number, "created_by_id": actor})
        else:
            model, field_name, old, new = rng.choice([
                ("Application", "status", "submitted", "accepted"), ("Application", "status", "draft", "submitted"),
                ("MonthlyReport", "status", "draft", "submitted"), ("SiteMilestone", "status", "submitted", "accepted"),
                ("Assignment", "status", "draft", "submitted"), ("SiteMilestone", "status", "not_started", "submitted"),
            ])
            number = rng.randint(1, maxima[model])
            row.update(action=AuditAction.UPDATE, object_type=model, object_id=str(number), summary=f"{model} {number}",
                       before={field_name: old}, after={field_name: new})
        return row


"""Hostile input over every form (issue 8 §2): property-based, on SQLite and PostgreSQL.

Every form is posted with values drawn from one strategy of hostile text (empty, 1 MB, control characters, bidi
overrides, emoji and mixed scripts, SQL and script fragments, negative, overflowing and over-precise amounts,
impossible and extreme dates, invalid UTF-8), mixed with valid values so that saves succeed too. For each request:

- no 500 (in tests an exception propagates, and the status is checked as well);
- an HTML answer never carries a script fragment unescaped (redirects are followed, so flashed messages count);
- nothing is half-saved: the form's tables are compared before and after; when they changed, what was stored
  must equal what was sent after stripping (the form was accepted whole), otherwise the form was refused whole.

The filters read from the query string (report shelf, audit log, application list, calendar) get the same values.
Module-level counters check at the end that every target ran in full: about 6,200 requests on SQLite and 4,300 on
PostgreSQL (10,500 together), carrying more hostile values than there are requests (about 2.3 each).

Spreadsheet exports are checked last: formula-like text in a community name, a consultation topic and an
application's contact is written as text, never as a formula.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import quote_from_bytes

import openpyxl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.fixtures import DEMO_PASSWORD
from app.places.models import Community
from app.programmes.models import Programme, ProgrammeStatus
from tests.applications.helpers import communities_of
from tests.conftest import DEMONSTRATION_FORM, login
from tests.files.test_storage import make_jpeg, make_pdf, make_png
from tests.funding.conftest import funded  # noqa: F401
from tests.scoring.conftest import scoring  # noqa: F401

# --- the hostile values ------------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = "\"><img src=x onerror=alert(1)>"
# What must never appear unescaped in a page: the tags of the two fragments.
RAW_MARKERS = ("<script>alert(1)", "<img src=x onerror")
HUGE = "長" * (1024 * 1024 // 3)  # 1 MB of UTF-8

NASTY: list[str | bytes] = [
    "", " ", "   \t\r\n  ", "\x00", "a\x00b", "\x1b[31m红\x1b[0m", "\x07\x08\x0b\x0c\x7f", "\u202e\u202dabc\u202c",
    "\u200b\u200d\ufeff", "\u3000全角空格\u3000", "😀", "👨‍👩‍👧‍👦🏳️‍🌈", "Ελληνικά Кириллица 中文 العربية עברית ไทย",
    "Z̴̡̛a̷l̸g̵o̶", "'; DROP TABLE users;--", "\" OR 1=1 --", "1; SELECT pg_sleep(10)", "%' OR '%'='", "\\", "%_",
    SCRIPT, IMG, "<svg onload=alert(1)>", "{{7*7}}", "${7*7}", "javascript:alert(1)", "../../etc/passwd",
    "-1", "-0.01", "0", "-0", "1e309", "-1e309", "1e999999", "9e99999999999", "99999999999999999999",
    "1" + "0" * 400, "1.001", "0.001", "30,000.505", "¥-5", "NaN", "Infinity", "-inf", "0x1F", "1_000",
    "²", "①", "٣", "１２", "9" * 5000, "0000-01", "2024-00", "0000Q1", "2024-02-30", "0000-00-00", "9999-99-99",
    "0001-01-01", "9999-12-31",
    "0001-01-01T00:00", "9999-12-31T23:59", "2024-13-01", "2024-05", "1969-12-31 23:59:59", "2024Q5",
    "=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "=HYPERLINK(\"http://x\")", "\t=1", "\r=1",
    "true", "on", "null", "None", "[]", "{}", "admin", "bureau", "0" * 50,
    b"\xff\xfe", b"\xed\xa0\x80", b"abc\xc3", b"\xc0\xaf", HUGE,
]

# Numbers and dates that parsers trip over, drawn more often than their share of NASTY.
NUMERIC = [value for value in NASTY if isinstance(value, str) and value and len(value) < 6000
           and (value[0].isdigit() or value[0] in "-+¥²①٣１" or value in ("NaN", "Infinity"))]

_hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.sampled_from(NUMERIC),
    st.text(alphabet=st.characters(blacklist_categories=()), max_size=60),
    st.binary(max_size=60).map(lambda raw: raw.decode("utf-8", errors="replace")),
    st.binary(max_size=30),  # sent as raw bytes: invalid UTF-8 reaches the server
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=8), st.sampled_from([SCRIPT, IMG, "'; DROP TABLE users;--"]),
              st.text(max_size=8)),
)
HOSTILE = _hostile_text


def encoded(value) -> bytes:
    """The bytes sent for a value (lone surrogates as the bytes a careless client would send)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


def as_received(value) -> str:
    """The value as the server reads it: werkzeug decodes invalid UTF-8 by quoting the bad bytes."""
    import werkzeug.urls  # noqa: F401  registers the error handler

    return encoded(value).decode("utf-8", "werkzeug.url_quote")


def urlencode_raw(pairs) -> bytes:
    return b"&".join(quote_from_bytes(encoded(k), safe=b"").encode() + b"=" +
                     quote_from_bytes(encoded(v), safe=b"").encode() for k, v in pairs)


# --- counting -----------------------------------------------------------------------------------------------

REQUESTS: Counter = Counter()  # (database, target) -> requests made
SAVED: Counter = Counter()  # (database, target) -> requests that changed the form's tables
FIELD_VALUES: Counter = Counter()  # database -> hostile values sent


# Requests per target are scaled by database: PostgreSQL's round trips make its requests slower, and the two runs
# together must make at least 10,000 requests while each stays near 90 seconds on a two-core machine.
SCALE = {"sqlite": 1.15, "postgresql": 0.8}


def examples(target, database: str) -> int:
    return round(target.examples * SCALE[database])


def _database(app) -> str:
    return "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"


# --- snapshots of the tables a form writes ---------------------------------------------------------------


def _table(name: str) -> sa.Table:
    return db.Model.metadata.tables[name]


def snapshot(app, tables) -> dict:
    with app.app_context():
        result = {}
        for name in tables:
            table = _table(name)
            pk = list(table.primary_key.columns)
            rows = db.session.execute(sa.select(table).order_by(*pk)).mappings().all()
            result[name] = {tuple(row[c.name] for c in pk) if len(pk) > 1 else row[pk[0].name]: dict(row)
                            for row in rows}
        db.session.remove()
        return result


def changed_rows(before: dict, after: dict, table: str) -> list[dict]:
    """Rows of ``table`` that are new or different after the request (deleted ones are not listed)."""
    return [row for key, row in after[table].items() if before[table].get(key) != row]


# --- targets -------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """A form under attack: where it is, who posts it, its fields and the tables it writes."""

    name: str
    role: str | None  # who is logged in (None: nobody)
    url: Callable[[dict], str]
    fields: Callable[[dict], dict]  # field name -> strategy of valid values
    tables: tuple[str, ...] = ()
    verify: Callable[[dict, dict, dict, dict], None] | None = None  # (ctx, sent, before, after) when tables changed
    setup: Callable[..., dict] | None = None  # (app, fixtures) -> ctx
    before_each: Callable[[object, dict], None] | None = None
    method: str = "POST"
    files: Callable[[dict], dict] | None = None  # multipart: file field -> (bytes, filename)
    fixed: Callable[[dict], dict] | None = None  # fields always sent as given (the button pressed)
    examples: int = 88
    saves: bool = True  # some of the drawn requests are expected to be saved
    role_fields: dict = field(default_factory=dict)  # extra fields of the user made for ``role``


def V(*values) -> st.SearchStrategy:
    return st.sampled_from(values)


TEXT = V("正常的文字", "林晓燕", "Normal text")


def _stripped(sent: dict, name: str) -> str:
    return sent.get(name, "").strip()


def _fen(text: str) -> int | None:
    text = text.strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
    if not text:
        return None
    try:
        return int(Decimal(text) * 100)
    except (InvalidOperation, ArithmeticError):
        return None


def _rows(sent: dict, prefix: str, names: tuple[str, ...], count: int, key: str) -> list[dict]:
    """The sent rows of a repeated block whose ``key`` field is filled in (after stripping)."""
    rows = [{name: _stripped(sent, f"{prefix}-{i}-{name}") for name in names} for i in range(count)]
    return [row for row in rows if row[key]]


# --- running one target --------------------------------------------------------------------------------------


def _check_page(response, sent: dict) -> None:
    assert response.status_code < 500, response.status_code
    assert response.status_code != 403, "the target's role may use this form"
    if response.mimetype != "text/html":
        return
    body = response.get_data(as_text=True)
    for marker in RAW_MARKERS:
        assert marker not in body, f"unescaped {marker!r} in the page"
    for value in sent.values():
        # Any sent value with a tag in it, long enough not to occur in the page by chance, must not appear raw.
        if re.search(r"<[A-Za-z/!]", value) and len(value.strip()) >= 12 and len(value) < 10_000:
            assert value.strip() not in body, f"sent value echoed unescaped: {value!r}"


def _request(client, target: Target, ctx: dict, values: dict, follow: bool) -> tuple[object, dict]:
    """Send ``values`` (field -> str or bytes); returns the response and the values as the server read them.

    With ``follow`` a redirect is followed, so that the messages flashed about the values are shown and checked;
    otherwise they are dropped (following every redirect would double the cost of the run).
    """
    if "path" in values:  # a value that goes into the URL's path, not its query
        values = dict(values)
        ctx = {**ctx, "path": quote_from_bytes(encoded(values.pop("path")), safe=b"")}
    url = target.url(ctx)
    fixed = target.fixed(ctx) if target.fixed else {}
    pairs = [(name, value) for name, value in values.items()] + list(fixed.items())
    if target.method == "GET":
        response = client.get(url + "?" + urlencode_raw(pairs).decode("ascii"), follow_redirects=True)
    elif target.files is not None:
        data = {name: as_received(value) for name, value in pairs}
        for name, (content, filename) in target.files(ctx).items():
            data[name] = (io.BytesIO(content), filename)
        response = client.post(url, data=data, content_type="multipart/form-data", follow_redirects=follow)
    else:
        response = client.post(url, data=urlencode_raw(pairs), content_type="application/x-www-form-urlencoded",
                               follow_redirects=follow)
    if response.status_code in (301, 302, 303):
        with client.session_transaction() as session:
            session.pop("_flashes", None)
    return response, {name: as_received(value) for name, value in pairs}


def run_target(request, app, client, target: Target) -> None:
    ctx = target.setup(app, request) if target.setup else {}
    if target.role is not None:
        make_user = request.getfixturevalue("make_user")
        user_id = make_user(target.role, **target.role_fields)
        with app.app_context():
            username = db.session.get(User, user_id).username
        assert login(client, username).status_code == 302
        ctx["user_id"] = user_id
    database = _database(app)
    field_strategies = target.fields(ctx)
    told: list = []
    names = list(field_strategies)

    @st.composite
    def form_values(draw):
        # "none" first: the simplest draw (each strategy's first choice) is a valid request, which is saved.
        mode = draw(st.sampled_from(["none", "one", "one", "one", "mix", "mix", "all"]))
        if mode == "one":
            hostile = {draw(st.sampled_from(names))} if names else set()
        elif mode == "all":
            hostile = set(names)
        elif mode == "none":  # all valid: the save goes through, and what is stored is checked
            hostile = set()
        else:
            hostile = {name for name in names if draw(st.booleans())}
        values = {}
        for name in names:
            if name in hostile:
                values[name] = draw(HOSTILE)
            else:
                values[name] = draw(field_strategies[name])
        # Now and then a field is left out altogether (not one of a repeated block's rows).
        single = [name for name in names if "-" not in name and name != "path"]
        if single and draw(st.integers(0, 9)) == 9:  # not 0: the simplest draw sends every field
            values.pop(draw(st.sampled_from(single)), None)
        return values, len(hostile)

    @settings(max_examples=examples(target, database), deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(form_values())
    def attack(drawn):
        values, hostile_count = drawn
        if target.before_each:
            target.before_each(app, ctx)
        before = snapshot(app, target.tables)
        response, sent = _request(client, target, ctx, values, follow=REQUESTS[(database, target.name)] % 3 == 0)
        if hostile_count == 0 and response.mimetype == "text/html":  # what an all-valid request was told
            told.append((response.status_code, re.findall(r'(?:invalid-feedback[^>]*|alert[^>]*)>\s*([^<]{1,120})',
                                                         response.get_data(as_text=True))[:3]))
        REQUESTS[(database, target.name)] += 1
        FIELD_VALUES[database] += hostile_count
        _check_page(response, sent)
        after = snapshot(app, target.tables)
        if after != before:
            assert target.verify is not None, f"{target.name} changed {target.tables} but nothing may change"
            target.verify(ctx, sent, before, after)
            SAVED[(database, target.name)] += 1

    attack()
    if target.verify is not None and target.saves:
        # The valid values do get through: the checks above saw saves, not only refusals.
        assert SAVED[(database, target.name)] > 0, f"{target.name} never saved; all-valid requests got {told[-5:]}"


# --- setups --------------------------------------------------------------------------------------------------


def _places(request):
    return request.getfixturevalue("places")


def _ids(app, model, *where) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(model.id).where(*where).order_by(model.id)))


def _commit(app, fn):
    with app.app_context():
        result = fn()
        db.session.commit()
        return result


def setup_places(app, request) -> dict:
    places = _places(request)
    return {"anhai": places.anhai, "cizao": places.cizao, "community": places.anhai_community}


def setup_community(app, request) -> dict:
    ctx = setup_places(app, request)
    ctx["edited"] = _commit(app, lambda: _add(Community(township_id=ctx["anhai"], name="被编辑村", kind="village")))
    return ctx


def _add(obj):
    db.session.add(obj)
    db.session.flush()
    return obj.id


def setup_programme(kind: str = "demonstration", **fields):
    def setup(app, request) -> dict:
        ctx = setup_places(app, request)
        ctx["programme"] = request.getfixturevalue("make_programme")(kind, **fields)
        return ctx
    return setup


def setup_application(kind: str = "demonstration", status=ApplicationStatus.DRAFT):
    def setup(app, request) -> dict:
        ctx = setup_programme(kind)(app, request)

        def make():
            programme = db.session.get(Programme, ctx["programme"])
            ctx["types"] = [t.id for t in programme.project_types]
            return _add(Application(programme_id=ctx["programme"], township_id=ctx["anhai"],
                                    community_id=ctx["community"], sequence=1, reference="HOSTILE-1", status=status))
        ctx["application"] = _commit(app, make)
        ctx["n"] = 0
        return ctx
    return setup


def setup_funded(app, request) -> dict:
    money = request.getfixturevalue("funded")
    ctx = setup_places(app, request)
    ctx.update(programme=money.programme, site=money.sites[0], city=money.city, prefecture=money.prefecture,
               matching=money.matching)
    return ctx


def setup_tracked(app, request) -> dict:
    """The funded programme, selected last April, with a charter and a summary due last year."""
    from datetime import datetime, time

    from app.database import CHINA
    from app.funding.models import Site
    from app.programmes.models import Milestone, MilestoneKind
    from app.tracking import progress
    from app.tracking.models import SiteMilestone

    ctx = setup_funded(app, request)
    year = china_today().year - 1

    def make():
        programme = db.session.get(Programme, ctx["programme"])
        programme.year = year
        programme.milestones.append(Milestone(name="协商议事章程备案", kind=MilestoneKind.CHARTER,
                                              due_date=date(year, 6, 12)))
        programme.milestones.append(Milestone(name="总结与典型案例", kind=MilestoneKind.SUMMARY,
                                              due_date=date(year, 8, 30)))
        for site in db.session.scalars(sa.select(Site).where(Site.programme_id == programme.id)):
            site.selected_at = datetime.combine(date(year, 4, 15), time(12), tzinfo=CHINA)
        progress.ensure_site_milestones(programme)
        db.session.flush()
        site = db.session.get(Site, ctx["site"])
        ctx["month"] = f"{progress.report_months(site)[0]:%Y-%m}"
        ctx["item"] = db.session.scalar(sa.select(SiteMilestone.id).where(SiteMilestone.site_id == site.id)
                                        .order_by(SiteMilestone.id).limit(1))
    _commit(app, make)
    return ctx


def setup_scoring(app, request) -> dict:
    from app.scoring import operations
    from app.scoring.models import Assignment

    data = request.getfixturevalue("scoring")
    ctx = setup_places(app, request)
    ctx.update(programme=data.programme, applications=data.applications, criteria=data.criteria, veto=data.veto,
               evaluators=data.evaluators)

    def make():
        evaluator = db.session.get(User, data.evaluators[0])
        return operations.assign(db.session.get(Application, data.applications[1]), evaluator, None).id
    ctx["assignment"] = _commit(app, make)
    with app.app_context():
        ctx["max_points"] = {c.id: c.max_points for c in db.session.get(Assignment, ctx["assignment"])
                             .application.programme.criteria}
    return ctx


def setup_evaluator(app, request) -> dict:
    ctx = setup_scoring(app, request)
    with app.app_context():
        username = db.session.get(User, ctx["evaluators"][0]).username
    assert login(request.getfixturevalue("client"), username).status_code == 302
    return ctx


def reset_assignment(app, ctx, status: str = "draft") -> None:
    from app.scoring.models import Assignment, SheetStatus

    def reset():
        assignment = db.session.get(Assignment, ctx["assignment"])
        assignment.status = SheetStatus(status)
    _commit(app, reset)


def reset_application(status):
    def reset(app, ctx) -> None:
        def go():
            db.session.get(Application, ctx["application"]).status = status
        _commit(app, go)
        ctx["n"] += 1
    return reset


def count_up(app, ctx) -> None:
    ctx["n"] = ctx.get("n", 0) + 1


def rotate(*urls):
    """A url that changes from request to request (``count_up`` before each)."""
    return lambda ctx: urls[ctx.get("n", 0) % len(urls)].format(**ctx)


# --- verifications -------------------------------------------------------------------------------------------


@dataclass
class F:
    """A column that is a function of one field's value as sent (not stripped)."""

    field: str
    fn: Callable[[str], object]


def expect_one(table: str, keeps: bool = False, **columns):
    """Exactly one row changed in ``table``; each column equals the sent field stripped (or a function of sent).

    ``keeps``: the form is bound to the stored object, so a field left out of the request keeps its old value.
    """
    def verify(ctx, sent, before, after):
        rows = changed_rows(before, after, table)
        assert len(rows) == 1, rows
        check_columns(rows[0], sent, columns, before[table].get(rows[0]["id"]) if keeps else None)
    return verify


def check_columns(row: dict, sent: dict, columns: dict, old: dict | None = None) -> None:
    """Each column equals its field as sent, stripped; with ``old``, a field left out keeps its old value."""
    for column, expected in columns.items():
        name = expected.field if isinstance(expected, F) else expected
        if isinstance(name, str) and name not in sent and old is not None:
            # Left out: WTForms keeps the object's value for most fields, and empties some (money, checkboxes).
            try:
                want = {old[column], expected.fn("") if isinstance(expected, F) else ""}
            except (ValueError, TypeError, AttributeError):
                want = {old[column]}
        elif isinstance(expected, F):
            want = expected.fn(sent.get(expected.field, ""))
        elif callable(expected):
            want = expected(sent)
        else:
            want = _stripped(sent, expected)
        got = row[column]
        if isinstance(want, set):
            assert got in want, (column, got, want)
        else:
            assert got == want, (column, got, want)


def only_changes(*tables):
    """Nothing but ``tables`` may change (checked by the verifier that lists them)."""
    def verify(ctx, sent, before, after):
        for name in before:
            if name not in tables:
                assert before[name] == after[name], f"{name} changed"
    return verify


def both(*verifiers):
    def verify(ctx, sent, before, after):
        for check in verifiers:
            check(ctx, sent, before, after)
    return verify


def _text_of(value):
    return value.isoformat() if isinstance(value, date) else value


def rows_of(after: dict, table: str, **where) -> list[dict]:
    rows = [row for row in after[table].values() if all(row[k] == v for k, v in where.items())]
    return sorted(rows, key=lambda row: (row.get("sort_order", 0) or 0, row.get("sequence", 0) or 0, row["id"]))


def expect_rows(table: str, owner: tuple[str, str], prefix: str, names: tuple[str, ...], count: int,
                key: str, columns: tuple[str, ...] | None = None, blank_ignores: tuple[str, ...] = (),
                ordered: bool = True):
    """The rows stored for the owner equal the filled rows sent, stripped (in order unless ``ordered`` is off)."""
    columns = columns or names

    def verify(ctx, sent, before, after):
        owner_column, ctx_key = owner
        stored = [tuple(_text_of(row[c]) for c in columns)
                  for row in rows_of(after, table, **{owner_column: ctx[ctx_key]})]
        sent_rows = [{name: _stripped(sent, f"{prefix}-{i}-{name}") for name in names} for i in range(count)]
        filled = [row for row in sent_rows if any(v for n, v in row.items() if n not in blank_ignores)]
        assert all(row[key] for row in filled), filled
        expected = [tuple(row[n] for n in names) for row in filled]
        if not ordered:
            stored, expected = sorted(stored, key=repr), sorted(expected, key=repr)
        assert stored == expected, (stored, filled)
    return verify


# --- the forms -----------------------------------------------------------------------------------------------

TODAY = china_today()
PAST = (TODAY - timedelta(days=30)).isoformat()
FUTURE = (TODAY + timedelta(days=30)).isoformat()
AMOUNT = V("100", "1,000.50", "¥20", "0.01")
NAME_SEQ = st.integers(0, 10**9).map(lambda n: f"测试{n}")
STRONG, OTHER = "Hostile#2024x", "Other#2024y"


def _bool(sent: dict, name: str) -> bool:
    return name in sent and sent[name] not in ("", "false")


def _int_or(sent: dict, name: str, default=None):
    text = sent.get(name, "")
    if not text.strip():
        return default
    return int(text)


def _user_fields(ctx) -> dict:
    return {
        "display_name": TEXT, "email": V("lin@example.cn", ""),
        "role": V("bureau", "township", "community", "evaluator", "finance"),
        "township_id": V(str(ctx["anhai"]), "0"), "community_id": V(str(ctx["community"]), "0"),
        "evaluator_group": V("", "bureau", "expert"), "tied_township_id": V("0", str(ctx["cizao"])),
        "active": V("y", ""), "temporary_password": V(STRONG),
    }


def _programme_fields(ctx) -> dict:
    return {
        "name": TEXT, "year": st.integers(2000, 2100).map(str),
        "code": st.from_regex(r"[A-Z0-9]{2,12}", fullmatch=True),
        "kind": V("demonstration", "project", "other"), "quota": V("1", "10", "500"), "notice_reference": TEXT,
        "description": TEXT, "nomination_rule": V("fixed", "by_size"), "nomination_min": V("1", "0"),
        "nomination_max": V("2", ""), "size_threshold": V("15"), "min_small": V("1"), "min_large": V("2"),
    }


_PROGRAMME_TEXT = dict(name="name", notice_reference="notice_reference", description="description",
                       code=F("code", lambda v: v.strip().upper()))


def _rows_fields(prefix: str, count: int, fields: dict) -> dict:
    return {f"{prefix}-{i}-{name}": strategy for i in range(count) for name, strategy in fields.items()}


def _demonstration_fields(ctx) -> dict:
    fields = {name: V(value if isinstance(value, str) else value[0]) for name, value in DEMONSTRATION_FORM.items()}
    fields.update({name: st.one_of(TEXT, V(DEMONSTRATION_FORM[name])) for name in
                   ("contact_name", "participants", "venue_name", "procedure_topic", "self_governance",
                    "convenors-0-name", "convenors-1-unit_name", "think_tank-0-name", "think_tank-0-identity")})
    fields.update({"version": V(""), "convenors-2-name": V("", "蔡秀英"), "think_tank-1-name": TEXT,
                   "consultation_forms_other": TEXT})
    return fields


_DEMO_TEXT = ("contact_name", "contact_phone", "township_opinion", "participants", "venue_kind", "venue_name",
              "wechat_column", "consultation_forms_other", "procedure_topic", "procedure_consult",
              "procedure_follow_up", "self_governance")


def _verify_demonstration(ctx, sent, before, after):
    only_changes("applications", "application_convenors", "application_think_tank")(ctx, sent, before, after)
    row, old = after["applications"][ctx["application"]], before["applications"][ctx["application"]]
    check_columns(row, sent, {name: name for name in _DEMO_TEXT}, old)
    check_columns(row, sent, {"venue_area_m2": F("venue_area_m2", lambda v: int(v) if v.strip() else None)}, old)
    expect_rows("application_convenors", ("application_id", "application"), "convenors",
                ("unit_name", "name", "role"), 3, "name")(ctx, sent, before, after)
    expect_rows("application_think_tank", ("application_id", "application"), "think_tank",
                ("name", "identity"), 3, "name")(ctx, sent, before, after)


def _project_fields(ctx) -> dict:
    fields = {name: TEXT for name in ("contact_name", "project_name", "foundation", "goals", "measures", "schedule",
                                      "expected_results", "township_opinion")}
    fields.update({"contact_phone": V("0595-85612345", ""), "version": V(""),
                   "project_type_id": V(*[str(t) for t in ctx["types"]], "0")})
    fields.update(_rows_fields("budget_lines", 2, {"item": TEXT, "amount": AMOUNT, "note": V("", "说明")}))
    return fields


def _verify_project(ctx, sent, before, after):
    only_changes("applications", "application_budget_lines")(ctx, sent, before, after)
    row, old = after["applications"][ctx["application"]], before["applications"][ctx["application"]]
    check_columns(row, sent, {name: name for name in ("contact_name", "contact_phone", "project_name", "foundation",
                                                       "goals", "measures", "schedule", "expected_results",
                                                       "township_opinion")}, old)
    check_columns(row, sent, {"project_type_id": F("project_type_id", lambda v: int(v) or None)}, old)
    stored = [(r["item"], r["amount_fen"], r["note"])
              for r in rows_of(after, "application_budget_lines", application_id=ctx["application"])]
    rows = [(_stripped(sent, f"budget_lines-{i}-item"), _fen(sent.get(f"budget_lines-{i}-amount", "")),
             _stripped(sent, f"budget_lines-{i}-note")) for i in range(2)]
    assert stored == [r for r in rows if r[0] or r[1] is not None or r[2]], (stored, rows)


def _verify_tiers(ctx, sent, before, after):
    only_changes("funding_tiers", "funding_tier_amounts")(ctx, sent, before, after)
    tiers = rows_of(after, "funding_tiers", programme_id=ctx["programme"])
    stored = [(t["name"], sorted(a["amount_fen"] for a in after["funding_tier_amounts"].values()
                                 if a["tier_id"] == t["id"])) for t in tiers]
    expected = []
    for i in range(2):
        name = _stripped(sent, f"items-{i}-name")
        amounts = [_fen(sent.get(f"items-{i}-amount{n}", "")) for n in (1, 2)]
        if name or any(a is not None for a in amounts):
            expected.append((name, sorted(a for a in amounts if a)))
    assert stored == expected, (stored, expected)


def _verify_sheet(ctx, sent, before, after):
    only_changes("scores", "assignments")(ctx, sent, before, after)
    assignment = after["assignments"][ctx["assignment"]]
    assert assignment["comment"] == _stripped(sent, "comment")
    scores = {row["criterion_id"]: row["half_points"] for row in after["scores"].values()
              if row["assignment_id"] == ctx["assignment"]}
    for criterion in ctx["criteria"]:
        text = _stripped(sent, f"c{criterion}")
        assert scores.get(criterion) == (int(Decimal(text) * 2) if text else None), (criterion, scores, text)


def _spot_close_setup(app, request) -> dict:
    from app.tracking.models import SpotCheck

    ctx = setup_tracked(app, request)
    ctx["check"] = _commit(app, lambda: _add(SpotCheck(site_id=ctx["site"], checked_on=TODAY, inspectors="甲",
                                                       findings="台账不全", follow_up_required=True)))
    return ctx


def _reset_spot_check(app, ctx) -> None:
    from app.tracking.models import SpotCheck

    def go():
        check = db.session.get(SpotCheck, ctx["check"])
        check.closed_at, check.closed_note = None, ""
    _commit(app, go)


def _reversal_setup(app, request) -> dict:
    from app.funding import operations
    from app.funding.models import Site
    from app.programmes.models import FundingSource

    ctx = setup_funded(app, request)
    ctx["line"] = _commit(app, lambda: operations.disburse(
        db.session.get(Site, ctx["site"]), db.session.get(FundingSource, ctx["city"]), 10_000, entry_date=TODAY,
        voucher_no="REV-1", note="", override_reason="", user=None).id)
    return ctx


def _tranche_setup(app, request) -> dict:
    from app.funding.models import Tranche

    ctx = setup_funded(app, request)
    ctx["tranche"] = _commit(app, lambda: _add(Tranche(programme_id=ctx["programme"], sequence=2, name="第二批",
                                                       percent=40, condition="中期自评通过")))
    return ctx


def _scorecard_setup(app, request) -> dict:
    ctx = setup_places(app, request)
    ctx["year"] = 2031
    ctx["programme"] = request.getfixturevalue("make_programme")(year=2031)
    return ctx


def _ledger_catalogue(app) -> tuple[int, int]:
    from app.tracking.models import ConsultationMatter, ConsultationRule

    with app.app_context():
        matter = db.session.scalar(sa.select(ConsultationMatter.id).order_by(ConsultationMatter.sort_order).limit(1))
        rule = db.session.scalar(sa.select(ConsultationRule.id).where(ConsultationRule.kind == "must_not").limit(1))
        return matter, rule


def _ledger_setup(app, request) -> dict:
    ctx = setup_places(app, request)
    ctx["matter"], ctx["rule"] = _ledger_catalogue(app)
    return ctx


_RECORD_TEXT = ("topic", "unit_name", "parties", "place", "host", "recorder", "supervisor", "proceedings", "outcome",
                "follow_up")


def _record_fields(ctx) -> dict:
    fields = {name: TEXT for name in _RECORD_TEXT}
    fields.update({"matter_id": V(str(ctx["matter"])), "excluded_rule_id": V("0", str(ctx["rule"])),
                   "unit_level": V("estate", "grid", "building"), "held_at": V("2024-05-20T19:30", "2024-05-20 19:30"),
                   "mode": V("事务协调会"), "present": V("30"), "votes_for": V("21", "25"),
                   "votes_against": V("6", "0"),
                   "abstain": V("3", "0")})
    return fields


def _archive_setup(app, request) -> dict:
    ctx = setup_funded(app, request)
    _commit(app, lambda: setattr(db.session.get(Programme, ctx["programme"]), "year", TODAY.year - 1))
    return ctx


def _nominate_setup(app, request) -> dict:
    ctx = setup_programme()(app, request)
    ctx["communities"] = communities_of(app, ctx["anhai"], 3)
    return ctx


def _user_setup(app, request) -> dict:
    ctx = setup_places(app, request)
    ctx["edited"] = request.getfixturevalue("make_user")("township", username="edited_user")
    return ctx


def _login_setup(app, request) -> dict:
    request.getfixturevalue("make_user")("township", username="hostile_login")
    return {}


def _verify_user(ctx, sent, before, after):
    rows = changed_rows(before, after, "users")
    assert len(rows) == 1, rows
    check_columns(rows[0], sent, {"display_name": "display_name", "email": "email"},
                  before["users"].get(rows[0]["id"]))
    if "username" in sent:
        assert rows[0]["username"] == sent["username"].strip().lower()
    password = _stripped(sent, "temporary_password")
    if rows[0]["id"] not in before["users"] or password:  # a new account, or a new password: the one sent
        from werkzeug.security import check_password_hash

        assert password and check_password_hash(rows[0]["password_hash"], password), "saved without its password"


def _verify_password(field_name: str):
    def verify(ctx, sent, before, after):
        from werkzeug.security import check_password_hash

        rows = changed_rows(before, after, "users")
        assert len(rows) == 1, rows
        assert check_password_hash(rows[0]["password_hash"], sent[field_name].strip())
    return verify


def _report_keys() -> list[str]:
    from reports.shelf import REPORT_LIST

    return [report.key for report in REPORT_LIST]


def _shelf_urls():
    keys = _report_keys()
    return rotate(*[f"/reports/{key}" for key in keys], *[f"/reports/{key}.xlsx" for key in keys])


def _event_reason(ctx, sent, before, after):
    only_changes("applications", "application_events")(ctx, sent, before, after)
    events = changed_rows(before, after, "application_events")
    assert len(events) == 1 and events[0]["reason"] == _stripped(sent, "reason"), events
    assert after["applications"][ctx["application"]]["last_reason"] == _stripped(sent, "reason")


TARGETS = [
    Target("login", None, lambda ctx: "/login", lambda ctx: {"username": V("hostile_login", "nobody"),
                                                               "password": V("Wrong#Pass1")},
           tables=("user_sessions",), setup=_login_setup, examples=250),
    Target("change password", "bureau", lambda ctx: "/account/password",
           lambda ctx: {"current_password": V(DEMO_PASSWORD, STRONG, OTHER), "new_password": V(STRONG, OTHER),
                        "confirm": V(STRONG, OTHER)},
           tables=("users",), verify=_verify_password("new_password"), examples=150),
    Target("preferences", "bureau", lambda ctx: "/account/preferences",
           lambda ctx: {"locale": V("zh_Hans_CN", "en")}, tables=("users",),
           verify=expect_one("users", locale="locale"), examples=150),
    Target("account creation", "admin", lambda ctx: "/admin/users/new",
           lambda ctx: {"username": st.from_regex(r"[a-z0-9_.-]{2,40}", fullmatch=True), **_user_fields(ctx)},
           tables=("users",), verify=_verify_user, setup=setup_places),
    Target("account edit", "admin", lambda ctx: f"/admin/users/{ctx['edited']}",
           lambda ctx: {**_user_fields(ctx), "temporary_password": V("", STRONG)}, tables=("users",),
           verify=_verify_user, setup=_user_setup),
    Target("password reset", "admin", lambda ctx: f"/admin/users/{ctx['edited']}/reset-password",
           lambda ctx: {"temporary_password": V(STRONG)}, tables=("users",),
           verify=_verify_password("temporary_password"), setup=_user_setup, examples=120),
    Target("community create", "bureau", lambda ctx: "/places/communities/new",
           lambda ctx: {"township_id": V(str(ctx["anhai"]), str(ctx["cizao"])), "name": NAME_SEQ,
                        "kind": V("village", "community"), "active": V("y", "")},
           tables=("communities",), verify=expect_one("communities", name="name"), setup=setup_places, examples=150),
    Target("community edit", "bureau", lambda ctx: f"/places/communities/{ctx['edited']}/edit",
           lambda ctx: {"name": NAME_SEQ, "kind": V("village", "community"), "active": V("y", "")},
           tables=("communities",),
           verify=expect_one("communities", keeps=True, name="name", active=lambda sent: _bool(sent, "active")),
           setup=setup_community),
    Target("programme create", "bureau", lambda ctx: "/programmes/new", _programme_fields, tables=("programmes",),
           verify=expect_one("programmes", **_PROGRAMME_TEXT)),
    Target("programme edit", "bureau", lambda ctx: f"/programmes/{ctx['programme']}/edit", _programme_fields,
           tables=("programmes",), verify=expect_one("programmes", keeps=True, **_PROGRAMME_TEXT),
           setup=setup_programme()),
    Target("programme from template", "bureau", lambda ctx: "/programmes/new/from-template",
           lambda ctx: {"template": V("demonstration", "governance_project", "pilot_by_size"),
                        "year": st.integers(2000, 2100).map(str)},
           tables=("programmes",), verify=lambda ctx, sent, before, after: None, examples=80),
    Target("programme status", "bureau", lambda ctx: f"/programmes/{ctx['programme']}/status",
           lambda ctx: {"status": V("open", "closed", "draft", "evaluating")}, tables=("programmes",),
           verify=expect_one("programmes", status=F("status", lambda v: {v.strip()})),
           setup=setup_programme(status=ProgrammeStatus.DRAFT), examples=120),
    Target("milestone rows", "bureau", lambda ctx: f"/programmes/{ctx['programme']}/milestones",
           lambda ctx: _rows_fields("items", 3, {"name": TEXT, "kind": V("nomination", "charter", "summary"),
                                                 "due_date": V(FUTURE, "2031-05-01"),
                                                 "submitter": V("township", "bureau"), "documents": TEXT}),
           tables=("milestones",),
           verify=expect_rows("milestones", ("programme_id", "programme"), "items", ("name", "due_date", "documents"),
                              3, "name", columns=("name", "due_date", "documents"), ordered=False),
           setup=setup_programme(status=ProgrammeStatus.DRAFT)),
    Target("tier rows", "bureau", lambda ctx: f"/programmes/{ctx['programme']}/tiers",
           lambda ctx: _rows_fields("items", 2, {"name": TEXT, "source1": V(str(ctx["city"])), "amount1": AMOUNT,
                                                 "source2": V(str(ctx["prefecture"]), "0"), "amount2": V("", "5000")}),
           tables=("funding_tiers", "funding_tier_amounts"), verify=_verify_tiers, setup=setup_funded, examples=100),
    Target("project type rows", "bureau", lambda ctx: f"/programmes/{ctx['programme']}/types",
           lambda ctx: _rows_fields("items", 2, {"name": TEXT, "description": TEXT}), tables=("project_types",),
           verify=expect_rows("project_types", ("programme_id", "programme"), "items", ("name", "description"), 2,
                              "name"),
           setup=setup_programme("project", status=ProgrammeStatus.DRAFT)),
    Target("deadline extension", "bureau", lambda ctx: f"/programmes/{ctx['programme']}/extensions",
           lambda ctx: {"township_id": V(str(ctx["anhai"]), str(ctx["cizao"])), "due_date": V(FUTURE),
                        "reason": TEXT},
           tables=("deadline_extensions",), verify=expect_one("deadline_extensions", reason="reason"),
           setup=setup_programme()),
    Target("nomination", "township", lambda ctx: f"/applications/nominate/{ctx['programme']}",
           lambda ctx: {"community_id": V(*[str(c) for c in ctx["communities"]])}, tables=("applications",),
           verify=expect_one("applications", community_id=F("community_id", int)),
           setup=_nominate_setup, examples=120),
    Target("application edit (demonstration)", "township", lambda ctx: f"/applications/{ctx['application']}/edit",
           _demonstration_fields, fixed=lambda ctx: {"save": "y"},
           tables=("applications", "application_convenors", "application_think_tank"), verify=_verify_demonstration,
           setup=setup_application()),
    Target("application edit (project)", "township", lambda ctx: f"/applications/{ctx['application']}/edit",
           _project_fields, fixed=lambda ctx: {"save": "y"}, tables=("applications", "application_budget_lines"),
           verify=_verify_project, setup=setup_application("project")),
    Target("attachment description", "township", lambda ctx: f"/applications/{ctx['application']}/attachments",
           lambda ctx: {"description": TEXT}, files=lambda ctx: {"file": (make_pdf(), "说明.pdf")},
           tables=("application_attachments",),
           verify=expect_one("application_attachments", description="description"), setup=setup_application(),
           examples=60),
    Target("return and reject reason", "bureau",
           rotate("/applications/{application}/return", "/applications/{application}/reject"),
           lambda ctx: {"reason": TEXT, "resubmit_due": V("", FUTURE)}, tables=("applications", "application_events"),
           verify=_event_reason, setup=setup_application(status=ApplicationStatus.SUBMITTED),
           before_each=reset_application(ApplicationStatus.SUBMITTED)),
    Target("criteria rows", "bureau", lambda ctx: f"/scoring/programmes/{ctx['programme']}/criteria",
           lambda ctx: {**_rows_fields("items", 2, {"group_name": V("A", "B"), "name": TEXT,
                                                    "kind": V("base", "bonus"), "max_points": V("50", "100", "5"),
                                                    "guidance": TEXT}),
                        "vetoes-0-text": TEXT},
           tables=("criteria", "veto_conditions"),
           verify=both(expect_rows("criteria", ("programme_id", "programme"), "items", ("group_name", "name",
                                                                                          "guidance"), 2, "name"),
                       expect_rows("veto_conditions", ("programme_id", "programme"), "vetoes", ("text",), 1, "text")),
           setup=setup_programme(status=ProgrammeStatus.EVALUATING)),
    Target("scoring settings", "bureau", lambda ctx: f"/scoring/programmes/{ctx['programme']}/criteria",
           lambda ctx: {"use_trimmed_mean": V("y", ""), "weight_bureau": V("40", ""), "weight_finance": V("30", ""),
                        "weight_expert": V("30", ""), "scoring_due": V("", FUTURE), "publicity_days": V("5", "0")},
           tables=("programmes",),
           verify=expect_one("programmes", publicity_days=F("publicity_days", int)),
           setup=setup_programme(status=ProgrammeStatus.EVALUATING), examples=120),
    Target("scoring sheet", None, lambda ctx: f"/scoring/sheets/{ctx['assignment']}",
           lambda ctx: {**{f"c{c}": V("0", "8", "8.5", str(m)) for c, m in ctx["max_points"].items()},
                        "veto_ids": V(str(ctx["veto"]), ""), "comment": TEXT, "version": V("")},
           fixed=lambda ctx: {"save": "y"}, tables=("scores", "assignments"), verify=_verify_sheet,
           setup=setup_evaluator, before_each=reset_assignment),
    Target("sheet reopen reason", "bureau", lambda ctx: f"/scoring/assignments/{ctx['assignment']}/reopen",
           lambda ctx: {"reason": TEXT}, tables=("assignments",),
           verify=expect_one("assignments", reopen_reason="reason"), setup=setup_scoring,
           before_each=lambda app, ctx: reset_assignment(app, ctx, "submitted"), examples=120),
    Target("selection forms", "bureau",
           rotate("/scoring/programmes/{programme}/ties", "/scoring/programmes/{programme}/selection/swap",
                  "/scoring/programmes/{programme}/selection/add",
                  "/scoring/programmes/{programme}/selection/objections",
                  "/scoring/programmes/{programme}/selection/tier"),
           lambda ctx: {"application_id": V(*[str(a) for a in ctx["applications"]]), "priority": V("1", "2"),
                        "reason": TEXT, "out_id": V(str(ctx["applications"][0])),
                        "in_id": V(str(ctx["applications"][2])), "received_at": V(PAST), "raised_by": TEXT,
                        "content": TEXT, "tier_id": V("1")},
           tables=("tie_decisions", "selections", "selection_entries", "objections"),
           verify=lambda ctx, sent, before, after: expect_one("tie_decisions", reason="reason")(
               ctx, sent, before, after),
           setup=setup_scoring, before_each=count_up),
    Target("scoring assignment", "bureau", lambda ctx: f"/scoring/programmes/{ctx['programme']}/assign",
           lambda ctx: {"applications": V(*[str(a) for a in ctx["applications"]]),
                        "evaluators": V(*[str(e) for e in ctx["evaluators"]])},
           tables=("assignments",), verify=lambda ctx, sent, before, after: None, setup=setup_scoring, examples=100),
    Target("disbursement", "finance", lambda ctx: f"/funding/sites/{ctx['site']}/disbursements",
           lambda ctx: {"source_id": V(str(ctx["city"]), str(ctx["prefecture"])), "amount": AMOUNT,
                        "entry_date": V(TODAY.isoformat()), "voucher_no": st.from_regex(r"V[0-9]{1,9}", fullmatch=True),
                        "note": TEXT, "override_reason": V("", "超额理由")},
           tables=("disbursements",),
           verify=expect_one("disbursements", voucher_no="voucher_no", note="note",
                             amount_fen=F("amount", _fen),
                             override_reason=lambda sent: {_stripped(sent, "override_reason"), ""}),
           setup=setup_funded),
    Target("disbursement reversal", "finance", lambda ctx: f"/funding/disbursements/{ctx['line']}/reverse",
           lambda ctx: {"entry_date": V(TODAY.isoformat()), "reason": TEXT}, tables=("disbursements",),
           verify=expect_one("disbursements", note=lambda sent: "冲销：" + _stripped(sent, "reason")),
           setup=_reversal_setup, examples=120),
    Target("spending", "township", lambda ctx: f"/funding/sites/{ctx['site']}/spending",
           lambda ctx: {"source_id": V(str(ctx["city"])), "entry_date": V(TODAY.isoformat(), PAST), "item": TEXT,
                        "category": V("设施设备", "其他"), "amount": AMOUNT, "payee": TEXT, "note": TEXT},
           tables=("spending_lines",),
           verify=expect_one("spending_lines", item="item", payee="payee", note="note", category="category",
                             amount_fen=F("amount", _fen)),
           setup=setup_funded),
    Target("allocation", "finance", lambda ctx: f"/funding/sites/{ctx['site']}/allocations",
           lambda ctx: {"source_id": V(str(ctx["city"]), str(ctx["matching"])), "direction": V("add", "reduce"),
                        "amount": AMOUNT, "entry_date": V(TODAY.isoformat()), "reason": TEXT},
           tables=("allocations",),
           verify=expect_one("allocations", reason="reason", amount_fen=lambda sent: _fen(sent["amount"]) * (
               -1 if sent.get("direction", "").strip() == "reduce" else 1)),
           setup=setup_funded),
    Target("tranche rows", "finance", lambda ctx: f"/funding/programmes/{ctx['programme']}/tranches",
           lambda ctx: _rows_fields("items", 2, {"name": TEXT, "percent": V("50", "100", "30"), "condition": TEXT}),
           tables=("tranches",),
           verify=expect_rows("tranches", ("programme_id", "programme"), "items", ("name", "condition"), 2, "name",
                              blank_ignores=()),
           setup=setup_funded),
    Target("tranche release", "bureau", lambda ctx: f"/funding/sites/{ctx['site']}/release",
           lambda ctx: {"tranche_id": V(str(ctx["tranche"])), "note": TEXT}, tables=("tranche_releases",),
           verify=expect_one("tranche_releases", note="note"), setup=_tranche_setup, examples=120),
    Target("batch payment", "finance", lambda ctx: f"/funding/programmes/{ctx['programme']}/batch",
           lambda ctx: {"source_id": V(str(ctx["city"])), "entry_date": V(TODAY.isoformat()),
                        "voucher_prefix": st.from_regex(r"B[0-9]{1,6}", fullmatch=True), "note": TEXT},
           fixed=lambda ctx: {"confirm": "1"}, tables=("disbursements",),
           verify=lambda ctx, sent, before, after: [
               check_columns(row, sent, {"note": "note"}) for row in changed_rows(before, after, "disbursements")],
           setup=setup_funded, examples=100),
    Target("period sign-off", "finance", lambda ctx: "/funding/periods",
           lambda ctx: {"label": st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(2000, 2100), st.integers(1, 12)),
                        "note": TEXT},
           tables=("period_sign_offs",),
           verify=expect_one("period_sign_offs", note="note", label=F("label", lambda v: v.strip().upper()))),
    Target("monthly report", "township", lambda ctx: f"/progress/sites/{ctx['site']}/reports/{ctx['month']}",
           lambda ctx: {"work_done": TEXT, "consultations_held": V("3", ""), "problems": TEXT, "next_plan": TEXT,
                        "spent_this_month": V("100", "0", ""), "photo_caption": TEXT, "version": V("")},
           fixed=lambda ctx: {"save": "y"}, tables=("monthly_reports",),
           verify=expect_one("monthly_reports", work_done="work_done", problems="problems", next_plan="next_plan",
                             spent_this_month_fen=F("spent_this_month", lambda v: _fen(v) or 0),
                             consultations_held=lambda sent: _int_or(sent, "consultations_held", 0)),
           setup=setup_tracked),
    Target("milestone form", "township", lambda ctx: f"/progress/milestones/{ctx['item']}",
           lambda ctx: {"content": TEXT, "meeting_date": V("", PAST), "meeting_result": TEXT,
                        "township_approved_on": V("", PAST), "filed_on": V(""), "system_entered_on": V(""),
                        "document_description": TEXT, "version": V("")},
           fixed=lambda ctx: {"save": "y"}, tables=("site_milestones",),
           verify=expect_one("site_milestones", content="content", meeting_result="meeting_result"),
           setup=setup_tracked),
    Target("spot check", "bureau", lambda ctx: f"/progress/sites/{ctx['site']}/spot-checks",
           lambda ctx: {"checked_on": V(TODAY.isoformat(), PAST), "inspectors": TEXT, "findings": TEXT,
                        "follow_up_required": V("y", ""), "follow_up": TEXT},
           tables=("spot_checks",),
           verify=expect_one("spot_checks", inspectors="inspectors", findings="findings", follow_up="follow_up"),
           setup=setup_tracked),
    Target("spot check close", "bureau", lambda ctx: f"/progress/spot-checks/{ctx['check']}/close",
           lambda ctx: {"note": TEXT}, tables=("spot_checks",), verify=expect_one("spot_checks", closed_note="note"),
           setup=_spot_close_setup, before_each=_reset_spot_check, examples=120),
    Target("progress notice", "bureau", lambda ctx: f"/progress/programmes/{ctx['programme']}/notices",
           lambda ctx: {"township_id": V(str(ctx["anhai"])), "title": TEXT, "content": TEXT},
           tables=("progress_notices",), verify=expect_one("progress_notices", title="title", content="content"),
           setup=setup_tracked),
    Target("archive upload", "township", lambda ctx: f"/archive/sites/{ctx['site']}/items",
           lambda ctx: {"kind": V("meetings", "plan"), "title": TEXT, "item_date": V(TODAY.isoformat()),
                        "description": TEXT},
           files=lambda ctx: {"file": (make_pdf(), "材料.pdf")}, tables=("archive_items",),
           verify=expect_one("archive_items", title="title", description="description"), setup=_archive_setup),
    Target("consultation record", "community", lambda ctx: f"/ledger/communities/{ctx['community']}/records/new",
           _record_fields, tables=("consultation_records",),
           verify=expect_one("consultation_records", form="mode", **{name: name for name in _RECORD_TEXT}),
           setup=_ledger_setup),
    Target("representative meeting", "community", lambda ctx: f"/ledger/communities/{ctx['community']}/meetings/new",
           lambda ctx: {"held_on": V("2024-03-01"), "topic": TEXT, "representatives_total": V("45"),
                        "present": V("40"), "votes_for": V("38"), "votes_against": V("1"), "abstain": V("1"),
                        "decision": TEXT},
           files=lambda ctx: {"sign_in": (make_pdf(), "签到表.pdf"), "minutes": (make_png(), "记录.png"),
                              "vote_sheet": (make_jpeg(), "表决.jpg")},
           tables=("representative_meetings",),
           verify=expect_one("representative_meetings", topic="topic", decision="decision"), setup=setup_places),
    Target("scorecard decision", "bureau", lambda ctx: f"/scorecard/{ctx['anhai']}/{ctx['year']}",
           lambda ctx: {"suggestion": V("0", ""), "action": V("accept", "override"), "change": V("-1", "0", "1"),
                        "reason": TEXT},
           tables=("scorecard_decisions",),
           verify=expect_one("scorecard_decisions", reason=lambda sent: {_stripped(sent, "reason"), ""}),
           setup=_scorecard_setup),
    # --- filters in the query string ---
    Target("report shelf filters", "bureau", _shelf_urls(),
           lambda ctx: {"programme": V(str(ctx["programme"]), ""), "year": V("2031", ""),
                        "township": V(str(ctx["anhai"]), "0", ""), "start": V("2024-01", "2024-01-01", ""),
                        "end": V("2024-12", "2024-12-31", "")},
           method="GET", setup=setup_funded, before_each=count_up, examples=150),
    Target("audit log filters", "auditor", rotate("/audit/", "/audit/export.xlsx"),
           lambda ctx: {"date_from": V("2024-01-01", ""), "date_to": V("2030-12-31", ""), "actor": TEXT,
                        "action": V("", "login", "update"), "object_type": V("", "Application"), "object_id": TEXT},
           method="GET", before_each=count_up, examples=120),
    Target("application list filters", "bureau", rotate("/applications/", "/applications/export.xlsx"),
           lambda ctx: {"programme": V(str(ctx["programme"]), "0"), "township": V(str(ctx["anhai"]), "0"),
                        "status": V("", "draft"), "q": TEXT},
           method="GET", setup=setup_application(), before_each=count_up, examples=100),
    Target("calendar month", "bureau", lambda ctx: "/calendar/", lambda ctx: {"month": V("2024-05", "")},
           method="GET", examples=250),
    Target("values in the path", "bureau",
           rotate("/programmes/{path}", "/applications/{path}", "/progress/sites/{site}/reports/{path}",
                  "/reports/{path}", "/reports/{path}.xlsx", "/calendar/{path}.ics", "/scorecard/{anhai}/{path}",
                  "/ledger/communities/{path}", "/funding/sites/{path}", "/archive/sites/{site}?kind={path}"),
           lambda ctx: {"path": V("1", str(ctx["site"]), "2024-05", "ledger")},
           method="GET", setup=setup_tracked, before_each=count_up, examples=150),
    Target("list filters", "bureau",
           rotate("/places/communities", "/ledger/", "/scorecard/", "/programmes/{programme}/overview"),
           lambda ctx: {"township": V(str(ctx["anhai"]), ""), "kind": V("village", ""), "q": TEXT,
                        "kept": V("1", ""), "year": V("2031", ""), "state": V("late", "")},
           method="GET", setup=setup_programme(), before_each=count_up, examples=150),
]


@pytest.mark.parametrize("target", TARGETS, ids=[target.name for target in TARGETS])
def test_hostile_values_never_break_a_form(request, app, client, target):
    run_target(request, app, client, target)


def test_the_suite_sent_enough_hostile_input(app):
    """At least 10,000 requests over the two databases, every target run in full, more hostile values than
    requests."""
    database = _database(app)
    done = {name for (kind, name) in REQUESTS if kind == database}
    made = sum(count for (kind, _name), count in REQUESTS.items() if kind == database)
    saved = sum(count for (kind, _name), count in SAVED.items() if kind == database)
    print(f"{database}: {made} requests over {len(done)} forms and filters, {FIELD_VALUES[database]} hostile values, "
          f"{saved} saves checked field by field")
    for name in done:
        target = next(t for t in TARGETS if t.name == name)
        assert REQUESTS[(database, name)] >= examples(target, database), name
    if done == {target.name for target in TARGETS}:
        assert FIELD_VALUES[database] >= made, (FIELD_VALUES[database], made)  # more than one per request
        assert sum(examples(target, kind) for target in TARGETS for kind in SCALE) >= 10_000


# --- what the runs above found, kept as plain examples ---------------------------------------------------------


def _client_as(app, make_user, role, **fields):
    client = app.test_client()
    user_id = make_user(role, **fields)
    with app.app_context():
        username = db.session.get(User, user_id).username
    assert login(client, username).status_code == 302
    return client


def _count(app, table: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(_table(table)))


def test_the_inputs_that_once_answered_500(request, app, make_user, places):
    """Each of these failed inside the app before it was fixed; now each is refused with a message or a 4xx."""
    bureau = _client_as(app, make_user, "bureau")
    huge = "9" * 20
    # Ids past any integer column, in a path (404), a filter or a page number (ignored), a form's choice (refused).
    for url, status in [(f"/programmes/{huge}", 404), ("/programmes/" + "9" * 5000, 404),
                        (f"/places/communities?township={huge}&page={huge}", 200), (f"/ledger/?township={huge}", 200),
                        (f"/applications/?township={huge}&programme={huge}", 200),
                        (f"/applications/export.xlsx?township={huge}", 200)]:
        assert bureau.get(url).status_code == status, url
    # An integer past 1e308 in an IntegerField with a range; NUL in any field (PostgreSQL text cannot hold it).
    programmes = _count(app, "programmes")
    page = bureau.post("/programmes/new", data={"name": "x", "year": "1" + "0" * 400, "code": "AB", "kind": "other",
                                                "quota": "1", "nomination_rule": "fixed"})
    assert page.status_code == 200 and _count(app, "programmes") == programmes
    communities = _count(app, "communities")
    page = bureau.post("/places/communities/new", data={"township_id": places.anhai, "name": "村\x00名",
                                                        "kind": "village"})
    assert page.status_code == 200 and "提交的内容无法处理" in page.get_data(as_text=True)
    assert _count(app, "communities") == communities
    for url in ("/places/communities?q=%00", "/ledger/?q=a%00b", "/applications/?q=%00", "/audit/?actor=%00"):
        assert (bureau if "audit" not in url else _client_as(app, make_user, "auditor")).get(url).status_code == 200
    # A version number that isdigit() but int() refuses.
    ctx = setup_application()(app, request)
    township = _client_as(app, make_user, "township")
    stored = snapshot(app, ("applications",))
    # A new account without its initial password (the field left out, or blanks).
    admin = _client_as(app, make_user, "admin")
    users = _count(app, "users")
    for extra in ({}, {"temporary_password": ""}, {"temporary_password": "   "}):
        page = admin.post("/admin/users/new", data={"username": "nopassword", "role": "bureau", "township_id": "0",
                                                    "community_id": "0", "tied_township_id": "0", **extra})
        assert page.status_code == 200 and "新建账户需要设置初始密码" in page.get_data(as_text=True)
    assert _count(app, "users") == users
    for version in ("²", "9" * 5000):
        page = township.post(f"/applications/{ctx['application']}/edit",
                             data={"version": version, "save": "y", "contact_name": "新联系人"})
        assert page.status_code == 200
    assert snapshot(app, ("applications",)) == stored
    # A tie decision without the application's field.
    before = _count(app, "tie_decisions")
    bureau.post(f"/scoring/programmes/{ctx['programme']}/ties", data={"priority": "1", "reason": "x"})
    assert _count(app, "tie_decisions") == before
    # An amount too large for the decimal context, and an amount of blanks that passed "entered".
    money = setup_funded(app, request)
    finance = _client_as(app, make_user, "finance")
    allocations = _count(app, "allocations")
    for amount in ("1e999999", "   "):
        finance.post(f"/funding/sites/{money['site']}/allocations", data={
            "source_id": money["city"], "direction": "add", "amount": amount, "entry_date": TODAY.isoformat(),
            "reason": "x"})
    assert _count(app, "allocations") == allocations
    # A source that is no source, for a batch payment; a consultation before year 1 in UTC.
    disbursements = _count(app, "disbursements")
    finance.post(f"/funding/programmes/{money['programme']}/batch", data={
        "source_id": "-1", "entry_date": TODAY.isoformat(), "voucher_prefix": "B", "confirm": "1"})
    assert _count(app, "disbursements") == disbursements
    keeper = _client_as(app, make_user, "community")
    matter, _rule = _ledger_catalogue(app)
    page = keeper.post(f"/ledger/communities/{places.anhai_community}/records/new", data={
        "topic": "x", "matter_id": matter, "held_at": "0001-01-01T00:00", "present": "1", "votes_for": "1"})
    assert page.status_code == 200 and _count(app, "consultation_records") == 0
    # The first and the last day there is, as audit filters; a year in superscript digits on the shelf.
    auditor = _client_as(app, make_user, "auditor")
    assert auditor.get("/audit/?date_from=0001-01-01&date_to=9999-12-31").status_code == 200
    assert auditor.get("/audit/export.xlsx?date_from=0001-01-02&date_to=9999-12-30").status_code == 200
    page = bureau.get("/reports/applications?year=%C2%B2").get_data(as_text=True)
    assert "年度应为 2000 至 2100 之间的四位数字" in page


# --- spreadsheets ------------------------------------------------------------------------------------------

FORMULAS = ("=HYPERLINK(\"http://evil.example\",\"点击\")", "+1+1", "-2+3*7", "@SUM(A1:A2)")


def _cells(content: bytes) -> list:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def _assert_text_not_formula(content: bytes, expected: tuple[str, ...]) -> None:
    cells = _cells(content)
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"], "a formula in an export"
    for payload in expected:
        holding = [cell for cell in cells if isinstance(cell.value, str) and payload in cell.value]
        assert holding, f"{payload!r} is not in the export"
        for cell in holding:
            assert cell.data_type == "s", (cell.coordinate, cell.data_type)
            if cell.value.lstrip("'").startswith(payload):
                assert cell.value == "'" + cell.value[1:] and cell.value.startswith("'" + payload[0]), cell.value


def test_spreadsheet_exports_write_formula_like_text_as_text(app, make_user, make_programme, places):
    """Formula-like text typed into forms (a community's name, an application's contact, a consultation's topic)
    comes out of the audit log export, the applications export and the shelf's reports as text, never a formula."""
    bureau = _client_as(app, make_user, "bureau")
    name, contact, topic, unit = FORMULAS
    assert bureau.post("/places/communities/new", data={"township_id": places.anhai, "name": name,
                                                        "kind": "community", "active": "y"}).status_code == 302
    with app.app_context():
        community = db.session.scalar(sa.select(Community.id).where(Community.name == name))
    programme = make_programme()
    application = _commit(app, lambda: _add(Application(programme_id=programme, township_id=places.anhai,
                                                         community_id=community, sequence=1, reference="XLSX-1")))
    township = _client_as(app, make_user, "township")
    assert township.post(f"/applications/{application}/edit",
                         data={**DEMONSTRATION_FORM, "contact_name": contact, "save": "y"}).status_code == 302
    matter, _rule = _ledger_catalogue(app)
    keeper = _client_as(app, make_user, "community", community_id=community)
    record = {"topic": topic, "matter_id": matter, "excluded_rule_id": "0", "unit_level": "estate", "unit_name": unit,
              "parties": "居民代表", "held_at": "2024-05-20T19:30", "place": "议事厅", "mode": "事务协调会",
              "host": "吴建国", "recorder": "蔡秀英", "supervisor": "许文华", "proceedings": "逐条协商",
              "present": "30", "votes_for": "21", "votes_against": "6", "abstain": "3", "outcome": "通过"}
    assert keeper.post(f"/ledger/communities/{community}/records/new", data=record).status_code == 302

    exports = [
        (bureau, "/applications/export.xlsx", (name, contact)),
        (bureau, f"/reports/applications.xlsx?programme={programme}", (name, contact)),
        (bureau, "/reports/ledger.xlsx?year=2024", (name, topic, unit)),
        (_client_as(app, make_user, "auditor"), "/audit/export.xlsx", (name, contact, topic)),
    ]
    for client, url, expected in exports:
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype.endswith("sheet"), (url, response.status_code)
        _assert_text_not_formula(response.data, expected)

"""Concurrency through a real gunicorn with several workers, on SQLite and on PostgreSQL.

- 50 identical nominations at once make one application; nobody gets a 500.
- Two people saving the same draft from the same version: one is saved, the other is told (409), nothing is
  overwritten silently.
- 100 payments of ¥15 at once against ¥1,000 allocated: exactly 66 are paid (¥990), the rest are refused as
  exceeding what is payable; nobody gets a 500.
- 8 of each export at once, and 24 refused (GET requests that write their audit row): nobody gets a 500, each
  export and refusal is audited.
- 6 tabs each of six users opening the calendar feed page for the first time at once: each user ends with one
  token, and every tab shows that token's link, which works.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import sqlalchemy as sa

from app.accounts.models import User
from app.applications.models import Application
from app.audit.models import AuditAction, AuditLog
from app.database import china_today
from app.extensions import db
from app.funding.models import Disbursement
from tests.concurrency.conftest import ALLOCATION_FEN, Client, Deployment, Response, form_value
from tests.conftest import DEMONSTRATION_FORM


def logged_in(deployment: Deployment, username: str, count: int) -> list[Client]:
    """``count`` browsers logged in as ``username``, each with its own session (logging in in parallel too)."""
    with ThreadPoolExecutor(max_workers=min(count, 16)) as pool:
        return list(pool.map(lambda _: deployment.client().login(username), range(count)))


def all_at_once(jobs: list) -> list[Response]:
    """Runs every job in its own thread; they wait at a barrier and then fire together."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait(timeout=60)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def no_server_errors(deployment: Deployment, responses: list[Response]) -> None:
    statuses = sorted({r.status for r in responses})
    assert all(r.status < 500 for r in responses), f"{statuses}\n{deployment.log_text()[-3000:]}"
    assert "Traceback" not in deployment.log_text(), deployment.log_text()[-3000:]


def test_fifty_identical_nominations_make_one(deployment: Deployment):
    scenario = deployment.scenario
    path = f"/applications/nominate/{scenario.programme}"
    clients = logged_in(deployment, "anhai", 50)
    # Every browser has the form open (with its own CSRF token) and the same community chosen.
    forms = [{"csrf_token": client.csrf(path), "community_id": str(scenario.community)} for client in clients]

    responses = all_at_once([lambda c=c, f=f: c.post(path, f) for c, f in zip(clients, forms, strict=True)])

    no_server_errors(deployment, responses)
    with deployment.app.app_context():
        made = db.session.scalars(sa.select(Application).where(
            Application.programme_id == scenario.programme, Application.community_id == scenario.community)).all()
        assert len(made) == 1, [(a.id, a.reference) for a in made]
        made_id = made[0].id
    created = [r for r in responses if r.status == 302]
    assert len(created) == 1, sorted(r.status for r in responses)
    assert created[0].location.endswith(f"/applications/{made_id}/edit")
    for refused in (r for r in responses if r.status != 302):
        # Refused by the duplicate check (or the unique index) or, once the first is committed, by the form
        # itself, which no longer offers a community already nominated.
        assert refused.status == 200
        assert "已在本项目中推荐过" in refused.text or "尚未推荐的村(社区)" in refused.text, refused.text[:500]


def test_two_editors_the_second_is_told(deployment: Deployment):
    scenario = deployment.scenario
    path = f"/applications/{scenario.draft}/edit"
    first, second = logged_in(deployment, "anhai", 2)
    # The draft is filled in once, so the race below changes only the contact name.
    page = first.get(path).text
    saved = first.post(path, {**DEMONSTRATION_FORM, "csrf_token": form_value(page, "csrf_token"),
                              "version": form_value(page, "version"), "save": "保存草稿"})
    assert saved.status == 302, saved.text[:500]

    pages = [first.get(path).text, second.get(path).text]
    versions = [form_value(page, "version") for page in pages]
    assert versions[0] == versions[1]
    names = ["张一", "李二"]

    def save(client: Client, page: str, name: str):
        return lambda: client.post(path, {**DEMONSTRATION_FORM, "contact_name": name, "save": "保存草稿",
                                          "csrf_token": form_value(page, "csrf_token"),
                                          "version": form_value(page, "version")})

    responses = all_at_once([save(first, pages[0], names[0]), save(second, pages[1], names[1])])

    no_server_errors(deployment, responses)
    statuses = sorted(r.status for r in responses)
    assert statuses == [302, 409], statuses
    winner = next(i for i, r in enumerate(responses) if r.status == 302)
    loser = responses[1 - winner]
    assert "已被他人修改" in loser.text
    with deployment.app.app_context():
        stored = db.session.get(Application, scenario.draft)
        assert stored.contact_name == names[winner]
        assert stored.version == int(versions[0]) + 1
    # The one who was told sees the winner's value after reloading, with the new version.
    reloaded = [first, second][1 - winner].get(path).text
    assert form_value(reloaded, "contact_name") == names[winner]
    assert form_value(reloaded, "version") == str(int(versions[0]) + 1)


def test_hundred_payments_never_exceed_the_allocation(deployment: Deployment):
    scenario = deployment.scenario
    site_path = f"/funding/sites/{scenario.site}"
    path = f"{site_path}/disbursements"
    clients = logged_in(deployment, "finance", 100)
    today: date = china_today()
    forms = [
        {"csrf_token": client.csrf(site_path), "source_id": str(scenario.source), "amount": "15",
         "entry_date": today.isoformat(), "voucher_no": f"CONC-{number:03d}", "note": "并发测试"}
        for number, client in enumerate(clients)
    ]

    responses = all_at_once([lambda c=c, f=f: c.post(path, f) for c, f in zip(clients, forms, strict=True)])

    no_server_errors(deployment, responses)
    # A payment goes back to the site page (302); a refusal shows the form again, as it was typed (200).
    assert all((r.status == 302 and r.location.endswith(f"{site_path}#disbursements")) or r.status == 200
               for r in responses), sorted({(r.status, r.location) for r in responses})
    with deployment.app.app_context():
        lines = db.session.scalars(sa.select(Disbursement).where(Disbursement.site_id == scenario.site)).all()
        total = sum(line.amount_fen for line in lines)
        assert total <= ALLOCATION_FEN
        assert total == 99_000 and len(lines) == 66, (total, len(lines))
        assert all(line.override_reason == "" for line in lines)
        paid_vouchers = {line.voucher_no for line in lines}
    # Each browser is told its own outcome: paid (flashed on its next page), or refused as exceeding what is
    # payable (at the override reason of the form it got back, its voucher number still in it).
    outcomes = [client.get(site_path).text for client in clients]
    for form, response, page in zip(forms, responses, outcomes, strict=True):
        if form["voucher_no"] in paid_vouchers:
            assert response.status == 302 and "拨付已录入" in page
        else:
            # Refused only once 66 were paid: every refusal saw ¥10 left, so the checks ran one after another.
            assert response.status == 200 and form_value(response.text, "voucher_no") == form["voucher_no"]
            assert re.search(r'data-field="override_reason">[^<]*可拨付 10\.00 元，本次 15\.00 元超出',
                             response.text), response.text[:500]
            assert "拨付已录入" not in response.text and "拨付已录入" not in page


def test_exports_and_refusals_at_once_are_all_answered_and_audited(deployment: Deployment):
    # On SQLite a GET began as a reader; the audit row then had to upgrade it to a writer, which fails at once
    # ("database is locked") when another worker has written since, instead of waiting on the busy timeout.
    exports = ["/reports/selection.xlsx", "/reports/applications.xlsx", "/reports/monthly.xlsx",
               "/applications/export.xlsx", f"/archive/sites/{deployment.scenario.site}/archive.zip"]
    bureau = logged_in(deployment, "bureau", 8 * len(exports))
    auditors = logged_in(deployment, "auditor", 8)
    townships = logged_in(deployment, "anhai", 24)  # may not read the audit log: refused, and the refusal audited
    jobs = [lambda c=c, p=p: c.get(p) for c, p in zip(bureau, exports * 8, strict=True)]
    jobs += [lambda c=c: c.get("/audit/export.xlsx") for c in auditors + townships]

    def audited(action: AuditAction) -> int:
        with deployment.app.app_context():
            return db.session.scalar(sa.select(sa.func.count()).where(AuditLog.action == action))

    before = audited(AuditAction.EXPORT), audited(AuditAction.DENIED)
    responses = all_at_once(jobs)

    no_server_errors(deployment, responses)
    statuses = [r.status for r in responses]
    assert statuses == [200] * (len(jobs) - 24) + [403] * 24, sorted(set(statuses))
    assert audited(AuditAction.EXPORT) - before[0] == len(jobs) - 24
    assert audited(AuditAction.DENIED) - before[1] == 24


def test_tabs_opening_the_calendar_feed_at_once_all_show_the_one_token(deployment: Deployment):
    # Each first visit found no token and wrote its own, the later replacing the earlier: the tabs showed links of
    # which all but the last answered 404.
    users, tabs = ("xiyuan", "luoshan", "lingyuan", "xintang", "cizao", "chendai"), 6
    clients = {user: logged_in(deployment, user, tabs) for user in users}
    jobs = [lambda c=c: c.get("/calendar/feed") for user in users for c in clients[user]]

    responses = all_at_once(jobs)

    no_server_errors(deployment, responses)
    assert [r.status for r in responses] == [200] * len(jobs)
    with deployment.app.app_context():
        tokens = dict(db.session.execute(sa.select(User.username, User.calendar_token)
                                         .where(User.username.in_(users))).all())
    anonymous = deployment.client()
    for number, user in enumerate(users):
        shown = {_feed_link(r.text) for r in responses[number * tabs:(number + 1) * tabs]}
        assert shown == {f"{deployment.url}/calendar/{tokens[user]}.ics"}, (user, shown)
        feed = anonymous.get(f"/calendar/{tokens[user]}.ics")
        assert feed.status == 200 and "BEGIN:VCALENDAR" in feed.text


def _feed_link(html: str) -> str:
    found = re.search(r'id="feed-url"[^>]*value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)

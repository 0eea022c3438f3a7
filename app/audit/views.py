from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from app.audit.models import OBJECT_TITLES, AuditAction, AuditLog
from app.audit.operations import record_after_reading
from app.database import utcnow
from app.downloads import attachment
from app.formatting import datetime_writer, json_text
from app.pagination import paginate
from app.permissions import Permission, requires
from forms.audit import AuditFilterForm
from forms.base import option_tags
from reports import audit_log
from reports.xlsx import write_workbook

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _filters(form: AuditFilterForm) -> dict:
    if not form.validate():
        return {}
    return {name: form.data[name] for name in ("date_from", "date_to", "actor", "action", "object_type", "object_id")}


# The search counts at most this many matching rows ("more than 2,000") and pages through no more (40 pages): at
# province scale (10 million rows) an exact count is a scan, and even a capped count walks that many index entries on
# every page view; the auditor narrows the filters (dates, actor, object) instead (app/pagination.py).
COUNT_LIMIT = 2_000


_CHOICES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}


def _options(field) -> Markup:
    """A select's <option>s with the chosen one marked, from its choices translated once per locale: the two selects
    have some 60 choices, which WTForms translates and writes one by one on every view (a fifth of the page's
    work)."""
    key = (field.name, str(get_locale()))
    choices = _CHOICES.get(key)
    if choices is None:
        choices = _CHOICES[key] = tuple((str(choice.value), str(choice.label)) for choice in field.choices)
    return option_tags(choices, "" if field.data is None else str(field.data))


@bp.route("/")
@requires(Permission.AUDIT_VIEW)
def index():
    form = AuditFilterForm(request.args)
    filters = _filters(form)
    page = paginate(audit_log.filtered_rows(filters).order_by(AuditLog.at.desc(), AuditLog.id.desc()),
                    count_limit=COUNT_LIMIT)
    return render_template("audit/index.html", form=form, page=page, export_limit=audit_log.EXPORT_LIMIT,
                           rows=_rows(page.items), options={field.name: _options(field)
                                                            for field in (form.action, form.object_type)})


def _rows(entries) -> Markup:
    """The table's rows, written here rather than by the template (a page has 50 rows of eight cells): every text
    escaped, the titles translated once for the page."""
    action_titles: dict = {}
    object_titles: dict = {}
    moment = datetime_writer()
    html = []
    for entry in entries:
        action = action_titles.get(entry.action)
        if action is None:
            action = action_titles[entry.action] = escape(entry.action.title)
        kind = object_titles.get(entry.object_type)
        if kind is None:
            kind = object_titles[entry.object_type] = escape(OBJECT_TITLES.get(entry.object_type, entry.object_type))
        html.append(
            f'<tr><td class="text-nowrap">{moment(entry.at)}</td><td>{escape(entry.actor_name)}</td>'
            f"<td>{action}</td><td>{kind} {escape(entry.object_id)}</td>"
            f"<td>{escape(entry.summary)}</td>"
            f'<td><code class="text-break">{escape(json_text(entry.before))}</code></td>'
            f'<td><code class="text-break">{escape(json_text(entry.after))}</code></td>'
            f"<td>{escape(entry.ip)}</td></tr>")
    return Markup("".join(html))


@bp.route("/export.xlsx")
@requires(Permission.AUDIT_VIEW)
def export():
    form = AuditFilterForm(request.args)
    filters = _filters(form)
    subtitle = _("导出人：%(user)s　导出时间：%(at)s", user=current_user.username,
                 at=format_datetime(utcnow(), "yyyy-MM-dd HH:mm"))
    data = write_workbook([audit_log.sheet(filters, limit=audit_log.EXPORT_LIMIT)], subtitle=subtitle)
    record_after_reading(AuditAction.EXPORT, object_type="AuditLog",
                         summary=f"audit export {request.query_string.decode()[:200]}")
    return attachment(data, f"审计日志_{utcnow():%Y%m%d}.xlsx")

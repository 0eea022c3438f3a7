"""月度进展汇总表: a programme's sites × months, each month's state (按时, 逾期, 缺报, 未到期) and the counts per site.

The states are those of the bureau's progress grid (:func:`app.tracking.progress.monthly_grid`, two queries whatever
the number of sites and months), so the sheet and the grid cannot disagree. ``start`` and ``end`` (first days of
months, both included) narrow the months shown and counted.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _

from app.database import china_today
from app.programmes.models import Programme
from app.tracking import progress
from reports.xlsx import Column, Sheet

# The grid's cell states, folded into the four of the summary; "none" (outside the site's reporting period) is blank.
COUNTED = ("on_time", "late", "missing", "pending")
FOLD = {"on_time": "on_time", "late": "late", "missing": "missing", "draft": "pending", "not_due": "pending",
        "not_begun": "pending"}


def state_titles() -> dict[str, str]:
    return {"on_time": _("按时"), "late": _("逾期"), "missing": _("缺报"), "pending": _("未到期")}


def month_key(month: date) -> str:
    return f"m{month:%Y%m}"


def sheet(programme: Programme, site_filter=sa.true(), start: date | None = None, end: date | None = None,
          today: date | None = None) -> Sheet:
    today = today or china_today()
    months, grid = progress.monthly_grid(programme, site_filter, today)
    shown = [m for m in months if (start is None or m >= start) and (end is None or m <= end)]
    titles = state_titles()
    columns = [
        Column("township", _("镇(街道)")),
        Column("community", _("村(社区)")),
        *[Column(month_key(m), f"{m:%Y-%m}", width=9) for m in shown],
        *[Column(state, titles[state], "int", total=True) for state in COUNTED],
    ]
    wanted = set(shown)
    rows = []
    for row in grid:
        record = {"township": row.site.township.name, "community": row.site.community.name,
                  **dict.fromkeys(COUNTED, 0)}
        for cell in row.cells:
            if cell.month not in wanted:
                continue
            state = FOLD.get(cell.state)
            record[month_key(cell.month)] = titles[state] if state else ""
            if state:
                record[state] += 1
        rows.append(record)
    notes = [
        _("截至 %(d)s；每月进展须在当月 20 日前报送。", d=today.isoformat()),
        _("按时：20 日前报送；逾期：20 日后补报；缺报：已过 20 日仍未报送；"
          "未到期：报送期限未到（含草稿和尚未开始的月份）。空白表示该月不在该项目点的报送期内。"),
    ]
    if start or end:
        notes.append(_("统计月份：%(a)s 至 %(b)s", a=f"{start:%Y-%m}" if start else "…",
                       b=f"{end:%Y-%m}" if end else "…"))
    return Sheet(name=_("月度进展"), columns=columns, rows=rows, notes=notes, freeze_columns=2,
                 title=_("%(name)s 月度进展汇总表", name=programme.name))

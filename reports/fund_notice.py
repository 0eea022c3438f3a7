"""村(居)务公开: a one-page notice of how a site used its money — the totals, then spending by category."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _

from app.database import china_today
from app.funding.models import SPENDING_CATEGORIES, Site, SpendingLine, spending_category_title
from app.funding.queries import SiteLine, Totals
from reports.xlsx import Column, Sheet, yuan_text


def by_category(lines: Iterable[SpendingLine]) -> list[dict]:
    """Per category: the signed sum in fen and the number of payments that stand (neither reversed nor reversals).

    Categories in the order of SPENDING_CATEGORIES (others after, by name); those with nothing left are omitted.
    """
    lines = list(lines)
    reversed_ids = {line.reverses_id for line in lines if line.reverses_id is not None}
    amounts: dict[str, int] = {}
    counts: dict[str, int] = {}
    for line in lines:
        amounts[line.category] = amounts.get(line.category, 0) + line.amount_fen
        standing = line.reverses_id is None and line.id not in reversed_ids
        counts[line.category] = counts.get(line.category, 0) + (1 if standing else 0)
    order = {name: index for index, name in enumerate(SPENDING_CATEGORIES)}
    categories = sorted(amounts, key=lambda name: (order.get(name, len(order)), name))
    return [{"category": spending_category_title(name), "amount": amounts[name], "count": counts[name]}
            for name in categories if amounts[name] or counts[name]]


def sheet(site: Site, rec_line: SiteLine | None, lines: Iterable[SpendingLine]) -> Sheet:
    total = rec_line.total if rec_line is not None else Totals()
    community = site.community.name
    notes = [
        _("项目：%(p)s    %(t)s %(c)s", p=site.programme.name, t=site.township.name, c=community),
        _("下达资金：%(v)s", v=yuan_text(total.allocated)),
        _("到位（拨付）资金：%(v)s", v=yuan_text(total.disbursed)),
        _("已使用：%(v)s", v=yuan_text(total.spent)),
        _("结余（到位 − 已使用）：%(v)s", v=yuan_text(total.balance)),
        _("截至 %(d)s，资金使用按类别汇总如下（金额单位：元）：", d=china_today().isoformat()),
    ]
    columns = [
        Column("category", _("类别"), width=28),
        Column("amount", _("金额（元）"), "money_fen", width=22, total=True),
        Column("count", _("笔数"), "int", width=12, total=True),
    ]
    footer = [
        _("公示期：____年__月__日至____年__月__日。如对上述资金使用有异议，请在公示期内向村(居)务监督委员会或镇(街道)反映。"),
        _("监督电话：____"),
        _("公示单位：%(c)s（盖章）", c=community),
        _("____年__月__日"),
    ]
    return Sheet(name=_("资金使用公示"), columns=columns, rows=by_category(lines),
                 title=_("%(community)s项目资金使用情况公示", community=community), notes=notes,
                 footer_notes=footer, fit_one_page=True)

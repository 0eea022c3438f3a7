"""Importing a site's 项目资金使用明细 from Excel: every row checked, all or nothing.

The first sheet must have exactly :data:`IMPORT_COLUMNS` as its first row. Each row's problems are reported
together, with its Excel row number; rows are returned only when no row has a problem, so the caller adds either
all of them or none. Amounts are yuan in the file and integer fen here, converted through ``Decimal``.
"""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from flask_babel import gettext as _

from app.files.storage import detect_kind
from app.formatting import listing
from app.funding.models import SPENDING_CATEGORIES
from app.programmes.models import FundingSource

if TYPE_CHECKING:
    import pandas as pd

IMPORT_COLUMNS = ("日期", "支出项目", "类别", "金额（元）", "收款单位", "资金来源", "备注")
MAX_IMPORT_ROWS = 2000
MAX_FEN = 10_000_000_000_00  # ten billion yuan, as everywhere else
MAX_ITEM, MAX_PAYEE, MAX_NOTE = 120, 120, 300
EXAMPLE_SOURCE = "晋江市级财政"

# 2024-03-01, 2024/3/1 or 2024.3.1; an Excel date cell reads as "2024-03-01 00:00:00".
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?: 00:00:00)?")
# A date cell that lost its format shows Excel's day number; accepted from 2000-01-01 to 2099-12-31.
_SERIAL = re.compile(r"\d{5}")
_EXCEL_EPOCH = date(1899, 12, 30)
_SERIAL_RANGE = ((date(2000, 1, 1) - _EXCEL_EPOCH).days, (date(2099, 12, 31) - _EXCEL_EPOCH).days)
# A plain decimal number (Excel may write a large or tiny one with an exponent).
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
# Excel keeps 15 significant digits; a longer number is a double's noise (0.30000000000000004), not a typed amount.
_EXCEL_DIGITS = 15


def _key(header: str) -> str:
    """Headers compared without width or surrounding spaces: 金额(元) is 金额（元）."""
    return unicodedata.normalize("NFKC", str(header)).strip()


def _parse_date(text: str) -> date | None:
    if _SERIAL.fullmatch(text):
        days = int(text)
        return _EXCEL_EPOCH + timedelta(days=days) if _SERIAL_RANGE[0] <= days <= _SERIAL_RANGE[1] else None
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:  # 2024-02-30
        return None


def _parse_amount(text: str) -> tuple[int | None, str | None]:
    """(fen, None) or (None, the problem)."""
    cleaned = text.replace(",", "").replace("，", "").lstrip("¥￥").strip()
    if not _NUMBER.fullmatch(cleaned):
        return None, _("金额“%(v)s”不是数字", v=text)
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None, _("金额“%(v)s”不是数字", v=text)
    digits = amount.as_tuple()
    if len(digits.digits) > _EXCEL_DIGITS and digits.exponent < -2:
        amount = Decimal(format(amount, f".{_EXCEL_DIGITS}g"))
    if amount <= 0:
        return None, _("金额须大于零")
    if amount * 100 > MAX_FEN:
        return None, _("金额过大")
    if amount != amount.quantize(Decimal("0.01")):
        return None, _("金额最多保留两位小数（到分）")
    return int(amount * 100), None


def _read(data: bytes) -> pd.DataFrame:
    import pandas as pd  # imported on first use: it adds about 40 MB to every worker

    return pd.read_excel(io.BytesIO(data), sheet_name=0, dtype=str, engine="openpyxl", keep_default_na=False)


def _letter(index: int) -> str:
    """Excel's name of the column at ``index`` (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _header_problem(frame: pd.DataFrame) -> str | None:
    # A column without a header and without any value is nothing (pandas names it "Unnamed: n").
    keep = [column for column in frame.columns
            if not (str(column).startswith("Unnamed:") and not frame[column].astype(str).str.strip().any())]
    found = [_key(column) for column in keep]
    expected = [_key(column) for column in IMPORT_COLUMNS]
    if found == expected:
        return None
    problems = []
    missing = [column for column, key in zip(IMPORT_COLUMNS, expected, strict=True) if key not in found]
    extra = [_("第 %(col)s 列（无表头）", col=_letter(list(frame.columns).index(column)))
             if str(column).startswith("Unnamed:") else str(column)
             for column, key in zip(keep, found, strict=True) if key not in expected]
    if missing:
        problems.append(_("缺少列：%(cols)s", cols=listing(missing)))
    if extra:
        problems.append(_("多余或无法识别的列：%(cols)s", cols=listing(extra)))
    if not problems:
        problems.append(_("列的顺序不对或有重复的列"))
    problems.append(_("第一行应依次为：%(all)s", all=listing(IMPORT_COLUMNS)))
    return "；".join(problems) + "。"


def parse_spending(data: bytes, sources: dict[str, FundingSource]) -> tuple[list[dict], list[tuple[int, str]]]:
    """(rows, errors). ``sources``: the funding sources a row may name, by name.

    Each row: entry_date, item, category, amount_fen, payee, source (the FundingSource), note. Errors: (Excel row
    number — 1 for the header, 0 for the file as a whole — and every problem of that row in one message). Rows are
    returned only if there is no error at all.
    """
    if detect_kind(data) != "xlsx":
        return [], [(0, _("无法读取该文件：请上传 Excel (.xlsx) 文件。"))]
    try:
        frame = _read(data)
    except Exception:  # noqa: BLE001 - any unreadable workbook is the same problem for the user
        return [], [(0, _("无法读取该文件：请上传 Excel (.xlsx) 文件。"))]
    problem = _header_problem(frame)
    if problem:
        return [], [(1, problem)]
    if len(frame) > MAX_IMPORT_ROWS:
        return [], [(0, _("一次最多导入 %(n)d 行。", n=MAX_IMPORT_ROWS))]
    frame.columns = [_key(column) for column in frame.columns]
    date_col, item_col, category_col, amount_col, payee_col, source_col, note_col = (_key(c) for c in IMPORT_COLUMNS)

    rows: list[dict] = []
    errors: list[tuple[int, str]] = []
    for index, record in enumerate(frame.itertuples(index=False)):
        excel_row = index + 2  # the header is row 1; pandas keeps blank rows, so positions match
        values = {column: str(value).strip() for column, value in zip(frame.columns, record, strict=True)}
        if not any(values.get(_key(column), "") for column in IMPORT_COLUMNS):
            continue
        problems = []
        date_text = values[date_col]
        entry_date = _parse_date(date_text)
        if not date_text:
            problems.append(_("日期为空"))
        elif entry_date is None:
            problems.append(_("日期“%(v)s”无效，应写成 2024-05-31 这样的日期", v=date_text))
        item = values[item_col]
        if not item:
            problems.append(_("支出项目为空"))
        elif len(item) > MAX_ITEM:
            problems.append(_("支出项目超过 %(n)d 个字符", n=MAX_ITEM))
        category = values[category_col]
        if category not in SPENDING_CATEGORIES:
            problems.append(_("类别“%(v)s”应为以下之一：%(all)s", v=category, all=listing(SPENDING_CATEGORIES))
                            if category else _("类别为空"))
        amount_text = values[amount_col]
        amount_fen = None
        if not amount_text:
            problems.append(_("金额为空"))
        else:
            amount_fen, amount_problem = _parse_amount(amount_text)
            if amount_problem:
                problems.append(amount_problem)
        payee = values[payee_col]
        if len(payee) > MAX_PAYEE:
            problems.append(_("收款单位超过 %(n)d 个字符", n=MAX_PAYEE))
        source_name = values[source_col]
        source = sources.get(source_name)
        if source is None:
            problems.append(_("资金来源“%(v)s”应为以下之一：%(all)s", v=source_name, all=listing(sources))
                            if source_name else _("资金来源为空"))
        note = values[note_col]
        if len(note) > MAX_NOTE:
            problems.append(_("备注超过 %(n)d 个字符", n=MAX_NOTE))
        if problems:
            errors.append((excel_row, "；".join(problems) + "。"))
            continue
        rows.append({"entry_date": entry_date, "item": item, "category": category, "amount_fen": amount_fen,
                     "payee": payee, "source": source, "note": note})
    if not rows and not errors:
        errors.append((0, _("文件中没有数据行。")))
    return ([] if errors else rows), errors


def template() -> bytes:
    """The header and one example row, without a title, so that the file imports back as it is."""
    from reports.xlsx import Column, Sheet, write_workbook

    keys = ("entry_date", "item", "category", "amount", "payee", "source", "note")
    kinds = ("date", "text", "text", "money_fen", "text", "text", "text")
    widths = (12, 30, 12, 14, 24, 16, 30)
    columns = [Column(key, header, kind, width=width)
               for key, header, kind, width in zip(keys, IMPORT_COLUMNS, kinds, widths, strict=True)]
    columns[2].choices = list(SPENDING_CATEGORIES)
    columns[2].help = _("从下拉列表中选择支出类别。")
    columns[3].number_range = (0.01, MAX_FEN / 100)
    columns[3].help = _("以元为单位，最多两位小数，例如 1280.50。")
    example = {"entry_date": date(2024, 5, 31), "item": "议事厅桌椅", "category": SPENDING_CATEGORIES[0],
               "amount": 128050, "payee": "晋江市某家具有限公司", "source": EXAMPLE_SOURCE,
               "note": "示例行，导入前请删除或改写"}
    sheet = Sheet(name="支出明细", columns=columns, rows=[example], validation_rows=500)
    return write_workbook([sheet])

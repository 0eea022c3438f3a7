"""The one spreadsheet writer: title row, frozen header, autofilter, widths, number formats, totals.

Every export goes through :func:`write_workbook` so that all sheets the bureau files upward look alike.
Text is always written as text (``strings_to_formulas`` off): a cell typed as ``=…`` stays a string.

Workbooks meant to be filled in and uploaded again (the offline scoring sheet) use a few more options, all off by
default: hidden columns, data validation on the data rows (``number_range``, ``choices``, with ``help`` as the
cell's prompt), frozen leading columns, and a protected sheet whose title and header are locked while the data
cells stay editable (``Sheet.protect``; no password: it prevents accidents, the upload is checked anyway).

Reports with subtotals mark those rows with :data:`SUBTOTAL` (bold, ruled, left out of the column totals); a sheet
meant to be printed and posted sets ``fit_one_page`` (one portrait A4 page, title and notes wrapped across the
table) and may carry ``footer_notes`` below the table. Money is integer fen until the moment it is written.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import xlsxwriter
from flask_babel import gettext as _

from app.formatting import listing

CHINA = ZoneInfo("Asia/Shanghai")
# Formula-like prefixes that a spreadsheet might evaluate; such text is prefixed with an apostrophe.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Yuan with the sign and two decimals; the symbol is a quoted literal, so every spreadsheet shows ¥1,234.50.
MONEY_FORMAT = '"¥"#,##0.00'
# A row whose value under this key is true is a subtotal: written bold and ruled, and not added to the totals.
SUBTOTAL = "_subtotal"


@dataclass
class Column:
    key: str
    header: str
    kind: str = "text"  # text | int | decimal | money_fen | date | datetime | percent
    width: int | None = None
    total: bool = False
    hidden: bool = False
    # Data validation on the data rows: a decimal between the two bounds, or one of the choices (blank allowed).
    number_range: tuple[float, float] | None = None
    choices: list[str] | None = None
    validation_message: str = ""  # shown when a typed value is refused; a Chinese default otherwise
    help: str = ""  # shown as the cell's prompt when it is selected (Excel keeps 255 characters)


@dataclass
class Sheet:
    name: str
    columns: list[Column]
    rows: Iterable[dict[str, Any]]
    title: str = ""
    notes: list[str] = field(default_factory=list)
    freeze_columns: int = 0  # leading columns kept in view when scrolling right
    protect: bool = False  # lock the title, notes and header; data cells stay editable; sorting/filtering allowed
    header_height: float | None = None  # points; for long wrapped headers
    fit_one_page: bool = False  # print on one portrait page (a notice to post); title and notes wrap across
    footer_notes: list[str] = field(default_factory=list)  # lines below the table (and its totals row)
    validation_rows: int = 0  # a template to fill in: data validation reaches at least this many data rows


def neutralise(text: str) -> str:
    """Text that a spreadsheet would read as a formula, made harmless."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def yuan_text(fen: int) -> str:
    """¥30,000.50 for 3000050 fen (-¥1.00 for -100): money as text for titles and notes, exact to the fen."""
    fen = int(fen)
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{Decimal(abs(fen)) / 100:,.2f}"


# CJK characters (from U+2E81) are about twice as wide as Latin ones in Excel's default font.
_WIDE = re.compile("[\u2e81-\U0010ffff]")


def _display_width(value: Any) -> int:
    text = str(value)
    return len(text) if text.isascii() else len(text) + len(_WIDE.findall(text))


def write_workbook(sheets: list[Sheet], *, subtitle: str = "") -> bytes:
    """Write ``sheets`` into one xlsx file and return its bytes."""
    buffer = io.BytesIO()
    # constant_memory: each row goes to a temporary file as soon as the next one starts, so a sheet of 100,000 rows
    # (the audit export) needs no more memory than one of ten, and writing is faster. Rows must then be written in
    # order (they are; the header height is set before the data), and merged cells are avoided: a workbook with a
    # one-page sheet (merged title lines) is small and is written in memory as before.
    constant_memory = not any(sheet.fit_one_page for sheet in sheets)
    book = xlsxwriter.Workbook(
        buffer,
        {"in_memory": not constant_memory, "constant_memory": constant_memory, "strings_to_formulas": False,
         "strings_to_urls": False, "strings_to_numbers": False},
    )
    title_format = book.add_format({"bold": True, "font_size": 14})
    subtitle_format = book.add_format({"italic": True, "font_color": "#555555"})
    header_format = book.add_format({"bold": True, "bg_color": "#DDE6F0", "border": 1, "text_wrap": True,
                                     "valign": "vcenter"})
    formats = {
        "text": book.add_format({"text_wrap": False}),
        "int": book.add_format({"num_format": "#,##0"}),
        "decimal": book.add_format({"num_format": "#,##0.0#"}),
        "money_fen": book.add_format({"num_format": MONEY_FORMAT}),
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "percent": book.add_format({"num_format": "0.0%"}),
    }
    total_formats = {kind: book.add_format({"bold": True, "top": 1, **_num(kind)}) for kind in formats}
    unlocked: dict[str, Any] = {}  # formats of editable data cells, made only for protected sheets
    wrapped: dict[str, Any] = {}  # title and notes merged across a one-page sheet, made only when needed

    def wrapped_format(name: str, base: dict):
        if name not in wrapped:
            wrapped[name] = book.add_format({**base, "text_wrap": True, "valign": "top"})
        return wrapped[name]

    def data_format(kind: str, protect: bool):
        if not protect:
            return formats[kind]
        if kind not in unlocked:
            unlocked[kind] = book.add_format({"text_wrap": False, **_num(kind), "locked": False})
        return unlocked[kind]

    for sheet in sheets:
        ws = book.add_worksheet(sheet.name[:31])
        # Title, notes and the totals label go in the first column that is not hidden.
        first = next((i for i, col in enumerate(sheet.columns) if not col.hidden), 0)
        row_index = 0
        widths = [max(_display_width(col.header), 6) for col in sheet.columns]
        records = sheet.rows
        if sheet.fit_one_page:
            # Title and notes wrap across the table, so its widths are needed first: from the header and the data.
            records = list(sheet.rows)
            _data_widths(sheet.columns, records, widths)
        head_lines = [(text, fmt) for text, fmt in ((sheet.title, title_format), (subtitle, subtitle_format)) if text]
        head_lines += [(note, subtitle_format) for note in sheet.notes]
        for text, fmt in head_lines:
            if sheet.fit_one_page:
                title = fmt is title_format
                _write_across(ws, row_index, first, sheet.columns, text, widths,
                              wrapped_format("title", {"bold": True, "font_size": 14}) if title
                              else wrapped_format("note", {}), line_height=20 if title else 15)
            else:
                ws.write_string(row_index, first, text, fmt)
            row_index += 1
        header_row = row_index
        if sheet.header_height:
            ws.set_row(header_row, sheet.header_height)
        for col_index, col in enumerate(sheet.columns):
            ws.write_string(header_row, col_index, col.header, header_format)
        totals = [0 for _ in sheet.columns]
        # A column of fixed width is not measured; nor is text too short to widen its column (at most 2 per char).
        measured = [col.width is None for col in sheet.columns]
        row_index = header_row + 1
        for record in records:
            subtotal = bool(record.get(SUBTOTAL))
            for col_index, col in enumerate(sheet.columns):
                value = record.get(col.key)
                fmt = total_formats[col.kind] if subtotal else data_format(col.kind, sheet.protect)
                shown = _write_cell(ws, row_index, col_index, col.kind, value, fmt)
                if measured[col_index] and 2 * len(shown) > widths[col_index]:
                    widths[col_index] = max(widths[col_index], _display_width(shown))
                if col.total and not subtotal and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                    totals[col_index] += value
            row_index += 1
        last_data_row = row_index - 1
        if any(col.total for col in sheet.columns):
            ws.write_string(row_index, first, "合计", total_formats["text"])
            for col_index, col in enumerate(sheet.columns):
                if col.total:
                    _write_cell(ws, row_index, col_index, col.kind, totals[col_index], total_formats[col.kind])
            row_index += 1
        if sheet.footer_notes:
            row_index += 1  # a blank line between the table and what follows it
            for note in sheet.footer_notes:
                if sheet.fit_one_page:
                    _write_across(ws, row_index, first, sheet.columns, note, widths, wrapped_format("note", {}))
                else:
                    ws.write_string(row_index, first, note, subtitle_format)
                row_index += 1
        last_validated = max(last_data_row, header_row + sheet.validation_rows)
        for col_index, col in enumerate(sheet.columns):
            width = _column_width(col, widths[col_index])
            ws.set_column(col_index, col_index, width, None, {"hidden": True} if col.hidden else None)
            if last_validated > header_row:
                _validate(ws, header_row + 1, last_validated, col_index, col)
        if sheet.protect:
            # No password: this guards against accidents. Hidden columns stay hidden (no column formatting).
            ws.protect("", {"sort": True, "autofilter": True, "format_cells": True, "format_rows": True})
        ws.freeze_panes(header_row + 1, sheet.freeze_columns)
        ws.autofilter(header_row, 0, max(last_data_row, header_row), max(len(sheet.columns) - 1, 0))
        ws.repeat_rows(header_row)
        if sheet.fit_one_page:
            ws.set_portrait()
            ws.set_paper(9)  # A4
            ws.fit_to_pages(1, 1)
        else:
            ws.set_landscape()
            ws.fit_to_pages(1, 0)
    book.close()
    return buffer.getvalue()


def _column_width(col: Column, width: int) -> int:
    return col.width or min(max(width + 2, 8), 60)


def _data_widths(columns: list[Column], records: list[dict[str, Any]], widths: list[int]) -> None:
    """Widen ``widths`` to the data, as the writing loop does (money as it will be shown)."""
    for record in records:
        for col_index, col in enumerate(columns):
            value = record.get(col.key)
            if value is None or value == "":
                continue
            shown = f"{Decimal(int(value)) / 100:,.2f}" if col.kind == "money_fen" else str(value)
            widths[col_index] = max(widths[col_index], _display_width(shown))


def _write_across(ws, row: int, first: int, columns: list[Column], text: str, widths: list[int], fmt, *,
                  line_height: int = 15) -> None:
    """One line of text merged across the table's columns and wrapped; the row is made tall enough for it."""
    last = len(columns) - 1
    if last > first:
        ws.merge_range(row, first, row, last, "", fmt)
    ws.write_string(row, first, text, fmt)
    room = sum(_column_width(col, widths[i]) for i, col in enumerate(columns) if i >= first and not col.hidden)
    lines = max(1, -(-_display_width(text) // max(room, 1)))
    if lines > 1:
        ws.set_row(row, line_height * lines + 3)


def _validate(ws, first_row: int, last_row: int, col_index: int, col: Column) -> None:
    """The column's data validation on its data rows, if it has one. Excel's limits: 32/255 characters."""
    if col.number_range is not None:
        low, high = col.number_range
        options = {"validate": "decimal", "criteria": "between", "minimum": low, "maximum": high,
                   "error_message": col.validation_message or _("请输入 %(low)s 至 %(high)s 之间的数值。",
                                                                 low=f"{low:g}", high=f"{high:g}")}
    elif col.choices:
        options = {"validate": "list", "source": list(col.choices),
                   "error_message": col.validation_message or _("请从下拉列表中选择：%(choices)s",
                                                                 choices=listing(col.choices))}
    else:
        return
    options["error_title"] = _("输入有误")
    options["error_message"] = options["error_message"][:255]
    options["ignore_blank"] = True
    if col.help:
        options["input_title"] = col.header[:32]
        options["input_message"] = col.help[:255]
    ws.data_validation(first_row, col_index, last_row, col_index, options)


def _num(kind: str) -> dict:
    return {
        "int": {"num_format": "#,##0"},
        "decimal": {"num_format": "#,##0.0#"},
        "money_fen": {"num_format": MONEY_FORMAT},
        "date": {"num_format": "yyyy-mm-dd"},
        "datetime": {"num_format": "yyyy-mm-dd hh:mm:ss"},
        "percent": {"num_format": "0.0%"},
    }.get(kind, {})


def _write_cell(ws, row: int, col: int, kind: str, value: Any, fmt) -> str:
    """Write one cell by its column kind; returns the text used to size the column."""
    if value is None or value == "":
        ws.write_blank(row, col, None, fmt)
        return ""
    if kind == "money_fen":
        yuan = Decimal(int(value)) / 100
        # Excel keeps doubles; two decimals of a fen amount are exact in a double at these magnitudes.
        ws.write_number(row, col, float(yuan), fmt)
        return f"{yuan:,.2f}"
    numeric = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
    if kind in ("int", "decimal", "percent") and numeric:
        ws.write_number(row, col, float(value), fmt)
        if kind == "decimal":
            return f"{float(value):,.2f}"
        return f"{value:,}" if kind == "int" else "100.0%"
    if kind == "datetime" and isinstance(value, datetime):
        local = value.astimezone(CHINA).replace(tzinfo=None) if value.tzinfo else value
        ws.write_datetime(row, col, local, fmt)
        return "2024-01-01 00:00:00"
    if kind == "date" and isinstance(value, date):
        ws.write_datetime(row, col, datetime(value.year, value.month, value.day), fmt)
        return "2024-01-01"
    text = neutralise(str(value))
    ws.write_string(row, col, text, fmt)
    return text

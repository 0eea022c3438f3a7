"""The one spreadsheet writer: title row, frozen header, autofilter, widths, number formats, totals.

Every export goes through :func:`write_workbook` so that all sheets the bureau files upward look alike.
Text is always written as text (``strings_to_formulas`` off): a cell typed as ``=…`` stays a string.

Workbooks meant to be filled in and uploaded again (the offline scoring sheet) use a few more options, all off by
default: hidden columns, data validation on the data rows (``number_range``, ``choices``, with ``help`` as the
cell's prompt), frozen leading columns, and a protected sheet whose title and header are locked while the data
cells stay editable (``Sheet.protect``; no password: it prevents accidents, the upload is checked anyway).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import xlsxwriter

CHINA = ZoneInfo("Asia/Shanghai")
# Formula-like prefixes that a spreadsheet might evaluate; such text is prefixed with an apostrophe.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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


def neutralise(text: str) -> str:
    """Text that a spreadsheet would read as a formula, made harmless."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _display_width(value: Any) -> int:
    text = str(value)
    # CJK characters are about twice as wide as Latin ones in Excel's default font.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def write_workbook(sheets: list[Sheet], *, subtitle: str = "") -> bytes:
    """Write ``sheets`` into one xlsx file and return its bytes."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
    )
    title_format = book.add_format({"bold": True, "font_size": 14})
    subtitle_format = book.add_format({"italic": True, "font_color": "#555555"})
    header_format = book.add_format({"bold": True, "bg_color": "#DDE6F0", "border": 1, "text_wrap": True,
                                     "valign": "vcenter"})
    formats = {
        "text": book.add_format({"text_wrap": False}),
        "int": book.add_format({"num_format": "#,##0"}),
        "decimal": book.add_format({"num_format": "#,##0.0#"}),
        "money_fen": book.add_format({"num_format": "#,##0.00"}),
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "percent": book.add_format({"num_format": "0.0%"}),
    }
    total_formats = {kind: book.add_format({"bold": True, "top": 1, **_num(kind)}) for kind in formats}
    unlocked: dict[str, Any] = {}  # formats of editable data cells, made only for protected sheets

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
        if sheet.title:
            ws.write_string(row_index, first, sheet.title, title_format)
            row_index += 1
        if subtitle:
            ws.write_string(row_index, first, subtitle, subtitle_format)
            row_index += 1
        for note in sheet.notes:
            ws.write_string(row_index, first, note, subtitle_format)
            row_index += 1
        header_row = row_index
        widths = [max(_display_width(col.header), 6) for col in sheet.columns]
        for col_index, col in enumerate(sheet.columns):
            ws.write_string(header_row, col_index, col.header, header_format)
        totals = [0 for _ in sheet.columns]
        row_index = header_row + 1
        for record in sheet.rows:
            for col_index, col in enumerate(sheet.columns):
                value = record.get(col.key)
                shown = _write_cell(ws, row_index, col_index, col.kind, value, data_format(col.kind, sheet.protect))
                widths[col_index] = max(widths[col_index], _display_width(shown))
                if col.total and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                    totals[col_index] += value
            row_index += 1
        last_data_row = row_index - 1
        if any(col.total for col in sheet.columns):
            ws.write_string(row_index, first, "合计", total_formats["text"])
            for col_index, col in enumerate(sheet.columns):
                if col.total:
                    _write_cell(ws, row_index, col_index, col.kind, totals[col_index], total_formats[col.kind])
        for col_index, col in enumerate(sheet.columns):
            width = col.width or min(max(widths[col_index] + 2, 8), 60)
            ws.set_column(col_index, col_index, width, None, {"hidden": True} if col.hidden else None)
            if last_data_row > header_row:
                _validate(ws, header_row + 1, last_data_row, col_index, col)
        if sheet.header_height:
            ws.set_row(header_row, sheet.header_height)
        if sheet.protect:
            # No password: this guards against accidents. Hidden columns stay hidden (no column formatting).
            ws.protect("", {"sort": True, "autofilter": True, "format_cells": True, "format_rows": True})
        ws.freeze_panes(header_row + 1, sheet.freeze_columns)
        ws.autofilter(header_row, 0, max(last_data_row, header_row), max(len(sheet.columns) - 1, 0))
        ws.repeat_rows(header_row)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
    book.close()
    return buffer.getvalue()


def _validate(ws, first_row: int, last_row: int, col_index: int, col: Column) -> None:
    """The column's data validation on its data rows, if it has one. Excel's limits: 32/255 characters."""
    if col.number_range is not None:
        low, high = col.number_range
        options = {"validate": "decimal", "criteria": "between", "minimum": low, "maximum": high,
                   "error_message": col.validation_message or f"请输入 {low:g} 至 {high:g} 之间的数值。"}
    elif col.choices:
        options = {"validate": "list", "source": list(col.choices),
                   "error_message": col.validation_message or "请从下拉列表中选择：" + "、".join(col.choices)}
    else:
        return
    options["error_title"] = "输入有误"
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
        "money_fen": {"num_format": "#,##0.00"},
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

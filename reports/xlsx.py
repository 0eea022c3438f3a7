"""The one spreadsheet writer: title row, frozen header, autofilter, widths, number formats, totals.

Every export goes through :func:`write_workbook` so that all sheets the bureau files upward look alike.
Text is always written as text (``strings_to_formulas`` off): a cell typed as ``=…`` stays a string.
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
    kind: str = "text"  # text | int | money_fen | date | datetime | percent
    width: int | None = None
    total: bool = False


@dataclass
class Sheet:
    name: str
    columns: list[Column]
    rows: Iterable[dict[str, Any]]
    title: str = ""
    notes: list[str] = field(default_factory=list)


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
        "money_fen": book.add_format({"num_format": "#,##0.00"}),
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "percent": book.add_format({"num_format": "0.0%"}),
    }
    total_formats = {kind: book.add_format({"bold": True, "top": 1, **_num(kind)}) for kind in formats}

    for sheet in sheets:
        ws = book.add_worksheet(sheet.name[:31])
        row_index = 0
        if sheet.title:
            ws.write_string(row_index, 0, sheet.title, title_format)
            row_index += 1
        if subtitle:
            ws.write_string(row_index, 0, subtitle, subtitle_format)
            row_index += 1
        for note in sheet.notes:
            ws.write_string(row_index, 0, note, subtitle_format)
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
                shown = _write_cell(ws, row_index, col_index, col.kind, value, formats[col.kind])
                widths[col_index] = max(widths[col_index], _display_width(shown))
                if col.total and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                    totals[col_index] += value
            row_index += 1
        last_data_row = row_index - 1
        if any(col.total for col in sheet.columns):
            ws.write_string(row_index, 0, "合计", total_formats["text"])
            for col_index, col in enumerate(sheet.columns):
                if col.total:
                    _write_cell(ws, row_index, col_index, col.kind, totals[col_index], total_formats[col.kind])
        for col_index, col in enumerate(sheet.columns):
            ws.set_column(col_index, col_index, col.width or min(max(widths[col_index] + 2, 8), 60))
        ws.freeze_panes(header_row + 1, 0)
        ws.autofilter(header_row, 0, max(last_data_row, header_row), max(len(sheet.columns) - 1, 0))
        ws.repeat_rows(header_row)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
    book.close()
    return buffer.getvalue()


def _num(kind: str) -> dict:
    return {
        "int": {"num_format": "#,##0"},
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
    if kind in ("int", "percent") and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        ws.write_number(row, col, float(value), fmt)
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

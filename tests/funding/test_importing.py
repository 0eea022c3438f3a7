"""Importing spending lines from Excel: every row checked, each bad row reported by its number, all or nothing."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest

from app.funding.importing import IMPORT_COLUMNS, parse_spending, template
from app.programmes.templates import JINJIANG, QUANZHOU, funding_source


@pytest.fixture
def sources(ctx) -> dict:
    return {name: funding_source(name) for name in (QUANZHOU, JINJIANG)}


def _xlsx(rows: list[list], header=IMPORT_COLUMNS) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


GOOD = [
    ["2024-05-06", "议事厅桌椅", "设施设备", "12800.5", "晋江市某家具有限公司", JINJIANG, "发票 No.001"],
    [datetime(2024, 5, 7), "协商会茶歇", "活动经费", 360, "", QUANZHOU, ""],
    [None, None, None, None, None, None, None],  # a blank row between blocks is skipped
    ["2024/5/8", " 宣传展板 ", "宣传印制", 1234.56, "某广告公司", QUANZHOU, None],
    [date(2024, 5, 9), "议事规则手册", "宣传印制", "¥1,000.10", "某印刷厂", JINJIANG, "备注"],
]


def test_a_clean_file_imports(sources):
    rows, errors = parse_spending(_xlsx(GOOD), sources)
    assert errors == []
    assert [row["amount_fen"] for row in rows] == [1_280_050, 36_000, 123_456, 100_010]
    assert all(isinstance(row["amount_fen"], int) for row in rows)
    assert [row["entry_date"] for row in rows] == [date(2024, 5, 6), date(2024, 5, 7), date(2024, 5, 8),
                                                    date(2024, 5, 9)]
    assert [row["source"] for row in rows] == [sources[JINJIANG], sources[QUANZHOU], sources[QUANZHOU],
                                               sources[JINJIANG]]
    assert rows[2]["item"] == "宣传展板" and rows[2]["note"] == "" and rows[1]["payee"] == ""
    assert set(rows[0]) == {"entry_date", "item", "category", "amount_fen", "payee", "source", "note"}


def test_every_bad_row_is_reported_by_its_number_and_nothing_is_returned(sources):
    bad = [
        ["2024-05-06", "好的一行", "设施设备", "100", "甲", JINJIANG, ""],  # row 2: fine
        ["2024-05-06", "三位小数", "设施设备", "1.234", "甲", JINJIANG, ""],  # row 3
        ["2024-05-06", "负数", "设施设备", -5, "甲", JINJIANG, ""],  # row 4
        ["2024-05-06", "不是数", "设施设备", "abc", "甲", JINJIANG, ""],  # row 5
        ["2024-02-30", "没有这一天", "设施设备", "10", "甲", JINJIANG, ""],  # row 6
        ["2024-05-06", "未知类别", "吃喝", "10", "甲", JINJIANG, ""],  # row 7
        ["2024-05-06", "未知来源", "其他", "10", "甲", "天上掉下来", ""],  # row 8
        ["", "", "其他", "0", "", "", "x" * 301],  # row 9: everything wrong at once
        ["2024-05-06", "太多", "其他", "10000000000.01", "甲", JINJIANG, ""],  # row 10
    ]
    rows, errors = parse_spending(_xlsx(bad), sources)
    assert rows == []
    by_row = dict(errors)
    assert sorted(by_row) == [3, 4, 5, 6, 7, 8, 9, 10] and len(errors) == 8
    assert "两位小数" in by_row[3]
    assert "大于零" in by_row[4]
    assert "不是数字" in by_row[5]
    assert "2024-02-30" in by_row[6] and "日期" in by_row[6]
    assert "吃喝" in by_row[7] and "设施设备" in by_row[7]
    assert "天上掉下来" in by_row[8] and JINJIANG in by_row[8]
    for word in ("日期为空", "支出项目为空", "大于零", "资金来源为空", "备注超过"):
        assert word in by_row[9]
    assert "过大" in by_row[10]


@pytest.mark.parametrize("header, word", [
    ((*IMPORT_COLUMNS[:3], "金额", *IMPORT_COLUMNS[4:]), "缺少列：金额（元）"),
    (IMPORT_COLUMNS[:-1], "缺少列：备注"),
    ((*IMPORT_COLUMNS, "经办人"), "经办人"),
    ((IMPORT_COLUMNS[1], IMPORT_COLUMNS[0], *IMPORT_COLUMNS[2:]), "顺序"),
])
def test_a_wrong_header_is_one_error_at_row_1(sources, header, word):
    rows, errors = parse_spending(_xlsx([["2024-05-06", "a", "其他", "1", "", JINJIANG, "", ""]], header), sources)
    assert rows == []
    assert len(errors) == 1 and errors[0][0] == 1
    assert word in errors[0][1] and "、".join(IMPORT_COLUMNS) in errors[0][1]


def test_half_width_brackets_in_the_header_are_accepted(sources):
    header = [name.replace("（", "(").replace("）", ")") for name in IMPORT_COLUMNS]
    rows, errors = parse_spending(_xlsx([["2024-05-06", "a", "其他", "1", "", JINJIANG, ""]], header), sources)
    assert errors == [] and rows[0]["amount_fen"] == 100


def test_only_xlsx_files_are_read(sources):
    for data in (b"%PDF-1.4 not a workbook", "日期,支出项目\n".encode(), b""):
        rows, errors = parse_spending(data, sources)
        assert rows == [] and len(errors) == 1 and errors[0][0] == 0


def test_an_empty_file_says_so(sources):
    rows, errors = parse_spending(_xlsx([]), sources)
    assert rows == [] and errors == [(0, "文件中没有数据行。")]


def test_the_template_imports_back_as_it_is(sources):
    data = template()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [cell.value for cell in sheet[1]] == list(IMPORT_COLUMNS)
    rows, errors = parse_spending(data, sources)
    assert errors == [] and len(rows) == 1
    assert rows[0]["amount_fen"] == 128_050 and rows[0]["source"] is sources[JINJIANG]
    assert rows[0]["entry_date"] == date(2024, 5, 31)


@pytest.mark.parametrize("text, fen", [
    ("0.30000000000000004", 30),  # a double's noise beyond Excel's 15 digits is not a third decimal
    ("2999.9999999999995", 300_000),
    ("1e3", 100_000),
    ("30,000.50", 3_000_050),
    ("1_0", None),
    ("NaN", None),
    ("1.001", None),
])
def test_amounts(ctx, text, fen):
    from app.funding.importing import _parse_amount

    assert _parse_amount(text)[0] == fen

"""The offline scoring workbook: built, filled in as Excel would, read back; every kind of wrong upload refused."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.programmes.models import Programme
from app.scoring import operations
from app.scoring.models import Assignment, Criterion, CriterionKind, Score, SheetStatus, VetoCondition
from reports import scoring_workbook
from reports.scoring_workbook import SHEET_NAME, CellError, SheetRow
from tests.applications.helpers import communities_of


@dataclass
class Setup:
    programme: int
    criteria: list[int]  # 组织领导·工作机制 (20), 组织领导·制度建设 (15), 阵地建设·议事场所 (30), bonus (5)
    veto: int
    applications: list[int]  # T-01 (安海镇), T-02 (磁灶镇)
    evaluator: int
    assignments: list[int]  # the evaluator's, for T-01 and T-02
    foreign: int  # another evaluator's assignment for T-01


@pytest.fixture
def setup(app, make_programme, make_user, places) -> Setup:
    programme_id = make_programme()
    evaluator, other = make_user("evaluator"), make_user("evaluator")
    with app.app_context():
        programme = db.session.get(Programme, programme_id)
        programme.criteria = [
            Criterion(group_name="组织领导", name="工作机制", max_points=20, sort_order=0, guidance="有专门机制得满分"),
            Criterion(group_name="组织领导", name="制度建设", max_points=15, sort_order=1),
            Criterion(group_name="阵地建设", name="议事场所", max_points=30, sort_order=2),
            Criterion(group_name="特色", name="创新做法", max_points=5, kind=CriterionKind.BONUS, sort_order=3),
        ]
        programme.vetoes = [VetoCondition(text="弄虚作假")]
        applications = []
        for number, township in enumerate([places.anhai, places.cizao], start=1):
            application = Application(programme_id=programme_id, township_id=township,
                                      community_id=communities_of(app, township, 1)[0], sequence=1,
                                      reference=f"T-0{number}", status=ApplicationStatus.ACCEPTED)
            db.session.add(application)
            applications.append(application)
        db.session.flush()
        mine = [Assignment(application_id=a.id, evaluator_id=evaluator) for a in applications]
        foreign = Assignment(application_id=applications[0].id, evaluator_id=other)
        db.session.add_all([*mine, foreign])
        db.session.commit()
        return Setup(programme_id, [c.id for c in programme.criteria], programme.vetoes[0].id,
                     [a.id for a in applications], evaluator, [a.id for a in mine], foreign.id)


# --- helpers ---------------------------------------------------------------------------------------------------


def _objects(setup: Setup):
    programme = db.session.get(Programme, setup.programme)
    evaluator = db.session.get(User, setup.evaluator)
    assignments = [db.session.get(Assignment, i) for i in setup.assignments]
    return programme, evaluator, assignments


def _build(setup: Setup) -> bytes:
    return scoring_workbook.build(*_objects(setup))


def _parse(setup: Setup, data: bytes):
    return scoring_workbook.parse(data, *_objects(setup))


def _save(book) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class Grid:
    """The 评分表 of a workbook, addressed by 编号 and header text."""

    def __init__(self, data: bytes):
        self.book = load_workbook(io.BytesIO(data))
        self.ws = self.book[SHEET_NAME]
        self.header_row = next(row for row in range(1, 20) if self.ws.cell(row, 2).value == "编号")
        self.headers = [cell.value for cell in self.ws[self.header_row]]

    def column(self, starts: str) -> str:
        index = next(i for i, header in enumerate(self.headers) if header and header.startswith(starts))
        return get_column_letter(index + 1)

    def row(self, reference: str) -> int:
        return next(row for row in range(self.header_row + 1, self.ws.max_row + 1)
                    if self.ws.cell(row, 2).value == reference)

    def cell(self, reference: str, header: str):
        return self.ws[f"{self.column(header)}{self.row(reference)}"]

    def fill(self, reference: str, values: dict[str, object]) -> None:
        """Typed as Excel keeps it: text is text even when it starts with "=" (openpyxl would make a formula)."""
        for header, value in values.items():
            cell = self.cell(reference, header)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"

    def data(self) -> bytes:
        return _save(self.book)


C1, C2, C3, BONUS, VETO, COMMENT = "组织领导·工作机制", "组织领导·制度建设", "阵地建设·议事场所", "特色·创新做法", \
    "一票否决：", "评审意见"

TYPED = {
    "T-01": {C1: 18, C2: 12.5, C3: 27, BONUS: None, VETO: "否", COMMENT: "  议事规则完善。 "},
    "T-02": {C1: 10, C2: "7", C3: 20.0, BONUS: 3, VETO: "是", COMMENT: "=材料不实"},
}


def _filled(setup: Setup) -> Grid:
    grid = Grid(_build(setup))
    for reference, values in TYPED.items():
        grid.fill(reference, values)
    return grid


# --- the workbook as built -------------------------------------------------------------------------------------


def test_built_workbook_layout(ctx, setup):
    grid = Grid(_build(setup))
    ws = grid.ws
    assert grid.book.sheetnames == [SHEET_NAME]
    assert grid.headers == [
        "key", "编号", "镇(街道)", "村(社区)",
        "组织领导·工作机制（0–20分）", "组织领导·制度建设（0–15分）", "阵地建设·议事场所（0–30分）",
        "特色·创新做法（加分项，0–5分）", "一票否决：弄虚作假", "评审意见", "状态",
    ]
    programme = db.session.get(Programme, setup.programme)
    assert programme.name in ws["B1"].value  # the title is in the first visible column
    # The hidden key column, a frozen header (and the identifying columns), validation on the scores.
    assert ws.column_dimensions["A"].hidden
    assert not ws.column_dimensions["B"].hidden
    assert ws.freeze_panes == f"E{grid.header_row + 1}"
    assert ws.protection.sheet
    first, last = grid.header_row + 1, grid.header_row + 2
    assert ws[f"A{first}"].value == f"{setup.assignments[0]}:T-01"
    assert [ws.cell(row, 2).value for row in (first, last)] == ["T-01", "T-02"]
    assert ws[f"K{first}"].value == "待评分"
    validations = {str(v.sqref): v for v in ws.data_validations.dataValidation}
    for letter, maximum in zip("EFGH", (20, 15, 30, 5), strict=True):
        rule = validations[f"{letter}{first}:{letter}{last}"]
        assert (rule.type, rule.formula1, rule.formula2) == ("decimal", "0", str(maximum))
        assert rule.operator in (None, "between")  # "between" is the default, left out of the file
        assert rule.showErrorMessage and "0 至" in rule.error
    assert validations[f"I{first}:I{last}"].type == "list"
    assert validations[f"E{first}:E{last}"].prompt == "有专门机制得满分"
    # Header cells are locked (the sheet is protected); data cells are not.
    assert ws.cell(grid.header_row, 5).protection.locked
    assert not ws[f"E{first}"].protection.locked


def test_only_the_evaluators_own_assignments_are_written(ctx, setup):
    programme, evaluator, assignments = _objects(setup)
    data = scoring_workbook.build(programme, evaluator, [*assignments, db.session.get(Assignment, setup.foreign)])
    grid = Grid(data)
    keys = [grid.ws.cell(row, 1).value for row in range(grid.header_row + 1, grid.ws.max_row + 1)]
    assert keys == [f"{setup.assignments[0]}:T-01", f"{setup.assignments[1]}:T-02"]


def test_existing_scores_are_prefilled(ctx, setup):
    programme, _evaluator, assignments = _objects(setup)
    c1, c2, _c3, _bonus = setup.criteria
    operations.save_sheet(assignments[0], {c1: 35, c2: 20}, [setup.veto], "已看过")
    grid = Grid(_build(setup))
    assert grid.cell("T-01", C1).value == 17.5
    assert grid.cell("T-01", C2).value == 10
    assert grid.cell("T-01", C3).value is None
    assert grid.cell("T-01", VETO).value == "是"
    assert grid.cell("T-01", COMMENT).value == "已看过"
    assert grid.cell("T-01", "状态").value == "评分中"
    assert grid.cell("T-02", VETO).value == "否"
    # Read back untouched, it is what is stored.
    rows, errors = _parse(setup, grid.data())
    assert errors == []
    assert rows[0] == SheetRow(assignments[0].id, {c1: 35, c2: 20, _c3: None, _bonus: None}, [setup.veto], "已看过")


# --- the round trip -------------------------------------------------------------------------------------------


def test_round_trip_and_save(ctx, setup):
    c1, c2, c3, bonus = setup.criteria
    grid = _filled(setup)
    # Sorting whole rows is fine: key and 编号 move together.
    ws, first = grid.ws, grid.header_row + 1
    row_one = [(cell.value, cell.data_type) for cell in ws[first]]
    row_two = [(cell.value, cell.data_type) for cell in ws[first + 1]]
    for col, (one, two) in enumerate(zip(row_one, row_two, strict=True), start=1):
        for row, (value, data_type) in ((first, two), (first + 1, one)):
            ws.cell(row, col).value = value
            ws.cell(row, col).data_type = data_type

    rows, errors = _parse(setup, grid.data())
    assert errors == []
    assert sorted(rows, key=lambda r: r.assignment_id) == [
        SheetRow(setup.assignments[0], {c1: 36, c2: 25, c3: 54, bonus: None}, [], "议事规则完善。"),
        SheetRow(setup.assignments[1], {c1: 20, c2: 14, c3: 40, bonus: 6}, [setup.veto], "=材料不实"),
    ]

    for row in rows:
        operations.save_sheet(db.session.get(Assignment, row.assignment_id), row.half_points, row.veto_ids,
                              row.comment)
    db.session.commit()
    stored = db.session.execute(
        sa.select(Score.assignment_id, Score.criterion_id, Score.half_points).order_by(Score.assignment_id,
                                                                                       Score.criterion_id)
    ).all()
    assert [tuple(s) for s in stored] == sorted([
        (setup.assignments[0], c1, 36), (setup.assignments[0], c2, 25), (setup.assignments[0], c3, 54),
        (setup.assignments[1], c1, 20), (setup.assignments[1], c2, 14), (setup.assignments[1], c3, 40),
        (setup.assignments[1], bonus, 6),
    ])
    second = db.session.get(Assignment, setup.assignments[1])
    assert second.veto_ids == [setup.veto] and second.comment == "=材料不实"
    assert second.status == SheetStatus.DRAFT

    # Downloaded again and uploaded unchanged: the same values (the comment's formula guard is undone).
    again, errors = _parse(setup, _build(setup))
    assert errors == []
    assert sorted(again, key=lambda r: r.assignment_id) == sorted(rows, key=lambda r: r.assignment_id)


def test_blank_cells_clear_a_score(ctx, setup):
    c1, *_ = setup.criteria
    assignment = db.session.get(Assignment, setup.assignments[0])
    operations.save_sheet(assignment, {c1: 30}, [], "")
    grid = Grid(_build(setup))
    grid.fill("T-01", {C1: None})
    rows, errors = _parse(setup, grid.data())
    assert errors == []
    assert rows[0].half_points[c1] is None


# --- refused uploads ------------------------------------------------------------------------------------------


def _assert_refused(setup: Setup, data: bytes, expected: list[tuple[str, int, str]], fragment: str) -> list:
    rows, errors = _parse(setup, data)
    assert rows == []
    assert [(e.sheet, e.row, e.column) for e in errors] == expected, errors
    assert all(fragment in e.message for e in errors), [e.message for e in errors]
    return errors


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(20.5, "不能超过 20 分"), (-1, "不能为负数"), ("八十", "须为数字"), (7.3, "整数或半分"), (True, "须为数字")],
)
def test_bad_scores(ctx, setup, value, fragment):
    grid = _filled(setup)
    grid.fill("T-02", {C1: value})
    _assert_refused(setup, grid.data(), [(SHEET_NAME, grid.row("T-02"), "E")], fragment)


def test_every_bad_cell_is_reported(ctx, setup):
    grid = _filled(setup)
    grid.fill("T-01", {C3: 31, BONUS: "很多"})
    grid.fill("T-02", {VETO: "maybe", COMMENT: "长" * 2001})
    rows, errors = _parse(setup, grid.data())
    assert rows == []
    assert [(e.row, e.column) for e in errors] == [
        (grid.row("T-01"), "G"), (grid.row("T-01"), "H"), (grid.row("T-02"), "I"), (grid.row("T-02"), "J"),
    ]
    assert "2,000" in errors[3].message or "2000" in errors[3].message
    assert str(errors[0]).startswith(f"工作表“{SHEET_NAME}”，第 {grid.row('T-01')} 行，G 列：")


def test_bad_veto(ctx, setup):
    grid = _filled(setup)
    grid.fill("T-01", {VETO: "maybe"})
    _assert_refused(setup, grid.data(), [(SHEET_NAME, grid.row("T-01"), "I")], "“是”或“否”")


def test_extra_sheet(ctx, setup):
    grid = _filled(setup)
    grid.book.create_sheet("Sheet2")
    _assert_refused(setup, grid.data(), [("Sheet2", 0, "")], "多余的工作表")


def test_missing_sheet(ctx, setup):
    grid = _filled(setup)
    grid.ws.title = "Sheet1"
    errors = _parse(setup, grid.data())[1]
    assert [(e.sheet, e.row, e.column) for e in errors] == [("Sheet1", 0, ""), (SHEET_NAME, 0, "")]


def test_merged_cell(ctx, setup):
    grid = _filled(setup)
    row = grid.row("T-01")
    grid.ws.merge_cells(f"J{row}:K{row}")
    _assert_refused(setup, grid.data(), [(SHEET_NAME, row, "J")], "合并")


def test_renamed_header(ctx, setup):
    grid = _filled(setup)
    grid.ws.cell(grid.header_row, 6).value = "制度建设"
    errors = _assert_refused(setup, grid.data(), [(SHEET_NAME, grid.header_row, "F")], "表头应为")
    assert "组织领导·制度建设（0–15分）" in errors[0].message


def test_moved_columns(ctx, setup):
    grid = _filled(setup)
    ws, header = grid.ws, grid.header_row
    for row in range(header, ws.max_row + 1):  # swap the columns 工作机制 and 制度建设, headers and all
        ws[f"E{row}"].value, ws[f"F{row}"].value = ws[f"F{row}"].value, ws[f"E{row}"].value
    _assert_refused(setup, grid.data(), [(SHEET_NAME, header, "E"), (SHEET_NAME, header, "F")], "表头应为")


def test_added_column(ctx, setup):
    grid = _filled(setup)
    grid.ws.cell(grid.header_row, 12).value = "备注"
    _assert_refused(setup, grid.data(), [(SHEET_NAME, grid.header_row, "L")], "多出的列")


def test_deleted_key_column(ctx, setup):
    grid = _filled(setup)
    grid.ws.delete_cols(1)
    errors = _assert_refused(setup, grid.data(), [(SHEET_NAME, grid.header_row, get_column_letter(i))
                                                  for i in range(1, 12)], "表头应为")
    assert "“key”，实际为“编号”" in errors[0].message


def test_missing_header_row(ctx, setup):
    grid = _filled(setup)
    grid.ws.delete_rows(grid.header_row)
    _assert_refused(setup, grid.data(), [(SHEET_NAME, 0, "")], "找不到表头")


def test_moved_reference_cells(ctx, setup):
    """Only the 编号 cells of two rows swapped: the hidden keys no longer match."""
    grid = _filled(setup)
    one, two = grid.row("T-01"), grid.row("T-02")
    grid.ws[f"B{one}"].value, grid.ws[f"B{two}"].value = "T-02", "T-01"
    _assert_refused(setup, grid.data(), [(SHEET_NAME, one, "B"), (SHEET_NAME, two, "B")], "校验码不一致")


def test_missing_key(ctx, setup):
    grid = _filled(setup)
    row = grid.ws.max_row + 1
    grid.ws[f"B{row}"].value, grid.ws[f"E{row}"].value = "T-03", 10
    _assert_refused(setup, grid.data(), [(SHEET_NAME, row, "A")], "校验码")


def test_another_evaluators_assignment(ctx, setup):
    grid = _filled(setup)
    row = grid.row("T-01")
    grid.ws[f"A{row}"].value = f"{setup.foreign}:T-01"
    _assert_refused(setup, grid.data(), [(SHEET_NAME, row, "")], "不是您在本项目中的评审任务")


def test_duplicated_row(ctx, setup):
    grid = _filled(setup)
    source, target = grid.row("T-01"), grid.ws.max_row + 1
    for col in range(1, 12):
        grid.ws.cell(target, col).value = grid.ws.cell(source, col).value
    _assert_refused(setup, grid.data(), [(SHEET_NAME, target, "")], "只能出现一次")


def test_text_outside_the_table(ctx, setup):
    grid = _filled(setup)
    row = grid.row("T-02")
    grid.ws[f"M{row}"].value = "备忘"
    _assert_refused(setup, grid.data(), [(SHEET_NAME, row, "M")], "表格以外")


def test_submitted_sheet(ctx, setup):
    c1, c2, c3, _bonus = setup.criteria
    assignment = db.session.get(Assignment, setup.assignments[0])
    operations.save_sheet(assignment, {c1: 30, c2: 20, c3: 50}, [], "已提交")
    operations.submit_sheet(assignment)
    db.session.commit()

    # Unchanged, the submitted row is simply not returned; the other one is.
    grid = Grid(_build(setup))
    assert grid.cell("T-01", "状态").value == "已提交"
    grid.fill("T-02", TYPED["T-02"])
    rows, errors = _parse(setup, grid.data())
    assert errors == []
    assert [row.assignment_id for row in rows] == [setup.assignments[1]]

    # Changed, it is refused at each changed cell, and nothing is returned.
    grid.fill("T-01", {C2: 11, COMMENT: "改了"})
    _assert_refused(setup, grid.data(), [(SHEET_NAME, grid.row("T-01"), "F"), (SHEET_NAME, grid.row("T-01"), "J")],
                    "已提交锁定")


def test_uncalculated_formula(ctx, setup):
    grid = _filled(setup)
    grid.cell("T-01", C1).value = "=10+5"  # a formula; openpyxl stores no result, as some generators do
    _assert_refused(setup, grid.data(), [(SHEET_NAME, grid.row("T-01"), "E")], "公式")


def test_error_value(ctx, setup):
    """What Excel keeps for a comment typed as "=材料不实": a formula whose result is #NAME?."""
    grid = _filled(setup)
    cell = grid.cell("T-02", COMMENT)
    cell.value, cell.data_type = "#NAME?", "e"
    _assert_refused(setup, grid.data(), [(SHEET_NAME, grid.row("T-02"), "J")], "#NAME?")


@pytest.mark.parametrize("data", [b"PK\x03\x04" + b"\x00garbage" * 20, "编号,得分\nT-01,80\n".encode(), b""])
def test_not_a_workbook(ctx, setup, data):
    rows, errors = _parse(setup, data)
    assert rows == []
    assert errors == [CellError("", 0, "", errors[0].message)]
    assert "xlsx" in errors[0].message


def test_a_workbook_of_something_else(ctx, setup):
    book = Workbook()
    book.active["A1"] = "hello"
    _assert_refused(setup, _save(book), [("Sheet", 0, ""), (SHEET_NAME, 0, "")], "工作表")

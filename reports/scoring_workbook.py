"""The offline scoring workbook: an evaluator downloads their sheets of one programme, fills them in Excel and
uploads the file again.

``build`` writes one sheet, 评分表, through :func:`reports.xlsx.write_workbook`: a hidden ``key`` column
(``"{assignment id}:{reference}"``), 编号, 镇(街道), 村(社区), one column per criterion, one per veto condition
(是/否), 评审意见 and 状态 (for information; never read back).

``parse`` checks every cell and returns the rows to save only when nothing is wrong (all or nothing); each error
names the sheet, the Excel row and the column letter. The key lets it tell which sheet a row is: sorting whole
rows is fine (key and 编号 move together), editing or moving only some cells of a row is refused. Rows of a sheet
already submitted must be unchanged and are not returned. Saving is the caller's: ``operations.save_sheet`` for
each row, in one transaction.
"""

from __future__ import annotations

import io
import unicodedata
import warnings
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import ngettext
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from app.accounts.models import User
from app.files.storage import detect_kind
from app.programmes.models import Programme
from app.scoring.models import Assignment, Criterion, CriterionKind, Score, SheetStatus, VetoCondition
from app.statements import select_rows
from reports.xlsx import Column, Sheet, neutralise, write_workbook

SHEET_NAME = "评分表"
KEY_HEADER = "key"
MAX_COMMENT_LENGTH = 2000
# How far down the header row is looked for (title, subtitle and notes come first).
_HEADER_SEARCH_ROWS = 20


def _yes() -> str:
    return _("是")


def _no() -> str:
    return _("否")


def _criterion_header(criterion: Criterion) -> str:
    if criterion.kind == CriterionKind.BONUS:
        return ngettext("%(group)s·%(name)s（加分项，0–%(num)d分）", "%(group)s·%(name)s（加分项，0–%(num)d分）",
                        criterion.max_points, group=criterion.group_name, name=criterion.name)
    return ngettext("%(group)s·%(name)s（0–%(num)d分）", "%(group)s·%(name)s（0–%(num)d分）", criterion.max_points,
                    group=criterion.group_name, name=criterion.name)


def _veto_header(veto: VetoCondition) -> str:
    return _("一票否决：") + veto.text


def _columns(criteria: list[Criterion], vetoes: list[VetoCondition]) -> list[Column]:
    return [
        Column("key", KEY_HEADER, hidden=True, width=12),
        Column("reference", _("编号")),
        Column("township", _("镇(街道)")),
        Column("community", _("村(社区)")),
        *[
            Column(f"c{c.id}", _criterion_header(c), "decimal", width=14, number_range=(0, c.max_points),
                   validation_message=_("请输入 0 至 %(max)d 之间的得分，可为整数或半分（如 12.5）。",
                                        max=c.max_points),
                   help=c.guidance or "")
            for c in criteria
        ],
        *[Column(f"v{v.id}", _veto_header(v), width=12, choices=[_yes(), _no()],
                 validation_message=_("请填写“是”或“否”，留空表示“否”。")) for v in vetoes],
        Column("comment", _("评审意见"), width=40),
        Column("status", _("状态"), width=10),
    ]


def _key(assignment: Assignment) -> str:
    return f"{assignment.id}:{assignment.application.reference}"


def _own(assignments: list[Assignment], programme: Programme, evaluator: User) -> list[Assignment]:
    """The assignments that really are this evaluator's in this programme, whatever the caller passed."""
    return [a for a in assignments
            if a.evaluator_id == evaluator.id and a.application.programme_id == programme.id]


def _scores_of(assignment_ids: list[int]) -> dict[int, dict[int, int | None]]:
    """{assignment id: {criterion id: half points}} in one query: read as plain rows, since a province evaluator's
    workbook has some 26,000 scores (as entities, 40 MB of a worker)."""
    scores: dict[int, dict[int, int | None]] = {assignment_id: {} for assignment_id in assignment_ids}
    if assignment_ids:
        for assignment_id, criterion_id, half_points in select_rows(
                sa.select(Score.assignment_id, Score.criterion_id, Score.half_points)
                .where(Score.assignment_id.in_(sa.bindparam("ids", expanding=True))), ids=assignment_ids):
            scores[assignment_id][criterion_id] = half_points
    return scores


def build(programme: Programme, evaluator: User, assignments: list[Assignment]) -> bytes:
    """``assignments``: the evaluator's, with application, township and community loaded (scores are read here)."""
    criteria, vetoes = list(programme.criteria), list(programme.vetoes)
    own = sorted(_own(assignments, programme, evaluator), key=lambda a: a.application.reference)
    scores_of = _scores_of([assignment.id for assignment in own])

    def rows():
        for assignment in own:
            application = assignment.application
            scores = scores_of[assignment.id]
            found = set(assignment.veto_ids or [])
            yield {
                "key": _key(assignment),
                "reference": application.reference,
                "township": application.township.name,
                "community": application.community.name,
                **{f"c{c.id}": Decimal(scores[c.id]) / 2 for c in criteria if c.id in scores},
                **{f"v{v.id}": _yes() if v.id in found else _no() for v in vetoes},
                "comment": assignment.comment or "",
                "status": assignment.status.title,
            }

    sheet = Sheet(
        SHEET_NAME,
        _columns(criteria, vetoes),
        rows(),
        title=_("%(programme)s 评分表（评审人：%(evaluator)s）", programme=programme.name, evaluator=evaluator.label),
        notes=[
            _("得分填整数或半分（如 12.5），留空表示尚未评分；一票否决填“是”或“否”（留空为“否”）。"),
            _("可以排序整行，但请勿增删、移动或重命名列，请勿合并单元格，请勿另加工作表；已提交的评分表在此不能修改。"),
        ],
        freeze_columns=4,
        protect=True,
        header_height=48,
    )
    return write_workbook([sheet], subtitle=_("填写后请在系统中上传本文件；任何一处有误，整个文件都不会保存。"))


# --- reading it back --------------------------------------------------------------------------------------------


@dataclass
class SheetRow:
    assignment_id: int
    half_points: dict[int, int | None]
    veto_ids: list[int]
    comment: str


@dataclass
class CellError:
    sheet: str
    row: int  # the Excel row number; 0 for the whole sheet or file
    column: str  # the Excel column letter; '' for the whole row, sheet or file
    message: str

    def __str__(self) -> str:
        where = []
        if self.sheet:
            where.append(_("工作表“%(name)s”", name=self.sheet))
        if self.row:
            where.append(_("第 %(row)d 行", row=self.row))
        if self.column:
            where.append(_("%(column)s 列", column=self.column))
        return ("，".join(where) + "：" if where else "") + self.message


def _text(value: Any) -> str:
    """A cell as text, as typed (the writer's neutralising apostrophe taken off again)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if text.startswith("'") and neutralise(text[1:]) == text:
        text = text[1:]
    return text


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _points(value: Any) -> Decimal | None:
    """A score cell as a Decimal; None for text that is no number (booleans and dates are no numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        number = Decimal(repr(value))  # the shortest repr: 7.3 is 7.3, not 7.29999…
    elif isinstance(value, str):
        try:
            number = Decimal(unicodedata.normalize("NFKC", value).strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def parse(data: bytes, programme: Programme, evaluator: User,
          assignments: list[Assignment]) -> tuple[list[SheetRow], list[CellError]]:
    """The rows to save, or no rows and every error found."""
    if detect_kind(data) != "xlsx":
        return [], [CellError("", 0, "", _("文件不是有效的 Excel（.xlsx）文件，请上传从本系统下载并填写的评分表。"))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about extensions it does not read
            book = load_workbook(io.BytesIO(data), read_only=False, data_only=True)
            formulas = load_workbook(io.BytesIO(data), read_only=False, data_only=False)
    except Exception:  # noqa: BLE001 - any reader failure means the same thing to the user
        return [], [CellError("", 0, "", _("无法读取该 Excel 文件，文件可能已损坏，请重新下载评分表填写。"))]

    errors: list[CellError] = []
    for name in book.sheetnames:
        if name != SHEET_NAME:
            errors.append(CellError(name, 0, "", _("多余的工作表：评分表只能有一个名为“%(name)s”的工作表。",
                                                    name=SHEET_NAME)))
    if SHEET_NAME not in book.sheetnames:
        errors.append(CellError(SHEET_NAME, 0, "", _("缺少名为“%(name)s”的工作表。", name=SHEET_NAME)))
        return [], errors
    ws = book[SHEET_NAME]
    if not hasattr(ws, "merged_cells"):  # a chart sheet of that name
        return [], errors + [CellError(SHEET_NAME, 0, "", _("“%(name)s”不是表格。", name=SHEET_NAME))]
    for merged in sorted(ws.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col)):
        errors.append(CellError(SHEET_NAME, merged.min_row, get_column_letter(merged.min_col),
                                _("不能合并单元格（%(range)s），请取消合并。", range=merged.coord)))

    criteria, vetoes = list(programme.criteria), list(programme.vetoes)
    columns = _columns(criteria, vetoes)
    expected = [col.header for col in columns]
    letter = {col.key: get_column_letter(index + 1) for index, col in enumerate(columns)}
    position = {col.key: index for index, col in enumerate(columns)}

    grid: list[list[Any]] = []
    error_values: set[tuple[int, int]] = set()  # (row, column) of cells holding an Excel error (#NAME? …)
    for row in ws.iter_rows():
        grid.append([cell.value for cell in row])
        error_values.update((cell.row, cell.column) for cell in row if cell.data_type == "e")
    # The header row: the first one with 编号 among its first cells (so a deleted or added first column is
    # reported at the header, not as a missing header).
    header_index = next(
        (i for i, row in enumerate(grid[:_HEADER_SEARCH_ROWS])
         if expected[1] in [_text(value).strip() for value in row[:3]]),
        None,
    )
    if header_index is None:
        errors.append(CellError(SHEET_NAME, 0, "",
                                _("找不到表头行（编号等列）；请勿删除或移动表头，请重新下载评分表填写。")))
        return [], errors
    header_row = header_index + 1
    found = grid[header_index]
    for index in range(max(len(found), len(expected))):
        got = _text(found[index]).strip() if index < len(found) else ""
        want = expected[index] if index < len(expected) else ""
        if got != want:
            if want:
                message = _("表头应为“%(expected)s”，实际为“%(found)s”：请勿移动、重命名或增删列。",
                            expected=want, found=got)
            else:
                message = _("多出的列“%(found)s”：请勿增加列。", found=got)
            errors.append(CellError(SHEET_NAME, header_row, get_column_letter(index + 1), message))
    if errors:
        return [], errors

    own = {a.id: a for a in _own(assignments, programme, evaluator)}
    formula_sheet = formulas[SHEET_NAME]
    rows: list[SheetRow] = []
    seen: dict[int, int] = {}  # assignment id -> the Excel row it was first seen in
    for index in range(header_index + 1, len(grid)):
        excel_row = index + 1
        cells = grid[index] + [None] * (len(expected) - len(grid[index]))
        if all(_blank(value) for value in cells):
            continue
        row_errors: list[CellError] = []

        def error(key: str | None, message: str, *, _row=excel_row, _errors=row_errors) -> None:
            _errors.append(CellError(SHEET_NAME, _row, letter[key] if key else "", message))

        for extra in range(len(expected), len(cells)):
            if not _blank(cells[extra]):
                row_errors.append(CellError(SHEET_NAME, excel_row, get_column_letter(extra + 1),
                                            _("表格以外的单元格有内容：请只在评分表的列中填写。")))
        for col_index in range(len(expected)):
            # A formula is read by its result; one without a result, or with an error, is refused.
            formula = formula_sheet.cell(excel_row, col_index + 1)
            if (excel_row, col_index + 1) in error_values:
                message = _("单元格的值是错误“%(value)s”：请直接填写内容，不要以“=”开头。",
                            value=_text(cells[col_index]))
            elif cells[col_index] is None and formula.data_type == "f":
                message = _("公式没有计算结果：请直接填写内容，不要以“=”开头。")
            else:
                continue
            cells[col_index] = None  # reported once, here
            row_errors.append(CellError(SHEET_NAME, excel_row, get_column_letter(col_index + 1), message))

        assignment = _identify(cells, position, own, error)
        if assignment is not None:
            if assignment.id in seen:
                error(None, _("与第 %(row)d 行是同一个申报（%(reference)s），每个申报只能出现一次。",
                              row=seen[assignment.id], reference=assignment.application.reference))
                assignment = None
            else:
                seen[assignment.id] = excel_row

        half_points: dict[int, int | None] = {}
        for criterion in criteria:
            key = f"c{criterion.id}"
            half_points[criterion.id] = _score(cells[position[key]], criterion, lambda m, k=key: error(k, m))
        veto_ids = []
        for veto in vetoes:
            key = f"v{veto.id}"
            value = cells[position[key]]
            text = value.strip() if isinstance(value, str) else value
            if _blank(value) or text == _no():
                continue
            if text == _yes():
                veto_ids.append(veto.id)
            else:
                error(key, _("一票否决只能填“是”或“否”（留空为“否”），不能填“%(value)s”。", value=_text(value)))
        comment = _text(cells[position["comment"]]).strip()
        if len(comment) > MAX_COMMENT_LENGTH:
            error("comment", _("评审意见不能超过 %(max)d 字（现有 %(count)d 字）。", max=MAX_COMMENT_LENGTH,
                               count=len(comment)))

        if assignment is not None and not row_errors and assignment.status == SheetStatus.SUBMITTED:
            stored = {c.id: None for c in criteria} | {s.criterion_id: s.half_points for s in assignment.scores}
            locked = _("该评分表已提交锁定，不能修改；如需修改，请联系市民政局退回。")
            for criterion in criteria:
                if half_points[criterion.id] != stored[criterion.id]:
                    error(f"c{criterion.id}", locked)
            stored_vetoes = set(assignment.veto_ids or [])
            for veto in vetoes:
                if (veto.id in veto_ids) != (veto.id in stored_vetoes):
                    error(f"v{veto.id}", locked)
            if comment != (assignment.comment or "").strip():
                error("comment", locked)
            if not row_errors:
                continue  # unchanged: nothing to save
        errors.extend(row_errors)
        if assignment is not None and not row_errors:
            rows.append(SheetRow(assignment.id, half_points, veto_ids, comment))
    return ([] if errors else rows), errors


def _identify(cells: list[Any], position: dict[str, int], own: dict[int, Assignment], error) -> Assignment | None:
    """The assignment a row is, from its hidden key checked against its 编号; None (and an error) if unsure."""
    key_text = _text(cells[position["key"]]).strip()
    reference = _text(cells[position["reference"]]).strip()
    if not key_text:
        error("key", _("该行缺少隐藏的校验码（A 列）：请勿新增行或清除整列，请重新下载评分表填写。"))
        return None
    number, _sep, key_reference = key_text.partition(":")
    if not number.isdigit() or not key_reference:
        error("key", _("该行隐藏的校验码（A 列）已被修改，请重新下载评分表填写。"))
        return None
    if reference != key_reference:
        error("reference", _("编号“%(reference)s”与该行的校验码不一致：行内单元格被单独移动或修改过；"
                             "排序时请选中整行。", reference=reference))
        return None
    assignment = own.get(int(number))
    if assignment is None or assignment.application.reference != key_reference:
        error(None, _("编号 %(reference)s 不是您在本项目中的评审任务，请删除该行。", reference=reference))
        return None
    return assignment


def _score(value: Any, criterion: Criterion, error) -> int | None:
    if _blank(value):
        return None
    number = _points(value)
    if number is None:
        error(_("“%(name)s”的得分须为数字，不能填“%(value)s”。", name=criterion.name, value=_text(value)))
        return None
    if number < 0:
        error(_("“%(name)s”的得分不能为负数。", name=criterion.name))
        return None
    if number > criterion.max_points:
        error(_("“%(name)s”的得分不能超过 %(max)d 分。", name=criterion.name, max=criterion.max_points))
        return None
    doubled = number * 2
    if doubled != doubled.to_integral_value():
        error(_("“%(name)s”的得分只能是整数或半分（如 12.5），不能填 %(value)s。", name=criterion.name,
                value=_text(value)))
        return None
    return int(doubled)

"""Excel (.xlsx) sheets in and out with openpyxl: a header row of `中文 (key)` labels, one record per row.

Reading is lenient about layout (column order, header in Chinese or the key) and strict about content:
problems come back as (row, column, what was expected), and the caller writes nothing if there is one. A workbook
is refused before it is read when it unpacks to more than MAX_UNPACKED_BYTES or holds more than MAX_ROWS rows;
XML entities are refused (openpyxl reads through defusedxml); nothing a workbook holds makes a 500.
"""

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zipfile import BadZipFile, ZipFile

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_ROWS = 200_000
_CHINESE_DATE = re.compile(r"^\s*(\d{4})\s*[/年.-]\s*(\d{1,2})\s*[/月.-]\s*(\d{1,2})\s*日?\s*$")


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a sheet: the key records use, its Chinese label, and a note for the template."""

    key: str
    label: str
    note: str = ""
    choices: tuple[str, ...] = ()
    width: int = 14

    @property
    def header(self) -> str:
        """The header cell's text."""
        return f"{self.label} ({self.key})"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One problem in an uploaded sheet; row 1 is the header, `column` is the key."""

    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, object]:
        """For JSON answers."""
        return {"row": self.row, "column": self.column, "message": self.message}


class SheetRejected(ValueError):
    """An upload with problems; nothing of it was written."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s); nothing was imported")
        self.problems = problems


def _append_text(ws: Any, values: list[Any], row: int) -> None:
    """Append row number `row`, its strings kept text: a user's `=…` never becomes a formula in anyone's Excel."""
    ws.append(values)
    for column, value in enumerate(values, start=1):
        if isinstance(value, str) and value.startswith("="):
            ws.cell(row=row, column=column).data_type = "s"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A string a spreadsheet would run as a formula (`= + - @`, tab, CR first), prefixed with `'` to stay text."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def write_workbook(title: str, columns: Sequence[Column], rows: Iterable[dict[str, Any]], notes: str) -> bytes:
    """A workbook with the records on sheet `title` and a 说明 sheet documenting each column."""
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.append([c.header for c in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, c in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = c.width
        if c.choices:
            dv = DataValidation(type="list", formula1='"' + ",".join(c.choices) + '"', allow_blank=True)
            dv.add(f"{get_column_letter(i)}2:{get_column_letter(i)}10000")
            ws.add_data_validation(dv)
    for n, row in enumerate(rows, start=2):
        _append_text(ws, [row.get(c.key) for c in columns], n)
    ws.freeze_panes = "A2"
    help_ws = wb.create_sheet("说明")
    help_ws.append([notes])
    help_ws.append([])
    help_ws.append(["列 (column)", "说明 (meaning)"])
    for c in columns:
        help_ws.append([c.header, c.note + (f" ({' / '.join(c.choices)})" if c.choices else "")])
    help_ws.column_dimensions["A"].width = 28
    help_ws.column_dimensions["B"].width = 80
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date() if value.time() == datetime.min.time() else value
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def read_workbook(data: bytes, title: str, columns: Sequence[Column]) -> list[tuple[int, dict[str, Any]]]:
    """The records of sheet `title` (or the first sheet) as (row number, {key: value}); SheetRejected if unreadable."""
    try:
        unpacked = sum(info.file_size for info in ZipFile(io.BytesIO(data)).infolist())
    except (BadZipFile, OSError, ValueError) as exc:
        raise SheetRejected([RowProblem(0, "", f"not an .xlsx workbook ({exc.__class__.__name__})")]) from None
    if unpacked > MAX_UNPACKED_BYTES:
        limit = f"{MAX_UNPACKED_BYTES // 2**20} MB"
        raise SheetRejected([RowProblem(0, "", f"the workbook unpacks to {unpacked // 2**20} MB, more than {limit}")])
    try:
        return _read(data, title, columns)
    except SheetRejected:
        raise
    except Exception as exc:  # not a workbook, a malformed sheet, an XML entity, a broken shared-string index
        reason = f"{exc.__class__.__name__}: {str(exc)[:120]}"
        raise SheetRejected([RowProblem(0, "", f"the workbook cannot be read ({reason})")]) from None


def _read(data: bytes, title: str, columns: Sequence[Column]) -> list[tuple[int, dict[str, Any]]]:
    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    ws = wb[title] if title in wb.sheetnames else wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None) or ()
    by_name = {c.header: c for c in columns} | {c.label: c for c in columns} | {c.key: c for c in columns}
    index: dict[int, Column] = {}
    for i, cell in enumerate(header):
        if isinstance(cell, str) and (col := by_name.get(cell.strip())) is not None:
            index[i] = col
    missing = [c for c in columns if c not in index.values() and not c.note.startswith("optional")]
    if missing:
        expected = ", ".join(c.header for c in missing)
        raise SheetRejected([RowProblem(1, "", f"header row lacks the columns {expected}")])
    records = []
    for n, values in enumerate(rows, start=2):
        if n > MAX_ROWS + 1:
            raise SheetRejected([RowProblem(n, "", f"more than {MAX_ROWS:,} rows: split the file")])
        record = {col.key: _plain(values[i]) for i, col in index.items() if i < len(values)}
        if any(v is not None for v in record.values()):
            records.append((n, record))
    wb.close()
    return records


def as_date(value: Any) -> Any:
    """Dates typed as text (`2024-03-01`, `2024/3/1`, `2024年3月1日`) read as dates; anything else is left for
    validation."""
    if isinstance(value, str):
        m = _CHINESE_DATE.match(value)
        try:
            return date(int(m[1]), int(m[2]), int(m[3])) if m else date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str | date | datetime) else str(value)


def write_tables(sheets: dict[str, list[dict[str, Any]]], about: list[tuple[str, str]]) -> bytes:
    """A workbook with one sheet per table (header from the first row's keys) and an 说明 sheet of (name, value)."""
    wb = Workbook()
    info = wb.active
    info.title = "说明"
    for n, (name, value) in enumerate(about, start=1):
        _append_text(info, [name, _cell(value)], n)
    info.column_dimensions["A"].width, info.column_dimensions["B"].width = 28, 90
    for title, rows in sheets.items():
        ws = wb.create_sheet(title[:31])
        keys = list(rows[0]) if rows else []
        ws.append(keys)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for n, row in enumerate(rows, start=2):
            _append_text(ws, [_cell(row.get(k)) for k in keys], n)
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    """Rows as UTF-8 CSV with a byte-order mark, so that Excel reads the Chinese right."""
    import csv

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [], extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: csv_safe(v) for k, v in row.items()} for row in rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")

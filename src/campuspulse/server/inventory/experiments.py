"""The experiment catalog (what each grade must do) and experiment records (what each class did).

Catalog files are CSV (`config/experiments/`); records come one by one through the API or as an Excel
sheet, validated all or nothing like the equipment ledger. A class is named `<grade>-<number>`, e.g. `8-3`.
"""

import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.config_files import ConfigError, ConfigProblem
from campuspulse.server.access.principals import Forbidden
from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.inventory.csv_text import CsvBroken, csv_rows
from campuspulse.server.inventory.dates import SupportedDate
from campuspulse.server.inventory.excel import Column, RowProblem, SheetRejected, as_date, read_workbook, write_workbook
from campuspulse.server.inventory.service import require_school
from campuspulse.store.inventory_schema import ExperimentItem, ExperimentRecord, SchoolEdition

CLASS_PATTERN = r"^(?P<grade>[1-9]|1[0-2])-(?P<number>[1-9]\d?)$"
_CLASS = re.compile(CLASS_PATTERN)
CATALOG_COLUMNS = ("code", "name", "subject", "grade", "term", "edition", "type", "required")


class ExperimentItemIn(BaseModel):
    """An experiment of the catalog."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=64)
    grade: int = Field(ge=1, le=12)
    term: int = Field(ge=1, le=2, description="1: autumn (first) term, 2: spring (second) term")
    edition: str = Field(min_length=1, max_length=64, description="textbook edition, e.g. 人教版")
    type: Literal["分组", "演示"]
    required: Literal["必做", "选做"]


class ExperimentRecordIn(BaseModel):
    """`POST /schools/{school}/experiment-records`: a class did an experiment."""

    model_config = ConfigDict(extra="forbid")
    class_: str = Field(alias="class", pattern=CLASS_PATTERN, description="<grade>-<number>, e.g. 8-3")
    experiment: str = Field(min_length=1, max_length=64, description="catalog code")
    date: SupportedDate
    teacher: str = Field(min_length=1, max_length=100)
    evidence: str = Field("", max_length=500, description="link to a photo, a lab log, or a measured lab session")

    @property
    def grade(self) -> int:
        """The grade the class is in."""
        m = _CLASS.match(self.class_)
        assert m is not None
        return int(m["grade"])


def load_catalog_csv(path: str | Path) -> list[ExperimentItemIn]:
    """Read a catalog CSV; ConfigError naming the file, row and column of every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read the file: {exc.strerror}")]) from None
    items, problems, seen = [], [], set()
    try:
        header, rows = csv_rows(text)
        if set(CATALOG_COLUMNS) - set(header):
            raise ConfigError([ConfigProblem(str(path), 1, "", f"expected the columns {','.join(CATALOG_COLUMNS)}")])
        for line, row in rows:
            try:
                item = ExperimentItemIn.model_validate({k: row[k] for k in CATALOG_COLUMNS})
            except ValidationError as exc:
                for e in exc.errors(include_url=False):
                    msg = f"{e['msg']} (got {e.get('input')!r})"
                    problems.append(ConfigProblem(str(path), line, str(e["loc"][0]), msg))
                continue
            if item.code in seen:
                problems.append(ConfigProblem(str(path), line, "code", f"{item.code!r} appears twice"))
            seen.add(item.code)
            items.append(item)
    except CsvBroken as exc:
        problems.append(ConfigProblem(str(path), exc.line, "", f"not readable as CSV ({exc.reason})"))
    if problems:
        raise ConfigError(problems)
    return items


def put_catalog_item(s: Session, item: ExperimentItemIn) -> bool:
    """Create or replace a catalog experiment; True if it was created."""
    row = s.get(ExperimentItem, item.code)
    fields = item.model_dump()
    fields["required"] = item.required == "必做"
    if row is None:
        s.add(ExperimentItem(**fields))
    else:
        for k, v in fields.items():
            setattr(row, k, v)
    s.flush()
    return row is None


def catalog_out(row: ExperimentItem) -> dict[str, object]:
    """A catalog experiment as the API shows it."""
    return {
        "code": row.code,
        "name": row.name,
        "subject": row.subject,
        "grade": row.grade,
        "term": row.term,
        "edition": row.edition,
        "type": row.type,
        "required": "必做" if row.required else "选做",
    }


def list_catalog(
    s: Session,
    subject: str | None = None,
    grade: int | None = None,
    term: int | None = None,
    edition: str | None = None,
) -> Sequence[ExperimentItem]:
    """Catalog experiments, filtered."""
    q = select(ExperimentItem).order_by(ExperimentItem.subject, ExperimentItem.grade, ExperimentItem.code)
    for column, value in (
        (ExperimentItem.subject, subject),
        (ExperimentItem.grade, grade),
        (ExperimentItem.term, term),
        (ExperimentItem.edition, edition),
    ):
        if value is not None:
            q = q.where(column == value)
    return s.scalars(q).all()


def _check(s: Session, body: ExperimentRecordIn) -> NotFound | Conflict | None:
    item = s.get(ExperimentItem, body.experiment)
    if item is None:
        return NotFound(f"{body.experiment!r} is not in the experiment catalog")
    if item.grade != body.grade:
        grades = f"a grade {item.grade} experiment; class {body.class_} is in grade {body.grade}"
        return Conflict(f"{body.experiment!r} is {grades}")
    return None


def add_record(s: Session, school: str, body: ExperimentRecordIn, by: str = "") -> ExperimentRecord:
    """Record that a class did an experiment, entered by user `by`; NotFound or Conflict if it does not fit the
    catalog."""
    require_school(s, school)
    if (problem := _check(s, body)) is not None:
        raise problem
    row = ExperimentRecord(
        school=school,
        class_=body.class_,
        grade=body.grade,
        experiment=body.experiment,
        day=body.date,
        teacher=body.teacher,
        evidence=body.evidence,
        recorded_by=by,
    )
    s.add(row)
    s.flush()
    return row


def record_out(row: ExperimentRecord) -> dict[str, Any]:
    """A record as the API shows it."""
    return {
        "id": row.id,
        "school": row.school,
        "class": row.class_,
        "grade": row.grade,
        "experiment": row.experiment,
        "date": row.day,
        "teacher": row.teacher,
        "evidence": row.evidence,
        "recorded_by": row.recorded_by,
    }


def list_records(
    s: Session, school: str, first: date | None = None, last: date | None = None, class_: str | None = None
) -> Sequence[ExperimentRecord]:
    """A school's experiment records, oldest first."""
    require_school(s, school)
    q = select(ExperimentRecord).where(ExperimentRecord.school == school)
    if first is not None:
        q = q.where(ExperimentRecord.day >= first)
    if last is not None:
        q = q.where(ExperimentRecord.day <= last)
    if class_ is not None:
        q = q.where(ExperimentRecord.class_ == class_)
    return s.scalars(q.order_by(ExperimentRecord.day, ExperimentRecord.id)).all()


def delete_record(s: Session, school: str, record_id: int, only_by: str | None = None) -> None:
    """Remove a record (the audit log keeps what it said); `only_by`: only if that user entered it."""
    row = s.get(ExperimentRecord, record_id)
    if row is None or row.school != school:
        raise NotFound(f"no experiment record {record_id} in school {school!r}")
    if only_by is not None and row.recorded_by != only_by:
        raise Forbidden(f"{only_by} may delete the records they entered; record {record_id} was entered by another")
    s.delete(row)


SHEET = "实验记录"
RECORD_COLUMNS = (
    Column("class", "班级", "<grade>-<number>, e.g. 8-3 (grade 8, class 3)", width=8),
    Column("experiment", "实验编号", "the experiment's code in the catalog", width=14),
    Column("date", "日期", "YYYY-MM-DD", width=12),
    Column("teacher", "教师", "who taught it", width=10),
    Column("evidence", "佐证", "optional: link to a photo or lab log", width=40),
)
RECORD_NOTES = "实验记录 experiment records — one row per class and experiment done."


def export_records(s: Session, school: str) -> bytes:
    """A school's experiment records as .xlsx (the layout the import reads)."""
    rows = [{**record_out(r), "date": r.day} for r in list_records(s, school)]
    return write_workbook(SHEET, RECORD_COLUMNS, rows, RECORD_NOTES)


def records_template() -> bytes:
    """An empty records sheet with the column notes."""
    return write_workbook(SHEET, RECORD_COLUMNS, [], RECORD_NOTES)


def import_records(s: Session, school: str, data: bytes, by: str = "") -> int:
    """Add every row as a record, or none if any row is wrong (SheetRejected lists why); rows already recorded
    (same class, experiment and date) are skipped, so importing an export twice adds nothing."""
    require_school(s, school)
    problems: list[RowProblem] = []
    valid: list[ExperimentRecordIn] = []
    for row, record in read_workbook(data, SHEET, RECORD_COLUMNS):
        record["date"] = as_date(record.get("date"))
        for key in ("class", "experiment", "teacher", "evidence"):
            if isinstance(record.get(key), int | float):
                record[key] = str(record[key])
        try:
            body = ExperimentRecordIn.model_validate({k: v for k, v in record.items() if v is not None})
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                problems.append(RowProblem(row, str(e["loc"][0]), f"{e['msg']} (got {e.get('input')!r})"))
            continue
        if (problem := _check(s, body)) is not None:
            problems.append(RowProblem(row, "experiment", str(problem)))
        valid.append(body)
    if problems:
        raise SheetRejected(problems)
    have = {(r.class_, r.experiment, r.day) for r in list_records(s, school)}
    added = 0
    for body in valid:
        if (body.class_, body.experiment, body.date) not in have:
            add_record(s, school, body, by)
            have.add((body.class_, body.experiment, body.date))
            added += 1
    return added


def set_editions(s: Session, school: str, editions: dict[str, str]) -> None:
    """Replace the textbook editions a school teaches with, by subject."""
    require_school(s, school)
    current = {e.subject: e for e in s.scalars(select(SchoolEdition).where(SchoolEdition.school == school))}
    for subject, edition in editions.items():
        row = current.pop(subject, None)
        if row is None:
            s.add(SchoolEdition(school=school, subject=subject, edition=edition))
        elif row.edition != edition:
            row.edition = edition
    for row in current.values():
        s.delete(row)
    s.flush()


def get_editions(s: Session, school: str) -> dict[str, str]:
    """The textbook editions a school teaches with, by subject."""
    require_school(s, school)
    return {e.subject: e.edition for e in s.scalars(select(SchoolEdition).where(SchoolEdition.school == school))}

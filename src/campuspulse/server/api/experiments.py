"""The experiment catalog (admins write, everyone reads) and each school's experiment records."""

import asyncio
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, UploadFile, status
from pydantic import StringConstraints

from campuspulse.server.access.principals import Role, require_admin, require_read, require_record_write, require_write
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.api.provisioning import answer
from campuspulse.server.api.schemas import IdPath
from campuspulse.server.deps import XLSX_RESPONSE, Db, RowId, xlsx
from campuspulse.server.errors import Conflict
from campuspulse.server.inventory import experiments
from campuspulse.server.inventory.experiments import ExperimentItemIn, ExperimentRecordIn

router = APIRouter(tags=["experiments"])


@router.get("/experiments/catalog", response_model=answers.Experiments)
def list_catalog(
    db: Db,
    _: Caller,
    subject: str | None = None,
    grade: Annotated[int | None, Query(ge=1, le=12)] = None,
    term: Annotated[int | None, Query(ge=1, le=2)] = None,
    edition: str | None = None,
) -> dict[str, object]:
    """Catalog experiments, filtered by subject, grade, term and textbook edition."""
    rows = experiments.list_catalog(db, subject, grade, term, edition)
    return {"experiments": [experiments.catalog_out(r) for r in rows]}


@router.put("/experiments/catalog/{code}", response_model=ExperimentItemIn)
def put_catalog_item(
    code: IdPath, body: ExperimentItemIn, db: Db, response: Response, caller: Caller
) -> dict[str, object]:
    """Create or replace a catalog experiment (admins); the body's code must match the path."""
    require_admin(caller, "change the experiment catalog")
    if body.code != code:
        raise Conflict(f"the body's code {body.code!r} differs from the path's {code!r}")
    created = experiments.put_catalog_item(db, body)
    return answer(created, response, body.model_dump())


@router.get("/schools/{school}/experiment-records", response_model=answers.ExperimentRecords)
def list_records(
    school: IdPath,
    db: Db,
    caller: Caller,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: Annotated[date | None, Query(description="inclusive")] = None,
    class_: Annotated[str | None, Query(alias="class")] = None,
) -> dict[str, object]:
    """A school's experiment records."""
    require_read(db, caller, school)
    rows = experiments.list_records(db, school, from_, to, class_)
    return {"records": [experiments.record_out(r) for r in rows]}


@router.post(
    "/schools/{school}/experiment-records",
    status_code=status.HTTP_201_CREATED,
    response_model=answers.ExperimentRecordOut,
)
def add_record(school: IdPath, body: ExperimentRecordIn, db: Db, caller: Caller) -> dict[str, object]:
    """Record that a class did a catalog experiment (the school's managers and teachers)."""
    require_record_write(db, caller, school)
    return experiments.record_out(experiments.add_record(db, school, body, caller.name))


@router.delete("/schools/{school}/experiment-records/{record_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_record(school: IdPath, record_id: RowId, db: Db, caller: Caller) -> None:
    """Remove a record (a teacher: only one they entered)."""
    require_record_write(db, caller, school)
    experiments.delete_record(db, school, record_id, caller.name if caller.role is Role.TEACHER else None)


@router.get("/schools/{school}/experiment-records.xlsx", response_class=Response, responses=XLSX_RESPONSE)
def export_records(school: IdPath, db: Db, caller: Caller) -> Response:
    """A school's experiment records as an Excel file (the layout the import reads)."""
    require_read(db, caller, school)
    return xlsx(experiments.export_records(db, school), f"{school}-experiment-records.xlsx")


@router.get("/templates/experiment-records.xlsx", response_class=Response, responses=XLSX_RESPONSE)
def records_template(_: Caller) -> Response:
    """An empty experiment-records sheet with a sheet explaining each column."""
    return xlsx(experiments.records_template(), "experiment-records-template.xlsx")


@router.post("/schools/{school}/experiment-records/import", response_model=answers.RecordsImport)
async def import_records(school: IdPath, file: UploadFile, db: Db, caller: Caller) -> dict[str, object]:
    """Import experiment records: all rows or none (422 lists every problem); rows already recorded are skipped."""
    data = await file.read()

    def run() -> int:
        require_write(db, caller, school)
        return experiments.import_records(db, school, data, caller.name)

    return {"school": school, "added": await asyncio.to_thread(run)}


@router.get("/schools/{school}/editions")
def get_editions(school: IdPath, db: Db, caller: Caller) -> dict[str, str]:
    """The textbook edition of each subject the school teaches with."""
    require_read(db, caller, school)
    return experiments.get_editions(db, school)


@router.put("/schools/{school}/editions")
def put_editions(
    school: IdPath,
    body: Annotated[
        dict[
            Annotated[str, StringConstraints(min_length=1, max_length=64)],
            Annotated[str, StringConstraints(min_length=1, max_length=64)],
        ],
        Body(max_length=64),
    ],
    db: Db,
    caller: Caller,
) -> dict[str, str]:
    """Set the textbook edition per subject, e.g. `{"physics": "人教版"}`; subjects left out are removed."""
    require_write(db, caller, school)
    experiments.set_editions(db, school, body)
    return experiments.get_editions(db, school)

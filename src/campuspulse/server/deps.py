"""What the API and the dashboard share per request: a database session in a transaction, the store's writer,
and file responses."""

from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Path, Request, Response
from sqlalchemy.orm import Session

from campuspulse.store.ingest import TelemetryWriter


def db_session(request: Request) -> Iterator[Session]:
    """A session whose transaction commits when the request succeeds."""
    with Session(request.app.state.engine) as s, s.begin():
        yield s


def today(request: Request) -> date:
    """Today where the dashboard's users are (`server.ui_timezone`): the default day of figures taken on a day."""
    return datetime.now(ZoneInfo(request.app.state.ui_tz)).date()


def writer(request: Request) -> TelemetryWriter:
    """The store's write side."""
    return request.app.state.writer


# Committed before the response is sent, so a client told "done" finds it done on every replica.
Db = Annotated[Session, Depends(db_session, scope="function")]
WriterDep = Annotated[TelemetryWriter, Depends(writer)]
Today = Annotated[date, Depends(today)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a row's id")]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {XLSX: {}}}}  # for OpenAPI


def xlsx(data: bytes, filename: str) -> Response:
    """An .xlsx download."""
    return Response(data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'})

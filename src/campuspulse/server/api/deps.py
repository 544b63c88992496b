"""Per-request dependencies: a database session in a transaction, the ledger."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from campuspulse.server.ledger.ingest import Ledger


def db_session(request: Request) -> Iterator[Session]:
    """A session whose transaction commits when the request succeeds."""
    with Session(request.app.state.engine) as s, s.begin():
        yield s


def ledger(request: Request) -> Ledger:
    """The ledger's write side."""
    return request.app.state.ledger


Db = Annotated[Session, Depends(db_session)]
LedgerDep = Annotated[Ledger, Depends(ledger)]

"""`POST /ingest/records`: the MQTT records payload over HTTP, for agents that cannot speak MQTT."""

import asyncio
import logging

from fastapi import APIRouter, HTTPException, Request, status

from campuspulse.server.access.principals import MANAGES_NOTHING, Forbidden, Principal, require_write
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.deps import Db, WriterDep
from campuspulse.store.db import store_unavailable
from campuspulse.store.ingest import IngestResult, TelemetryWriter
from campuspulse.telemetry import ContractError, parse_records_payload
from campuspulse.telemetry.validation import MAX_PAYLOAD_BYTES, ParsedBatch

router = APIRouter(tags=["telemetry"])
SOURCE = "http:/api/v1/ingest/records"
log = logging.getLogger(__name__)


async def _body(request: Request, caller: Principal) -> bytes:
    """The request's body, read no further than the contract's size limit (413 beyond it)."""
    if caller.role in MANAGES_NOTHING:  # they write no telemetry, not even a dead letter
        raise Forbidden(f"{caller.name} is {caller.role.value} and sends no telemetry")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"payload over {MAX_PAYLOAD_BYTES:,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PAYLOAD_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"payload over {MAX_PAYLOAD_BYTES:,} bytes")
    return bytes(body)


def _store(writer: TelemetryWriter, batch: ParsedBatch, raw: bytes) -> IngestResult:
    """Store a batch; one that fails for a reason retrying cannot cure is kept as a dead letter with the error."""
    try:
        return writer.ingest(batch, SOURCE)
    except Exception as error:
        if store_unavailable(error):
            log.warning("ingest: the store is unavailable (%r)", error)
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the store is unavailable: retry later") from None
        reason = f"could not be stored: {type(error).__name__}: {error}"
        log.error("ingest: a batch of agent %s %s; kept as a dead letter", batch.agent, reason)
        writer.dead_letter(SOURCE, reason, raw, batch.agent, batch.school)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"payload kept as a dead letter: {reason}") from None


@router.post("/ingest/records", response_model=answers.IngestAnswer)
async def ingest_records(request: Request, writer: WriterDep, caller: Caller, db: Db) -> dict[str, object]:
    """Store a batch; bad records become dead letters and the rest is stored."""
    raw = await _body(request, caller)
    try:
        batch = parse_records_payload(raw)
    except ContractError as exc:
        await asyncio.to_thread(writer.dead_letter, SOURCE, str(exc), raw)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"payload rejected: {exc}") from None
    if caller.agent is not None and caller.agent != batch.agent:
        raise Forbidden(f"this token speaks for agent {caller.agent!r} only, not for {batch.agent!r}")
    await asyncio.to_thread(require_write, db, caller, batch.school)
    result = await asyncio.to_thread(_store, writer, batch, raw)
    if result.dead_letters and not result.stored and not result.duplicates:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, {"dead_letters": result.dead_letters, "reasons": result.reasons}
        )
    return {
        "stored": result.stored,
        "duplicates": result.duplicates,
        "pending": result.pending,
        "dead_letters": result.dead_letters,
        "reasons": result.reasons,
    }

"""Storing validated telemetry in the store: dedup by (agent, seq), gap tracking, segment folding.

Records are folded into state segments in seq order, per agent, over the settled prefix of its
seq: every seq up to the agent's watermark has been folded or declared lost/dropped. A record
that arrives after a gap waits in `pending_records` until the gap fills, is announced as
dropped, or outlives the reorder window and is declared lost. So late, out-of-order and
repeated delivery give the segments of in-order delivery, and heartbeats add no rows.
"""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from campuspulse.store.db import isolated
from campuspulse.store.schema import (
    Agent,
    AgentProgress,
    ClockSkew,
    DeadLetter,
    Device,
    PendingRecord,
    School,
    SeqGap,
)
from campuspulse.store.segment_folder import SegmentFolder
from campuspulse.store.stale_days import mark_stale
from campuspulse.telemetry import ParsedBatch, StatusPayload
from campuspulse.telemetry.parsed import ParsedReading, ParsedRecord, ParsedState
from campuspulse.telemetry.records import MAX_SEQ
from campuspulse.telemetry.timestamps import ms_to_datetime
from campuspulse.telemetry.validation import Rejected


@dataclass(slots=True)
class IngestResult:
    """What happened to a batch."""

    stored: int = 0
    duplicates: int = 0
    pending: int = 0
    dead_letters: int = 0
    late: int = 0
    future: int = 0
    refused: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass(slots=True)
class WriteResult:
    """What happened to each batch and status of one `TelemetryWriter.write`."""

    batches: list[IngestResult]
    status_refusals: list[str | None]


def _from_pending(p: PendingRecord) -> ParsedRecord:
    if p.type == "state":
        assert p.state is not None and p.valid_s is not None
        return ParsedState(p.seq, p.ts_ms, p.device, p.state, p.valid_s)
    return ParsedReading(p.seq, p.ts_ms, p.device, {})  # its values went to the time series already


def _pending(agent: str, epoch: str, school: str, r: ParsedRecord) -> PendingRecord:
    if isinstance(r, ParsedState):
        return PendingRecord(
            agent=agent,
            epoch=epoch,
            seq=r.seq,
            school=school,
            type="state",
            device=r.device,
            ts_ms=r.ts,
            state=r.state,
            valid_s=r.valid_s,
        )
    return PendingRecord(
        agent=agent, epoch=epoch, seq=r.seq, school=school, type="reading", device=r.device, ts_ms=r.ts
    )


log = logging.getLogger(__name__)
MAX_DEAD_LETTER_RAW = 64 * 1024  # characters of a dead letter's payload kept; the rest is counted, not stored


def _dead_letter(source: str, reason: str, raw: Any, agent: str | None, school: str | None) -> DeadLetter:
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw[: MAX_DEAD_LETTER_RAW * 4]).decode("utf-8", "replace")
    try:
        text = orjson.dumps(raw).decode() if not isinstance(raw, str) else raw
    except (TypeError, orjson.JSONEncodeError):
        text = repr(raw)
    if len(text) > MAX_DEAD_LETTER_RAW:
        text = f"{text[:MAX_DEAD_LETTER_RAW]}… ({len(text) - MAX_DEAD_LETTER_RAW:,} more characters not kept)"
    return DeadLetter(
        source=_no_nul(source[:300]),
        reason=_no_nul(reason[:2000]),
        raw=_no_nul(text),
        agent=_short(agent),
        school=_short(school),
    )


def _no_nul(text: str) -> str:
    return text.replace("\x00", "\ufffd")  # PostgreSQL text holds no NUL


def _short(ident: str | None) -> str | None:
    return ident if ident is None or len(ident) <= 64 else None


class TelemetryWriter:
    """The store's write side, shared by the collector and the server's HTTP ingest."""

    def __init__(self, engine: Engine, reorder_window_s: float = 300.0, max_future_skew_s: float = 300.0) -> None:
        self.engine = engine
        self.reorder_window = timedelta(seconds=reorder_window_s)
        self.max_future_skew_ms = int(max_future_skew_s * 1000)
        self._dialect = engine.dialect.name
        self._zones: dict[str, ZoneInfo] = {}
        self._owner_of: dict[tuple[str, str], str] = {}  # (school, device) → agent ("" for no such device)
        self._owners_at = time.monotonic()

    def _zone(self, s: Session, school: str) -> ZoneInfo:
        if school not in self._zones:
            row = s.get(School, school)
            self._zones[school] = ZoneInfo(row.tz if row else "UTC")
        return self._zones[school]

    # dead letters -------------------------------------------------------------------------
    def dead_letter(
        self, source: str, reason: str, raw: Any, agent: str | None = None, school: str | None = None
    ) -> None:
        """Keep input that broke the contract, with the reason."""
        with Session(self.engine) as s, s.begin():
            s.add(_dead_letter(source, reason, raw, agent, school))

    # records ------------------------------------------------------------------------------
    def ingest(self, batch: ParsedBatch, source: str) -> IngestResult:
        """Store a validated batch in one transaction; rejected records become dead letters."""
        return self.write([(batch, source)]).batches[0]

    def write(
        self,
        batches: Sequence[tuple[ParsedBatch, str]] = (),
        statuses: Sequence[tuple[StatusPayload, str]] = (),
        dead: Sequence[tuple[str, str, Any]] = (),
    ) -> "WriteResult":
        """Store many messages in one transaction: record batches, agent statuses, and unusable payloads.

        Agents are locked in sorted order, so that collectors sharing the load never deadlock.
        """
        out = WriteResult([IngestResult() for _ in batches], [None] * len(statuses))
        now_ms = int(time.time() * 1000)
        with Session(self.engine) as s, s.begin():
            for source, reason, raw in dead:
                s.add(_dead_letter(source, reason, raw, None, None))
            # Lock every agent first (sorted, so collectors never deadlock); only then read its segments.
            # On SQLite the first write statement takes the database's write lock for the transaction.
            self._load_agents(s, {b.agent for b, _ in batches} | {st.agent for st, _ in statuses})
            # Statuses that announce dropped ranges or what was sent touch their agent's progress too: locked in the
            # same order.
            streams = {(b.agent, b.epoch, b.school) for b, _ in batches} | {
                (st.agent, st.epoch, st.school) for st, _ in statuses if st.dropped or st.sent_through is not None
            }
            self._lock_progress(s, sorted({(a, e) for a, e, sc in streams if self._agent_refusal(s, a, sc) is None}))
            batches = [(self._bound_only(s, batch), source) for batch, source in batches]
            folder = SegmentFolder(s)
            for batch, _ in batches:
                folder.want(batch.school, (r.device for r in batch.records if isinstance(r, ParsedState)))
            folder.preload()
            for i in sorted(range(len(batches)), key=lambda i: batches[i][0].agent):
                batch, source = batches[i]
                self._ingest_one(s, batch, source, out.batches[i], folder, now_ms)
            self._write_folds(s, folder)
            for j in sorted(range(len(statuses)), key=lambda j: statuses[j][0].agent):
                out.status_refusals[j] = self._status(s, *statuses[j])
        return out

    def _ingest_one(
        self, s: Session, batch: ParsedBatch, source: str, result: IngestResult, folder: "SegmentFolder", now_ms: int
    ) -> None:
        refusal = self._agent_refusal(s, batch.agent, batch.school)
        if refusal is not None:
            raws = [r.to_wire() for r in batch.records] + [r.raw for r in batch.rejected]
            whole = {"v": 1, "agent": batch.agent, "school": batch.school, "records": raws}
            s.add(_dead_letter(source, refusal, whole, batch.agent, batch.school))
            result.dead_letters = len(raws)
            result.refused = True
            result.reasons.append(refusal)
            return
        for rej in batch.rejected:
            s.add(_dead_letter(source, rej.reason, rej.raw, batch.agent, batch.school))
            result.reasons.append(rej.reason)
        result.dead_letters = len(batch.rejected)
        # A rejected record's seq did arrive: it is accounted for, not a loss to wait for.
        rejected = {
            r.raw["seq"]
            for r in batch.rejected
            if isinstance(r.raw, dict) and type(r.raw.get("seq")) is int and 0 <= r.raw["seq"] <= MAX_SEQ
        }
        if batch.records or rejected:
            self._store(s, batch.agent, batch.epoch, batch.school, batch.records, result, rejected, folder, now_ms)

    def _bound_only(self, s: Session, batch: ParsedBatch) -> ParsedBatch:
        """The batch with its records for devices not bound to its agent moved to the rejected, with the reason."""
        owner = self._owners(s, batch.school, {r.device for r in batch.records}, batch.agent)
        if all(owner.get(r.device) == batch.agent for r in batch.records):
            return batch
        good, bad = [], list(batch.rejected)
        for r in batch.records:
            bound = owner.get(r.device)
            if bound == batch.agent:
                good.append(r)
                continue
            why = f"it is bound to agent {bound!r}" if bound else "the school has no such device"
            hint = f"PUT /api/v1/schools/{batch.school}/devices/{r.device}"
            reason = f"device {r.device!r} is not bound to agent {batch.agent!r}: {why} ({hint})"
            bad.append(Rejected(-1, r.to_wire(), reason))
        return ParsedBatch(batch.agent, batch.school, good, bad, batch.epoch)

    def _owners(self, s: Session, school: str, devices: set[str], agent: str) -> dict[str, str]:
        """The agent each of these devices is bound to (cached for a minute; a device the cache does not give to
        `agent` is looked up again, so that a device bound a moment ago is known at once)."""
        now = time.monotonic()
        if now - self._owners_at > 60:
            self._owner_of.clear()
            self._owners_at = now
        known = {d: self._owner_of.get((school, d), "") for d in devices}
        unsure = [d for d, a in known.items() if a != agent]
        if unsure:
            found = dict.fromkeys(unsure, "")
            query = select(Device.device, Device.agent).where(Device.school == school, Device.device.in_(unsure))
            found |= {device: bound for device, bound in s.execute(query)}
            known |= found
            self._owner_of.update(((school, d), a) for d, a in found.items())
        return known

    @staticmethod
    def _load_agents(s: Session, ids: set[str]) -> None:
        agents = s.info.setdefault("agents", {})  # strong references: the identity map only holds weak ones
        todo = ids - agents.keys()
        if todo:
            agents.update(dict.fromkeys(todo))
            agents.update({a.id: a for a in s.scalars(select(Agent).where(Agent.id.in_(todo)))})

    def _agent_refusal(self, s: Session, agent: str, school: str) -> str | None:
        agents = s.info.setdefault("agents", {})
        if agent not in agents:
            self._load_agents(s, {agent})
        registered = agents[agent]
        if registered is None:
            return f"agent {agent!r} is not registered; register it with PUT /api/v1/agents/{agent}"
        if registered.school != school:
            return f"agent {agent!r} is registered to school {registered.school!r}, not {school!r}"
        return None

    def _lock_progress(self, s: Session, streams: list[tuple[str, str]]) -> None:
        """Create (if new) the progress rows of these (agent, epoch) streams and lock every progress row of their
        agents, agents in sorted order. Each agent also has a row of the epoch "", which every writer of the agent
        creates and locks first: two epochs of one agent are never folded into its devices' segments at once."""
        cached = s.info.setdefault("progress", {})
        todo = [k for k in streams if k not in cached]  # locked already in this transaction
        if not todo:
            return
        rows = sorted(set(todo) | {(agent, "") for agent, _ in todo})
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        s.execute(
            insert(AgentProgress)
            .values([{"agent": a, "epoch": e, "watermark": -1, "max_seq": -1} for a, e in rows])
            .on_conflict_do_nothing(index_elements=["agent", "epoch"])
        )
        # Rows are locked in the ORDER BY order: the sort runs below the lock.
        agents = sorted({agent for agent, _ in todo})
        locked = (
            select(AgentProgress)
            .where(AgentProgress.agent.in_(agents))
            .order_by(AgentProgress.agent, AgentProgress.epoch)
            .with_for_update()
        )
        cached.update({(p.agent, p.epoch): p for p in s.scalars(locked)})

    def _progress(self, s: Session, agent: str, epoch: str) -> AgentProgress:
        self._lock_progress(s, [(agent, epoch)])
        progress: AgentProgress = s.info["progress"][(agent, epoch)]
        return progress

    def _store(
        self,
        s: Session,
        agent: str,
        epoch: str,
        school: str,
        facts: list[ParsedRecord],
        result: IngestResult,
        rejected: set[int],
        folder: "SegmentFolder",
        now_ms: int,
    ) -> None:
        prog = self._progress(s, agent, epoch)
        incoming: dict[int, ParsedRecord] = {}
        late: list[ParsedRecord] = []
        watermark = prog.watermark
        gaps = self._gaps(s, prog) if any(f.seq <= watermark for f in facts) else []
        for f in facts:
            if f.seq in incoming:
                result.duplicates += 1
            elif f.seq <= watermark:
                gap = next((g for g in gaps if g.first_seq <= f.seq <= g.last_seq), None)
                if gap is None:
                    result.duplicates += 1
                else:
                    self._punch(s, gap, f.seq, gaps)
                    late.append(f)
            else:
                incoming[f.seq] = f
        if prog.max_seq > prog.watermark and incoming:
            seen = set(
                s.scalars(
                    select(PendingRecord.seq).where(
                        PendingRecord.agent == agent,
                        PendingRecord.epoch == epoch,
                        PendingRecord.seq.in_(list(incoming)),
                    )
                )
            )
            for seq in seen:
                del incoming[seq]
                result.duplicates += 1
        for f in late:
            if isinstance(f, ParsedState):
                folder.fold(school, agent, f)
        result.late = len(late)
        limit = now_ms + self.max_future_skew_ms
        future = [f for f in (*incoming.values(), *late) if f.ts > limit]
        if future:  # stored all the same, with the receive time noted for whoever audits the agent's clock
            s.add_all(
                ClockSkew(agent=agent, epoch=epoch, seq=f.seq, device=f.device, ts_ms=f.ts, received_ms=now_ms)
                for f in future
            )
            result.future = len(future)
        rejected = {q for q in rejected - set(incoming) if q > prog.watermark}
        if rejected:
            known = {g.first_seq for g in self._gaps(s, prog, above=prog.watermark)}
            s.add_all(
                SeqGap(agent=agent, epoch=epoch, first_seq=q, last_seq=q, reason="rejected") for q in rejected - known
            )
            s.flush()
        if incoming or rejected:
            prog.max_seq = max(prog.max_seq, *incoming, *rejected)
            if prog.tail_since is not None and prog.max_seq >= prog.sent_through:
                prog.tail_since = None  # what the status said was sent has arrived
        waiting = self._settle(s, prog, school, folder, incoming)
        result.stored = len(late) + len(incoming)
        result.pending = len(waiting)

    def _write_folds(self, s: Session, folder: SegmentFolder) -> None:
        folder.sync()
        mark_stale(s.connection(), folder.stale_days(lambda school: self._zone(s, school)))

    def _settle_now(self, s: Session, prog: AgentProgress, school: str) -> None:
        folder = SegmentFolder(s)
        self._settle(s, prog, school, folder)
        self._write_folds(s, folder)

    def _gaps(self, s: Session, prog: AgentProgress, above: int | None = None) -> list[SeqGap]:
        q = select(SeqGap).where(SeqGap.agent == prog.agent, SeqGap.epoch == prog.epoch)
        if above is not None:
            q = q.where(SeqGap.last_seq > above)
        return list(s.scalars(q.order_by(SeqGap.first_seq)))

    @staticmethod
    def _punch(s: Session, gap: SeqGap, seq: int, gaps: list[SeqGap]) -> None:
        """A seq once declared missing arrived after all: take it out of its gap."""
        first, last = gap.first_seq, gap.last_seq
        s.delete(gap)
        gaps.remove(gap)
        s.flush()
        for lo, hi in ((first, seq - 1), (seq + 1, last)):
            if lo <= hi:
                g = SeqGap(agent=gap.agent, epoch=gap.epoch, first_seq=lo, last_seq=hi, reason=gap.reason)
                s.add(g)
                gaps.append(g)
        s.flush()  # the next late record of the batch may fall in one of the new pieces, and punch it in turn

    def _settle(
        self,
        s: Session,
        prog: AgentProgress,
        school: str,
        folder: "SegmentFolder",
        incoming: dict[int, ParsedRecord] | None = None,
    ) -> list[ParsedRecord]:
        """Fold, in seq order, what follows the watermark without a gap; keep the rest pending.

        Returns the incoming records left waiting behind a gap (now stored as pending).
        """
        incoming = incoming or {}
        stored: dict[int, PendingRecord] = {}
        w, top = prog.watermark, prog.max_seq
        if top > w and any(q not in incoming for q in range(w + 1, top + 1)):
            mine = (PendingRecord.agent == prog.agent) & (PendingRecord.epoch == prog.epoch)
            stored = {p.seq: p for p in s.scalars(select(PendingRecord).where(mine))}
        declared: dict[int, int] | None = None
        settled_stored = False
        agent = prog.agent
        while True:
            nxt = w + 1
            if nxt in incoming:
                f = incoming[nxt]
            elif nxt in stored:
                f = _from_pending(stored[nxt])
                settled_stored = True
            else:
                if declared is None and top > w:
                    declared = {g.first_seq: g.last_seq for g in self._gaps(s, prog, above=w)}
                if declared and nxt in declared:
                    w = declared[nxt]
                    continue
                break
            if isinstance(f, ParsedState):
                folder.fold(school, agent, f)
            w = nxt
        if settled_stored:
            s.execute(
                delete(PendingRecord).where(
                    PendingRecord.agent == prog.agent, PendingRecord.epoch == prog.epoch, PendingRecord.seq <= w
                )
            )
        waiting = [f for q, f in incoming.items() if q > w]
        s.add_all(_pending(prog.agent, prog.epoch, school, f) for f in waiting)
        prog.watermark = w
        prog.max_seq = max(prog.max_seq, w)
        return waiting

    # gaps and status -------------------------------------------------------------------------
    def settle_stale_gaps(self, now: datetime | None = None) -> int:
        """Declare lost the gaps that records have waited behind longer than the reorder window.

        Returns how many seqs were declared lost (possible data loss, also listed per agent in the API).
        """
        cutoff = (now or datetime.now(UTC)) - self.reorder_window
        with Session(self.engine) as s:
            p, g = PendingRecord, AgentProgress
            waiting = s.execute(select(p.agent, p.epoch, p.school).where(p.received_at < cutoff).distinct()).all()
            tails = s.execute(
                select(g.agent, g.epoch, Agent.school)
                .join(Agent, Agent.id == g.agent)
                .where(g.tail_since < cutoff, g.sent_through > g.max_seq)
            ).all()
        declared = 0
        for agent, epoch, school in sorted(waiting):  # a transaction per agent and epoch: none holds up another
            what = f"settling the seq gap of agent {agent} (epoch {epoch!r})"
            declared += isolated(what, partial(self._settle_gap, agent, epoch, school))
        for agent, epoch, school in sorted(tails):
            what = f"settling the unreceived tail of agent {agent} (epoch {epoch!r})"
            declared += isolated(what, partial(self._settle_tail, agent, epoch, school))
        return declared

    def _settle_tail(self, agent: str, epoch: str, school: str) -> int:
        """Declare lost what the agent said it sent (its status's `sent_through`) and never arrived: the broker took
        it and lost it, e.g. a Mosquitto restart before shared-subscription collectors resubscribed."""
        with Session(self.engine) as s, s.begin():
            prog = self._progress(s, agent, epoch)
            top, sent = prog.max_seq, prog.sent_through
            prog.tail_since = None
            if sent <= top:
                return 0
            covered = {(gp.first_seq, gp.last_seq) for gp in self._gaps(s, prog, above=top)}
            lost, at = 0, top + 1
            for first, last in sorted(covered):
                if first > at:
                    s.add(SeqGap(agent=agent, epoch=epoch, first_seq=at, last_seq=min(first - 1, sent), reason="lost"))
                    lost += min(first - 1, sent) - at + 1
                at = max(at, last + 1)
            if at <= sent:
                s.add(SeqGap(agent=agent, epoch=epoch, first_seq=at, last_seq=sent, reason="lost"))
                lost += sent - at + 1
            s.flush()
            prog.max_seq = sent
            self._settle_now(s, prog, school)
            return lost

    def _settle_gap(self, agent: str, epoch: str, school: str) -> int:
        with Session(self.engine) as s, s.begin():
            return self._declare_lost(s, agent, epoch, school)

    def _declare_lost(self, s: Session, agent: str, epoch: str, school: str) -> int:
        prog = self._progress(s, agent, epoch)
        mine = (PendingRecord.agent == agent) & (PendingRecord.epoch == epoch)
        first_pending = s.scalar(select(PendingRecord.seq).where(mine).order_by(PendingRecord.seq).limit(1))
        if first_pending is None or first_pending <= prog.watermark + 1:
            return 0
        gap_first = prog.watermark + 1
        s.add(SeqGap(agent=agent, epoch=epoch, first_seq=gap_first, last_seq=first_pending - 1, reason="lost"))
        s.flush()
        self._settle_now(s, prog, school)
        return first_pending - gap_first

    def apply_status(self, status: StatusPayload, source: str) -> str | None:
        """Record an agent's birth or death and the seq ranges it says it dropped; return a refusal."""
        return self.write(statuses=[(status, source)]).status_refusals[0]

    def _status(self, s: Session, status: StatusPayload, source: str) -> str | None:
        refusal = self._agent_refusal(s, status.agent, status.school)
        if refusal is not None:
            s.add(_dead_letter(source, refusal, status.model_dump(mode="json"), status.agent, status.school))
            return refusal
        agent = s.get(Agent, status.agent)
        assert agent is not None
        seen = ms_to_datetime(status.ts)
        session = None if status.session is None else ms_to_datetime(status.session)
        if agent.last_seen is not None and seen < agent.last_seen:  # a retained or redelivered old status …
            if not status.online and session is not None and session == agent.session_since:
                agent.online = False  # … or the broker's last will of the connection the agent was on: it died
        else:
            agent.online = status.online
            agent.last_seen = seen
            agent.session_since = session if status.online else agent.session_since
            agent.version = status.version or agent.version
            if status.queue is not None:
                agent.queue_records = status.queue.records
                q = status.queue
                agent.queue_oldest = None if q.oldest_ts is None else ms_to_datetime(q.oldest_ts)
                unwritable = q.unwritable_since
                agent.queue_unwritable_since = None if unwritable is None else ms_to_datetime(unwritable)
                agent.queue_held = q.held
        if status.dropped:
            prog = self._progress(s, status.agent, status.epoch)
            known = {g.first_seq for g in self._gaps(s, prog)}
            for first, last in status.dropped:
                first = max(first, prog.watermark + 1)
                if first <= last and first not in known:
                    s.add(
                        SeqGap(agent=status.agent, epoch=status.epoch, first_seq=first, last_seq=last, reason="dropped")
                    )
            s.flush()
            self._settle_now(s, prog, status.school)
        if status.sent_through is not None:
            prog = self._progress(s, status.agent, status.epoch)
            if prog.max_seq < 0:
                return None  # nothing of this epoch ever arrived here: no tail to tell from a store that never had it
            prog.sent_through = max(prog.sent_through, status.sent_through)
            if prog.sent_through <= prog.max_seq:
                prog.tail_since = None
            elif prog.tail_since is None:
                prog.tail_since = datetime.now(UTC)
        return None

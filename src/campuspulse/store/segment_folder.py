"""Folding agents' state facts into their devices' segments within one transaction, noting the days touched."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, delete, func, insert, select, true, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import String

from campuspulse.store.schema import StateSegment
from campuspulse.store.stale_days import day_window, local_days
from campuspulse.store.state_segments import EXTENDED, Segment, SegmentLike, StateFact, apply_state
from campuspulse.telemetry.parsed import ParsedState

_FIELDS = (
    "state",
    "start_ms",
    "end_ms",
    "last_ts_ms",
    "first_seq",
    "last_seq",
    "records",
    "approx_start_ms",
    "approx_end_ms",
)
_COLUMNS = [getattr(StateSegment, f) for f in _FIELDS]
_TABLE = cast(Table, StateSegment.__table__)
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("_id")).values({f: bindparam(f) for f in _FIELDS})
# PostgreSQL: new rows and changes go in by binary COPY (changes through a temporary table, then one UPDATE).
_COPY_TYPES = ["varchar", "int8", "int8", "int8", "int8", "int8", "int4", "int8", "int8"]
_CHANGES = "segment_changes"
_CREATE_CHANGES = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CHANGES} (round int, id bigint, state varchar(16), start_ms bigint, "
    "end_ms bigint, last_ts_ms bigint, first_seq bigint, last_seq bigint, records int, approx_start_ms bigint, "
    "approx_end_ms bigint) ON COMMIT DELETE ROWS"
)
_APPLY_CHANGES = (
    "UPDATE state_segments AS t SET "
    + ", ".join(f"{f} = u.{f}" for f in _FIELDS)
    + f" FROM {_CHANGES} AS u WHERE u.round = %s AND t.id = u.id"
)

Key = tuple[str, str]  # (school, device)


_values: Callable[[SegmentLike], tuple[Any, ...]] = attrgetter(*_FIELDS)


def _named(seg: SegmentLike) -> dict[str, Any]:
    return dict(zip(_FIELDS, _values(seg), strict=True))


@dataclass(slots=True)
class _Copy:
    """A working copy of a segment: its row id once it has one, and its values as last written."""

    seg: SegmentLike
    key: Key
    agent: str
    row_id: int | None = None
    written: tuple[Any, ...] | None = None


class SegmentFolder:
    """Folds state facts into the segments of the devices of any number of agents, in one transaction.

    Records that extend the newest segment of a device (nearly all of them) are folded into plain
    working copies, fetched for all the transaction's devices in one query; `sync()` writes them back
    in a few statements (one delete; on PostgreSQL a binary COPY of the changes and one UPDATE, a COPY
    of the new rows; elsewhere an executemany of each). A record older
    than a device's newest segment is folded directly on the rows in the database.
    """

    def __init__(self, s: Session) -> None:
        self.s = s
        self._last: dict[Key, SegmentLike | None] = {}
        self._copies: dict[Key, list[_Copy]] = defaultdict(list)
        self._gone: list[_Copy] = []  # removed, and written before
        self._wanted: set[Key] = set()
        self._touched: dict[str, list[tuple[int, int]]] = defaultdict(list)

    # what the folds touched -----------------------------------------------------------------
    def _touch(self, school: str, *segments: Any) -> None:
        self._touched[school].extend((g.start_ms, g.end_ms) for g in segments if g is not None)

    def stale_days(self, zone: Callable[[str], ZoneInfo]) -> set[tuple[str, str]]:
        """The (school, local day) pairs whose figures the folded facts may have changed."""
        out: set[tuple[str, str]] = set()
        for school, spans in self._touched.items():
            tz = zone(school)
            window = (0, 0)
            for lo, hi in spans:
                if window[0] <= lo and hi <= window[1]:
                    continue
                spanned = local_days(lo, hi, tz)
                out.update((school, d) for d in spanned)
                window = day_window(spanned[-1], tz)
                if not (window[0] <= lo and hi <= window[1]):
                    window = (0, 0)
        return out

    # reading ----------------------------------------------------------------------------------
    def want(self, school: str, devices: Iterable[str]) -> None:
        """Note devices whose newest segments the next `preload` fetches."""
        self._wanted.update((school, d) for d in devices)

    def preload(self) -> None:
        """Fetch the newest segment of every wanted device not yet known, in one query."""
        todo = self._wanted - self._last.keys()
        self._wanted = set()
        if not todo:
            return
        cols = [StateSegment.id, StateSegment.school, StateSegment.device, StateSegment.agent, *_COLUMNS]
        if self.s.get_bind().dialect.name == "postgresql":
            keys = sorted(todo)
            wanted = (
                func.unnest(
                    bindparam("schools", [k[0] for k in keys], type_=ARRAY(String)),
                    bindparam("devices", [k[1] for k in keys], type_=ARRAY(String)),
                )
                .table_valued("school", "device")
                .render_derived(name="wanted", with_types=False)
            )
            newest = (
                select(*cols)
                .where(StateSegment.school == wanted.c.school, StateSegment.device == wanted.c.device)
                .order_by(StateSegment.start_ms.desc())
                .limit(1)
                .lateral("newest")
            )
            rows = self.s.connection().execute(select(*newest.c).select_from(wanted).join(newest, true())).all()
        else:
            newer = aliased(StateSegment)
            top = (
                select(func.max(newer.start_ms))
                .where(newer.school == StateSegment.school, newer.device == StateSegment.device)
                .scalar_subquery()
            )
            by_school: dict[str, list[str]] = defaultdict(list)
            for school, device in todo:
                by_school[school].append(device)
            rows = [
                row
                for school, devices in sorted(by_school.items())
                for row in self.s.execute(
                    select(*cols).where(
                        StateSegment.school == school, StateSegment.device.in_(devices), StateSegment.start_ms == top
                    )
                )
            ]
        self._last.update(dict.fromkeys(todo))
        for row_id, school, device, agent, *values in rows:
            seg = Segment(*values)
            key = (school, device)
            self._copies[key].append(_Copy(seg, key, agent, row_id, tuple(values)))
            self._last[key] = seg

    def _query(self, key: Key) -> Any:
        return (
            select(StateSegment)
            .where(StateSegment.school == key[0], StateSegment.device == key[1])
            .execution_options(populate_existing=True)
        )

    # folding ----------------------------------------------------------------------------------
    def fold(self, school: str, agent: str, f: ParsedState) -> None:
        """Fold one state record of `agent` (at `school`) into its device's segments."""
        key = (school, f.device)
        fact = StateFact(f.seq, f.ts, f.state, f.valid_s * 1000)
        if key not in self._last:
            self._wanted.add(key)
            self.preload()
        last = self._last[key]
        if last is None or last.start_ms <= f.ts:
            before = (last.start_ms, last.end_ms) if last is not None else None
            change = apply_state(last, None, fact)
            touched = self._touched[school]
            if change is EXTENDED and last is not None and before is not None:
                # Only [ts, end) changed: the end moved, later or (a shorter valid_s) earlier.
                touched.append((f.ts, max(before[1], last.end_ms)))
                return
            touched.append((f.ts, f.ts + fact.valid_ms))
            if before is not None:
                touched.append(before)
            self._touch(school, last, *change.removed, *change.created)
            copies = self._copies[key]
            for seg in change.removed:
                gone = next(c for c in copies if c.seg is seg)
                copies.remove(gone)
                if gone.written is not None:
                    self._gone.append(gone)
            copies.extend(_Copy(seg, key, agent) for seg in change.created)
            alive = [g for g in (last, *change.created) if g is not None and g not in change.removed]
            self._last[key] = max(alive, key=lambda g: g.start_ms) if alive else None
            return
        self._touched[school].append((f.ts, f.ts + fact.valid_ms))
        self._fold_on_rows(key, agent, f, fact)

    def _fold_on_rows(self, key: Key, agent: str, f: ParsedState, fact: StateFact) -> None:
        self.sync()
        self._copies.pop(key, None)
        del self._last[key]
        school = key[0]
        prev = self.s.scalar(
            self._query(key).where(StateSegment.start_ms <= f.ts).order_by(StateSegment.start_ms.desc()).limit(1)
        )
        nxt = self.s.scalar(
            self._query(key).where(StateSegment.start_ms > f.ts).order_by(StateSegment.start_ms).limit(1)
        )
        self._touch(school, prev, nxt)
        change = apply_state(prev, nxt, fact, partial(StateSegment, school=school, device=f.device, agent=agent))
        self._touch(school, *change.removed, *change.created)
        for seg in change.removed:
            self.s.delete(seg)
        self.s.add_all(change.created)
        self.s.flush()

    # writing ----------------------------------------------------------------------------------
    def sync(self) -> None:
        """Write the working copies back: removed rows deleted, changed ones updated, new ones inserted."""
        changed: list[_Copy] = []
        new: list[tuple[Key, _Copy]] = []
        for key, copies in self._copies.items():
            for c in copies:
                if c.written is None:
                    new.append((key, c))
                elif _values(c.seg) != c.written:
                    changed.append(c)
        self._resolve([c for c in (*changed, *self._gone) if c.row_id is None])
        if self._gone:
            self.s.execute(delete(StateSegment).where(StateSegment.id.in_([c.row_id for c in self._gone])))
            self._gone = []
        if self.s.get_bind().dialect.name == "postgresql":
            self._write_pg(changed, new)
        else:
            self._write(changed, new)

    def _resolve(self, copies: list[_Copy]) -> None:
        """Find the ids of rows copied in earlier in this transaction (COPY returns none)."""
        if not copies:
            return
        by_key = {(c.key[0], c.key[1], c.written[1]): c for c in copies}  # type: ignore[index]
        q = select(StateSegment.id, StateSegment.school, StateSegment.device, StateSegment.start_ms).where(
            tuple_(StateSegment.school, StateSegment.device, StateSegment.start_ms).in_(list(by_key))
        )
        for row_id, *key in self.s.execute(q):
            by_key[tuple(key)].row_id = row_id  # type: ignore[index]

    def _write(self, changed: list[_Copy], new: list[tuple[Key, _Copy]]) -> None:
        if changed:
            params = [dict(_id=c.row_id, **_named(c.seg)) for c in changed]
            self.s.connection().execute(_UPDATE, params)
        for c in changed:
            c.written = _values(c.seg)
        if new:
            params = [dict(school=k[0], device=k[1], agent=c.agent, **_named(c.seg)) for k, c in new]
            ids = self.s.scalars(
                insert(StateSegment).returning(StateSegment.id, sort_by_parameter_order=True), params
            ).all()
            for (_, c), row_id in zip(new, ids, strict=True):
                c.row_id, c.written = row_id, _values(c.seg)

    def _write_pg(self, changed: list[_Copy], new: list[tuple[Key, _Copy]]) -> None:
        conn = self.s.connection()
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if changed:
            if _CHANGES not in conn.info:
                conn.exec_driver_sql(_CREATE_CHANGES)
                conn.info[_CHANGES] = True
            round_ = self.s.info["segment_rounds"] = self.s.info.get("segment_rounds", 0) + 1
            with cursor.copy(f"COPY {_CHANGES} FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int4", "int8", *_COPY_TYPES])
                for c in changed:
                    c.written = _values(c.seg)
                    cp.write_row((round_, c.row_id, *c.written))
            cursor.execute(_APPLY_CHANGES, (round_,))
        if new:
            columns = ", ".join(("school", "device", "agent", *_FIELDS))
            with cursor.copy(f"COPY state_segments ({columns}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["varchar", "varchar", "varchar", *_COPY_TYPES])
                for (school, device), c in new:
                    c.written = _values(c.seg)
                    cp.write_row((school, device, c.agent, *c.written))

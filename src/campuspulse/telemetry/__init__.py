"""The wire contract shared by agents, the collector and the server (docs: contract.md).

Everything else imports field names, topics and encodings from here.
"""

from campuspulse.telemetry.errors import ContractError
from campuspulse.telemetry.parsed import ParsedReading, ParsedRecord, ParsedState
from campuspulse.telemetry.records import (
    MAX_RECORDS_PER_BATCH,
    ReadingRecord,
    Record,
    RecordsPayload,
    StateRecord,
    StatusPayload,
)
from campuspulse.telemetry.timestamps import format_ts, ms_to_datetime, parse_ts
from campuspulse.telemetry.topics import Topic, TopicKind, parse_topic, topic_for
from campuspulse.telemetry.validation import (
    ParsedBatch,
    Rejected,
    parse_records_payload,
    parse_status_payload,
)

__all__ = [
    "MAX_RECORDS_PER_BATCH",
    "ContractError",
    "ParsedBatch",
    "ParsedReading",
    "ParsedRecord",
    "ParsedState",
    "ReadingRecord",
    "Record",
    "RecordsPayload",
    "Rejected",
    "StateRecord",
    "StatusPayload",
    "Topic",
    "TopicKind",
    "format_ts",
    "ms_to_datetime",
    "parse_records_payload",
    "parse_status_payload",
    "parse_topic",
    "parse_ts",
    "topic_for",
]

"""Checkpoints of the audit chain: its head (seq, hash) signed with Ed25519 and published outside the store.

A checkpoint witnesses the chain up to its entry: whoever rewrites or truncates the chain before that entry
can update the head in the store, but not a checkpoint already published to a file or an upstream server, nor
one they cannot sign. Issued reports carry the head at their issuance too; `verify_anchored` checks the chain
against both. A rewrite after the last checkpoint and the last issued report is not detected.
"""

import base64
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from campuspulse.store.access_schema import AuditEntry, AuditHead, ServerSecret
from campuspulse.store.audit import GENESIS, verify_chain
from campuspulse.store.report_schema import IssuedReport

PUBLIC_KEY_SECRET = "audit_checkpoint_public_key"  # the public key in use, recorded (and audited) in the store
_PREFIX = "ed25519:"
_HEAD_SEQ, _HEAD_HASH = "audit chain head (seq)", "audit chain head (hash)"


class CheckpointError(ValueError):
    """A checkpoint file, key or target that cannot be used as it is; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain's head at `at`, signed by the key whose id is `key_id`."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    def signed_bytes(self) -> bytes:
        """What the signature covers."""
        return signed_message(self.seq, self.hash, self.at)

    def as_json(self) -> str:
        """One line of a checkpoint file."""
        return json.dumps(asdict(self), separators=(",", ":"))


def signed_message(seq: int, head: str, at: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return f"campuspulse audit checkpoint\n{seq}\n{head}\n{at}".encode()


def public_key_text(key: Ed25519PublicKey) -> str:
    """`ed25519:<base64 of the 32 raw bytes>`, the form printed, configured and recorded."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _PREFIX + base64.b64encode(raw).decode()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its `ed25519:…` text; CheckpointError if it is not one."""
    try:
        raw = base64.b64decode(text.strip().removeprefix(_PREFIX), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise CheckpointError(
            f"not an Ed25519 public key: {text[:60]!r} (expected ed25519:<base64 of 32 bytes>)"
        ) from None


def key_id(key: Ed25519PublicKey) -> str:
    """A short id of a public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_or_create_key(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The signing key in `path` (PEM, PKCS#8), made there (mode 0600) if the file does not exist; True if made."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{path}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError(f"{path}: the audit signing key must be an Ed25519 key")
        return key, False
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key, True


def record_public_key(s: Session, key: Ed25519PublicKey) -> str | None:
    """Record the public key in use in the store (an audited change when it differs); the previous one, if any.
    The session must name its actor."""
    text = public_key_text(key)
    row = s.get(ServerSecret, PUBLIC_KEY_SECRET)
    if row is None:
        s.add(ServerSecret(name=PUBLIC_KEY_SECRET, value=text))
        s.flush()
        return None
    previous = row.value
    if previous != text:
        row.value = text
        s.flush()
    return previous


def sign_head(s: Session, key: Ed25519PrivateKey) -> Checkpoint:
    """A checkpoint of the chain's head as the store has it now."""
    head = s.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    at = datetime.now(UTC).isoformat(timespec="seconds")
    signature = key.sign(signed_message(head.seq, head.hash, at))
    return Checkpoint(head.seq, head.hash, at, key_id(key.public_key()), base64.b64encode(signature).decode())


def publish(cp: Checkpoint, target: str, timeout_s: float = 10) -> None:
    """Append the checkpoint to a file (one JSON line, synced to disk) or POST it as JSON to an http(s) URL;
    CheckpointError if it could not be kept."""
    if target.startswith(("http://", "https://")):
        try:
            headers = {"Content-Type": "application/json"}
            r = httpx.post(target, content=cp.as_json(), headers=headers, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise CheckpointError(f"could not publish the checkpoint to {target}: {exc}") from None
        if r.status_code >= 300:
            raise CheckpointError(f"{target} refused the checkpoint: HTTP {r.status_code}")
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(cp.as_json() + "\n")
        out.flush()
        os.fsync(out.fileno())


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """The checkpoints of a file written by `publish`; CheckpointError naming the line that is not one."""
    found = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CheckpointError(f"{path}: {exc.strerror}") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            found.append(Checkpoint(int(d["seq"]), str(d["hash"]), str(d["at"]), str(d["key_id"]), str(d["signature"])))
        except (ValueError, KeyError, TypeError) as exc:
            why = f"no {exc}" if isinstance(exc, KeyError) else str(exc)[:80]
            raise CheckpointError(
                f"{path}:{n}: not a checkpoint ({why}); expected a JSON object with seq, hash, at, key_id, signature"
            ) from None
    return found


def report_head(content: bytes) -> tuple[int, str] | None:
    """The audit chain head an issued report's workbook carries on its 说明 sheet, if any."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return None
    if "说明" not in wb.sheetnames:
        return None
    about = {str(r[0]): r[1] for r in wb["说明"].iter_rows(values_only=True, max_col=2) if r and r[0] is not None}
    seq, head = about.get(_HEAD_SEQ), about.get(_HEAD_HASH)
    if seq is None or head is None:
        return None
    try:
        return int(str(seq)), str(head)
    except ValueError:
        return None


def head_rows(seq: int, head: str) -> list[tuple[str, str]]:
    """The 说明 rows by which a report carries the chain head."""
    return [(_HEAD_SEQ, str(seq)), (_HEAD_HASH, head)]


def current_head(s: Session) -> tuple[int, str]:
    """The chain's head (seq, hash) as the store has it."""
    head = s.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    return int(head.seq), str(head.hash)


@dataclass(frozen=True, slots=True)
class Witness:
    """Something outside the chain that says which hash entry `seq` had: a checkpoint or an issued report."""

    source: str
    seq: int
    hash: str


def _entry_hash(s: Session, seq: int) -> str | None:
    if seq == 0:
        return GENESIS
    return s.scalar(select(AuditEntry.hash).where(AuditEntry.seq == seq))


def check_witness(s: Session, w: Witness, last_seq: int) -> str | None:
    """Why the chain disagrees with a witness, or None if it agrees."""
    if w.seq > last_seq:
        return f"{w.source} saw entry {w.seq}, but the chain ends at {last_seq}: entries were removed"
    found = _entry_hash(s, w.seq)
    if found is None:
        return f"{w.source} saw entry {w.seq}, which the chain no longer has: entries were removed"
    if found != w.hash:
        seen = f"hash {found[:12]}… ≠ {w.hash[:12]}…"
        return f"entry {w.seq} is not what {w.source} saw ({seen}): the chain was rewritten"
    return None


def signed_witnesses(
    checkpoints: Iterable[Checkpoint], keys: Sequence[Ed25519PublicKey], source: str
) -> tuple[list[Witness], list[str]]:
    """The checkpoints whose signature verifies under one of `keys`, and a problem for each that does not."""
    by_id = {key_id(k): k for k in keys}
    witnesses, problems = [], []
    for cp in checkpoints:
        where = f"the checkpoint of {cp.at} in {source}"
        key = by_id.get(cp.key_id)
        if key is None:
            problems.append(f"{where} is signed by key {cp.key_id}, which is not among the trusted public keys")
            continue
        try:
            key.verify(base64.b64decode(cp.signature), cp.signed_bytes())
        except (InvalidSignature, ValueError):
            problems.append(f"{where}: the signature does not verify (the checkpoint was altered or forged)")
            continue
        witnesses.append(Witness(where, cp.seq, cp.hash))
    return witnesses, problems


def report_witnesses(s: Session, files: Sequence[Path] = ()) -> tuple[list[Witness], list[str]]:
    """The chain heads issued reports carry: those kept in the store (each checked against its SHA-256) and
    copies given as files."""
    witnesses, problems = [], []
    for r in s.execute(
        select(IssuedReport.id, IssuedReport.audit_seq, IssuedReport.audit_hash, IssuedReport.issued_at).where(
            IssuedReport.audit_seq.is_not(None)
        )
    ):
        witnesses.append(Witness(f"issued report {r.id} ({r.issued_at:%Y-%m-%d})", int(r.audit_seq), str(r.audit_hash)))
    for path in files:
        try:
            head = report_head(path.read_bytes())
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
            continue
        if head is None:
            problems.append(f"{path}: carries no audit chain head (not an issued report, or issued before heads)")
            continue
        witnesses.append(Witness(f"the report file {path.name}", *head))
    return witnesses, problems


def verify_anchored(s: Session, witnesses: Sequence[Witness], problems: Sequence[str] = ()) -> dict[str, Any]:
    """The chain checked in itself and against every witness: `ok`, the entries, the number of witnesses, every
    problem found, and the chain's own check (`chain`)."""
    chain = verify_chain(s)
    found = list(problems)
    if not chain["ok"]:
        broken = chain["first_broken"]
        found.append(f"entry {broken['seq']}: {broken['reason']}")
    last_seq = s.scalar(select(func.max(AuditEntry.seq))) or 0
    for w in witnesses:
        if (why := check_witness(s, w, last_seq)) is not None:
            found.append(why)
    return {
        "ok": not found,
        "entries": chain["entries"],
        "witnesses": len(witnesses),
        "problems": found,
        "chain": chain,
    }


@dataclass(slots=True)
class Checkpointer:
    """Signs the chain's head with `key` and publishes it to `target` whenever the head has moved."""

    key: Ed25519PrivateKey
    target: str
    last: tuple[int, str] | None = None
    published: int = 0
    failures: int = 0

    def run_once(self, engine: Engine) -> Checkpoint | None:
        """Publish a checkpoint if the head moved since the last one; CheckpointError if it could not be kept."""
        with Session(engine) as s:
            if current_head(s) == self.last:
                return None
            cp = sign_head(s, self.key)
        try:
            publish(cp, self.target)
        except CheckpointError:
            self.failures += 1
            raise
        self.last, self.published = (cp.seq, cp.hash), self.published + 1
        return cp

    def witnesses(self) -> tuple[list[Witness], list[str]]:
        """The checkpoints published to a file target, verified with this key; none for a URL target."""
        if self.target.startswith(("http://", "https://")) or not Path(self.target).exists():
            return [], []
        try:
            checkpoints = read_checkpoints(Path(self.target))
        except CheckpointError as exc:
            return [], [str(exc)]
        return signed_witnesses(checkpoints, [self.key.public_key()], self.target)


def open_checkpointer(key_file: Path, target: str) -> tuple[Checkpointer, bool]:
    """A checkpointer with the key in `key_file` (made if missing: True) publishing to `target`."""
    key, created = load_or_create_key(key_file)
    return Checkpointer(key, target), created


def verify_everything(db: Session, checkpointer: Checkpointer | None) -> dict[str, Any]:
    """The chain checked in itself, against this server's signed checkpoints (if it publishes them to a file) and
    against the heads issued reports carry: ok, entries, head, first_broken, witnesses, problems."""
    witnesses, problems = checkpointer.witnesses() if checkpointer else ([], [])
    from_reports, unreadable = report_witnesses(db)
    anchored = verify_anchored(db, [*witnesses, *from_reports], [*problems, *unreadable])
    return {
        **anchored["chain"],
        "ok": anchored["ok"],
        "witnesses": anchored["witnesses"],
        "problems": anchored["problems"],
    }

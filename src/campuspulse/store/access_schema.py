"""Access tables: users, machine tokens, server secrets, and the hash-chained audit log."""

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campuspulse.store.schema import Base, UtcDateTime


class User(Base):
    """A person or machine that may call the API, with one role over one scope."""

    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    role: Mapped[str] = mapped_column(String(32))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(64), default="")
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Sessions carry the generation they were issued in; a password or role change, or disabling, moves it on.
    session_gen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiToken(Base):
    """A long-lived bearer token for a machine, acting as `username`; only its hash is stored. A token bound to
    an agent posts that agent's records and no other's."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    agent: Mapped[str | None] = mapped_column(String(64), default=None)  # a token of this agent's only


class ServerSecret(Base):
    """Secrets every server replica shares (e.g. the JWT signing key when none is configured)."""

    __tablename__ = "server_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class AuditEntry(Base):
    """One change to the store; `hash` = sha256 of the previous entry's hash and this entry's content."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    entity: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    school: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    old: Mapped[str | None] = mapped_column(Text, default=None)
    new: Mapped[str | None] = mapped_column(Text, default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The one row that serialises appends to the audit chain: the last entry's seq and hash."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class LoginFailure(Base):
    """Failed logins per (username, client address) in the current window; shared by every replica."""

    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)
    count: Mapped[int] = mapped_column(Integer)


class EndedSession(Base):
    """A browser session ended by logging out: its access token (by `jti`) is refused until it would expire."""

    __tablename__ = "ended_sessions"
    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

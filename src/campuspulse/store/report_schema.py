"""Reports issued to the commission: the file as issued, its SHA-256, and for what scope and period."""

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from campuspulse.store.schema import Base, UtcDateTime


class IssuedReport(Base):
    """A report as issued (`content`, XLSX); `sha256` lets anyone check a copy against the store."""

    __tablename__ = "issued_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    ident: Mapped[str] = mapped_column(String(64))
    period_from: Mapped[str] = mapped_column(String(10))
    period_to: Mapped[str] = mapped_column(String(10))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    issued_by: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)  # the audit chain's head when issued
    audit_hash: Mapped[str | None] = mapped_column(String(64), default=None)

    __table_args__ = (Index("ix_issued_reports_scope", "scope", "ident", "period_from"),)

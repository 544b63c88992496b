"""The `store` section: where the SQL store lives and how it settles records that arrive out of order."""

from pydantic import Field

from campuspulse.settings import Section


class StoreSettings(Section):
    """The SQL store (a SQLite file by default, PostgreSQL in production) and its ingest rules, which the
    collector and the server's HTTP ingest share."""

    url: str = "sqlite:///var/campuspulse.db"
    reorder_window_s: float = Field(300.0, gt=0, description="how long records wait behind a seq gap")
    max_future_skew_s: float = Field(300.0, ge=0, description="records further ahead than this are flagged")

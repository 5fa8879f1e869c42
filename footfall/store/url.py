"""Database URLs: which backend, and the forms each driver wants."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatabaseURL:
    raw: str

    @property
    def backend(self) -> str:
        if self.raw.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
            return "postgresql"
        if self.raw.startswith("sqlite:") or "://" not in self.raw:
            return "sqlite"
        raise ValueError(f"unsupported database URL {self.redacted()!r}: use sqlite:///PATH or postgresql://…")

    @property
    def sqlite_path(self) -> str:
        """sqlite:///relative.db, sqlite:////abs/path.db, or a bare path."""
        if "://" not in self.raw:
            return self.raw
        return self.raw.split("://", 1)[1][1:] or ":memory:"

    @property
    def libpq(self) -> str:
        rest = self.raw.split("://", 1)[1]
        return "postgresql://" + rest

    @property
    def sqlalchemy(self) -> str:
        if self.backend == "sqlite":
            return "sqlite:///" + self.sqlite_path
        return "postgresql+psycopg://" + self.raw.split("://", 1)[1]

    def redacted(self) -> str:
        """The URL without its password, for logs and messages."""
        if "://" not in self.raw or "@" not in self.raw:
            return self.raw
        scheme, rest = self.raw.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"

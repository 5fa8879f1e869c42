"""The `footfall` command: serve, manage accounts, export what was stored."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from footfall import config
from footfall.domain import scopes as scope_rules
from footfall.store import accounts as account_store
from footfall.store import db, exports, migrate
from footfall.store.url import DatabaseURL

app = typer.Typer(help="Footfall: customer events, profiles and segments on Klaviyo's wire protocols.",
                  no_args_is_help=True, add_completion=False)
accounts_app = typer.Typer(help="Create and list accounts and their keys.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
err = Console(stderr=True)
out = Console()

DatabaseOption = typer.Option(None, "--database", help="Database URL (default: $FOOTFALL_DATABASE_URL or sqlite:///footfall.db).")


def _database(url: Optional[str]) -> str:
    chosen = url or os.environ.get("FOOTFALL_DATABASE_URL") or config.DEFAULT_DATABASE_URL
    DatabaseURL(chosen).backend  # refuse an unsupported URL early, with a clear message
    return chosen


def _connect(url: str) -> db.Conn:
    migrate.upgrade(url)
    return db.connect(url)


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default 8000)."),
    workers: int = typer.Option(None, help="Worker processes (default 1)."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Run the HTTP server. The schema is created or upgraded first, once, before workers start."""
    from footfall.ingest import writer_process

    settings = config.from_env()
    url = _database(database)
    workers = workers or settings.workers
    if workers == 1:  # its start overlaps ours; with several workers, each starts its own
        writer_process.prestart(DatabaseURL(url).backend)
    import uvicorn

    host = host or settings.host
    port = port or settings.port
    migrate.upgrade(url)
    _first_run_account(url)
    os.environ["FOOTFALL_DATABASE_URL"] = url  # workers read their settings from the environment
    err.print(f"Footfall on http://{host}:{port}  database {DatabaseURL(url).redacted()}  workers {workers}")
    uvicorn.run("footfall.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, timeout_graceful_shutdown=10,
                proxy_headers=False)  # the app trusts FOOTFALL_TRUSTED_PROXIES only (api/client_address.py)


def _first_run_account(url: str) -> None:
    conn = db.connect(url)
    try:
        if account_store.list_accounts(conn):
            return
        try:
            new = account_store.create_account(conn, "default")
        except ValueError:  # another process created it a moment ago
            return
    finally:
        conn.close()
    err.print("[bold]Created account 'default'.[/bold] Keep the private key: it is shown only once.")
    err.print(f"  public key:  {new.account.public_key}")
    err.print(f"  private key: {new.private_key}")


@accounts_app.command("create")
def accounts_create(
    name: str,
    as_json: bool = typer.Option(False, "--json", help="Print the account and its keys as JSON."),
    scopes: str = typer.Option("all", help="Scopes of the private key: all, read, or FAMILY:MODE,…"),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Create an account; its private key is printed once."""
    conn = _connect(_database(database))
    try:
        new = account_store.create_account(conn, name, scope_rules.parse(scopes))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
    finally:
        conn.close()
    info = {"id": new.account.id, "name": new.account.name, "public_key": new.account.public_key,
            "private_key": new.private_key}
    if as_json:
        sys.stdout.write(msgspec.json.encode(info).decode() + "\n")
    else:
        for key, value in info.items():
            out.print(f"{key:12} {value}")


@accounts_app.command("list")
def accounts_list(database: Optional[str] = DatabaseOption) -> None:
    """List accounts (private keys are never shown again)."""
    conn = _connect(_database(database))
    try:
        rows = account_store.list_accounts(conn)
    finally:
        conn.close()
    table = Table("id", "name", "public key")
    for account in rows:
        table.add_row(account.id, account.name, account.public_key)
    out.print(table)


@accounts_app.command("key")
def accounts_key(
    public_key: str = typer.Option(..., "--account", help="The account's public key or name."),
    scopes: str = typer.Option("all", help="all, read, or FAMILY:MODE,… (e.g. events:read,profiles:write)"),
    label: str = typer.Option("cli", help="A name for the key."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Create another private key for an account, with the given scopes; printed once."""
    conn = _connect(_database(database))
    try:
        account = _find_account(conn, public_key)
        key = account_store.create_key(conn, account.id, label, scope_rules.parse(scopes))
    finally:
        conn.close()
    sys.stdout.write(key + "\n")


class Kind(str, Enum):
    events = "events"
    profiles = "profiles"


@app.command()
def export(
    kind: Kind,
    account: str = typer.Option(..., "--account", help="The account's public key (or name)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file (default stdout)."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Export an account's events or profiles as JSON Lines."""
    conn = _connect(_database(database))
    encoder = msgspec.json.Encoder()
    try:
        found = _find_account(conn, account)
        rows = exports.events(conn, found.id) if kind is Kind.events else exports.profiles(conn, found.id)
        stream = open(output, "wb") if output else sys.stdout.buffer
        try:
            for row in rows:
                stream.write(encoder.encode(row) + b"\n")
        finally:
            if output:
                stream.close()
            else:
                stream.flush()
    finally:
        conn.close()


def _find_account(conn: db.Conn, key_or_name: str) -> account_store.Account:
    for acc in account_store.list_accounts(conn):
        if key_or_name in (acc.public_key, acc.name):
            return acc
    err.print(f"[red]error:[/red] no account with public key or name {key_or_name!r}")
    raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(database: Optional[str] = DatabaseOption) -> None:
    """Create the schema, or upgrade it in place to the latest revision."""
    url = _database(database)
    migrate.upgrade(url)
    out.print(f"schema at revision {migrate.current(url)}")


# -- segments -----------------------------------------------------------------------------------------
segments_app = typer.Typer(help="Segments: list, show, members, evaluate.", no_args_is_help=True)
app.add_typer(segments_app, name="segments")
AccountOption = typer.Option(..., "--account", help="The account's public key (or name).")


@segments_app.command("list")
def segments_list(account: str = AccountOption, database: Optional[str] = DatabaseOption) -> None:
    """List an account's segments with their member counts."""
    from footfall.segments import operator_view

    conn = _connect(_database(database))
    try:
        rows = operator_view.segment_rows(conn, _find_account(conn, account).id)
    finally:
        conn.close()
    table = Table("id", "name", "members", "processing", "updated")
    for row in rows:
        table.add_row(row["id"], row["name"], str(row["members"]), "yes" if row["is_processing"] else "no",
                      row["updated"])
    out.print(table)


@segments_app.command("show")
def segments_show(segment_id: str, account: str = AccountOption, database: Optional[str] = DatabaseOption) -> None:
    """Print a segment's definition and member count."""
    from footfall.segments import operator_view

    conn = _connect(_database(database))
    try:
        row = operator_view.segment_detail(conn, _find_account(conn, account).id, segment_id)
    finally:
        conn.close()
    if row is None:
        err.print(f"[red]error:[/red] no segment {segment_id!r} in that account")
        raise typer.Exit(1)
    sys.stdout.write(msgspec.json.encode(row).decode() + "\n")


@segments_app.command("members")
def segments_members(
    segment_id: str, account: str = AccountOption,
    limit: int = typer.Option(100, help="At most this many members (0: all)."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """List a segment's current members (profile id, email, joined)."""
    from footfall.segments import operator_view

    conn = _connect(_database(database))
    try:
        rows = operator_view.member_rows(conn, _find_account(conn, account).id, segment_id, limit or None)
    finally:
        conn.close()
    table = Table("profile id", "email", "joined")
    for row in rows:
        table.add_row(row["id"], row["email"] or "", row["joined"])
    out.print(table)


@segments_app.command("evaluate")
def segments_evaluate(segment_id: str, account: str = AccountOption, database: Optional[str] = DatabaseOption) -> None:
    """Evaluate a segment in full now, record joins and leaves, and print the count and the time it took."""
    from footfall.segments import operator_view

    conn = _connect(_database(database))
    try:
        report = operator_view.evaluate(conn, _find_account(conn, account).id, segment_id, err)
    except LookupError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
    finally:
        conn.close()
    out.print(f"{report['members']} members ({report['joined']} joined, {report['left']} left) "
              f"in {report['seconds']:.3f} s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""The `footfall` command: serve, manage accounts, export what was stored."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Iterator, NoReturn, Optional

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from footfall import config
from footfall.domain import scopes as scope_rules
from footfall.store import accounts as account_store
from footfall.store import db, exports, keys as key_store, migrate, preflight
from footfall.store.url import DatabaseURL
from footfall.failures import ConfigError, CopyRefused, DatabaseProblem, KeyNotFound, ReadOnlyStore
from footfall.refusals import StoreUnavailable

app = typer.Typer(help="Footfall: customer events, profiles and segments on Klaviyo's wire protocols.",
                  no_args_is_help=True, add_completion=False)
accounts_app = typer.Typer(help="Create and list accounts and their keys.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
err = Console(stderr=True)
out = Console()

DatabaseOption = typer.Option(None, "--database", help="Database URL (default: $FOOTFALL_DATABASE_URL or sqlite:///footfall.db).")


def fail(message: str, code: int = 1) -> NoReturn:
    """A user mistake: one line on stderr, a non-zero exit, no traceback."""
    sys.stderr.write(f"footfall: error: {message}\n")
    raise typer.Exit(code)


def _parse_scopes(text: str) -> tuple[str, ...]:
    try:
        return scope_rules.parse(text)
    except ValueError as exc:
        fail(f"--scopes: {exc}", 2)


def _database(url: Optional[str]) -> str:
    """The database URL to use, checked first (a typo must not become an empty SQLite file)."""
    chosen = url or os.environ.get("FOOTFALL_DATABASE_URL") or config.DEFAULT_DATABASE_URL
    source = "--database" if url else "FOOTFALL_DATABASE_URL" if os.environ.get("FOOTFALL_DATABASE_URL") else "database"
    try:
        preflight.check(chosen)
    except DatabaseProblem as exc:
        fail(f"{source}: {exc}")
    return chosen


def _connect(url: str) -> db.Conn:
    migrate.upgrade(url)
    return db.connect(url)


@contextmanager
def _connected(database: Optional[str]) -> Iterator[db.Conn]:
    """The checked, migrated database of --database, closed however the command ends."""
    conn = _connect(_database(database))
    try:
        yield conn
    finally:
        conn.close()


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, min=1, max=65535, help="Port (default 8000)."),
    workers: int = typer.Option(None, min=1, max=64, help="Worker processes (default 1)."),
    database: Optional[str] = DatabaseOption,
    access_log: bool = typer.Option(False, "--access-log", help="One log line per request (as FOOTFALL_ACCESS_LOG=1)."),
) -> None:
    """Run the HTTP server. The schema is created or upgraded first, once, before workers start.

    Examples: footfall serve --port 8080 --workers 4 --database postgresql://postgres@127.0.0.1/footfall
    """
    from footfall.ingest import shared_writer, writer_process

    settings = config.from_env()
    url = _database(database)
    workers = workers or settings.workers
    if workers < 1:
        fail(f"FOOTFALL_WORKERS={workers} is not a number of worker processes: use 1 or more", 2)
    config.check_port(port or settings.port, "--port" if port else "FOOTFALL_PORT")
    _check_listen(host or settings.host, port or settings.port)
    from footfall.observability import prometheus_metrics, rundir

    if access_log:  # workers read their settings from the environment
        os.environ["FOOTFALL_ACCESS_LOG"] = "1"

    if settings.metrics_port:
        _check_listen(settings.metrics_host, settings.metrics_port)
    # Workers read their settings from the environment; the run directory (heartbeats, metrics
    # files) is set before the first writer process starts, so that it counts too.
    run_dir = rundir.create()
    os.environ.update({"FOOTFALL_DATABASE_URL": url, "FOOTFALL_WORKERS": str(workers), rundir.ENV: str(run_dir)})
    if settings.metrics:
        os.environ[prometheus_metrics.MULTIPROC_ENV] = str(rundir.metrics_dir(run_dir))
    try:
        if settings.metrics and settings.metrics_port:
            prometheus_metrics.serve_port(settings.metrics_host, settings.metrics_port)
        backend = DatabaseURL(url).backend
        shared = None
        if workers == 1:  # its start overlaps ours; with several workers, each starts its own
            writer_process.prestart(backend)
        elif backend == "sqlite":  # one write lock: the workers share one writer (ingest/shared_writer.py)
            shared = shared_writer.SharedWriter(run_dir)
            shared.start()
            os.environ[shared_writer.ENV] = shared.path
        try:
            _serve(settings, host or settings.host, port or settings.port, url, workers)
        finally:
            if shared is not None:  # after the workers, which drain their queues through it
                shared.stop()
    finally:
        rundir.remove(run_dir)


def _serve(settings: config.Settings, host: str, port: int, url: str, workers: int) -> None:
    import uvicorn

    _prepare_store(url)
    err.print(f"Footfall on http://{host}:{port}  database {DatabaseURL(url).redacted()}  workers {workers}")
    from footfall import serving

    uvicorn.run("footfall.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, timeout_graceful_shutdown=10,
                http=serving.HeaderTimeoutProtocol, **serving.uvicorn_options(settings),
                proxy_headers=False)  # the app trusts FOOTFALL_TRUSTED_PROXIES only (api/client_address.py)


def _prepare_store(url: str) -> None:
    """Schema, first account and a write check; a store that cannot be written is one line, exit 1."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    refusals: tuple[type[BaseException], ...] = (ReadOnlyStore, StoreUnavailable, SQLAlchemyError, sqlite3.Error)
    if DatabaseURL(url).backend == "postgresql":  # psycopg takes ~0.25 s to import: not on SQLite's start
        import psycopg

        refusals += (psycopg.Error,)
    try:
        migrate.upgrade(url)
        _first_run_account(url)
        db.check_writable(url)
    except refusals as exc:
        cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        err.print(f"[red]error:[/red] cannot use the database {DatabaseURL(url).redacted()}: {first}",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _check_listen(host: str, port: int) -> None:
    """Fail at once, in one line, if the address cannot be listened on (in use, not this host's)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fail(f"--host {host!r} is not an address of this machine ({exc.strerror})", 2)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror} (is another server using that port? "
                 "choose another with --port)")


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
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone of the account (its console's days)."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Create an account; its private key is printed once.

    Example: footfall accounts create shop --timezone Europe/Paris
    """
    with _connected(database) as conn:
        try:
            new = account_store.create_account(conn, name, _parse_scopes(scopes), timezone)
        except ValueError as exc:
            fail(str(exc))
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
    with _connected(database) as conn:
        rows = account_store.list_accounts(conn)
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
    chosen = _parse_scopes(scopes)
    with _connected(database) as conn:
        account = _find_account(conn, public_key)
        key = account_store.create_key(conn, account.id, label, chosen)
    sys.stdout.write(key + "\n")


@accounts_app.command("rename")
def accounts_rename(
    account: str = typer.Argument(..., metavar="ACCOUNT", help="The account's public key or name."),
    new_name: str = typer.Argument(..., metavar="NEW_NAME"),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Give an account another name.

    Example: footfall accounts rename default "Main shop"
    """
    with _connected(database) as conn:
        try:
            renamed = account_store.rename_account(conn, _account_id(conn, account), new_name)
        except ValueError as exc:
            fail(str(exc))
    err.print(f"account {renamed.public_key} is now named {renamed.name!r}", highlight=False)


@accounts_app.command("timezone")
def accounts_timezone(
    account: str = typer.Argument(..., metavar="ACCOUNT", help="The account's public key or name."),
    zone: Optional[str] = typer.Argument(None, metavar="[ZONE]", help="An IANA name; leave out to print it."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Print or set an account's time zone: where the console's days begin and its charts' zone picker starts.

    Example: footfall accounts timezone default America/New_York
    """
    with _connected(database) as conn:
        account_id = _account_id(conn, account)
        if zone is None:
            sys.stdout.write(account_store.timezone_of(conn, account_id) + "\n")
            return
        try:
            account_store.set_timezone(conn, account_id, zone)
        except ValueError as exc:
            fail(str(exc))
    err.print(f"account {account!r} is now in {zone}", highlight=False)


@accounts_app.command("delete")
def accounts_delete(
    account: str = typer.Argument(..., metavar="ACCOUNT", help="The account's public key or name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Delete an account with all its keys, profiles, events, segments and lists (asks first).

    Example: footfall accounts delete ABC123 --yes
    """
    with _connected(database) as conn:
        found = _find_account(conn, account)
        if not yes:
            if not sys.stdin.isatty():
                fail(f"deleting account {found.name!r} needs confirmation: run it in a terminal, or pass --yes")
            answer = typer.prompt(f"Delete account {found.name!r} ({found.public_key}) and all its data? "
                                  f"Type its name to confirm", default="", show_default=False)
            if answer != found.name:
                fail("not confirmed; nothing was deleted")
        deleted = account_store.delete_account(conn, found.id)
    rows = sum(n for table, n in deleted.items() if table != "accounts")
    err.print(f"deleted account {found.name!r} ({found.public_key}) and {rows} rows of its data", highlight=False)


class Kind(str, Enum):
    events = "events"
    profiles = "profiles"


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


@app.command()
def export(
    kind: Kind,
    account: str = typer.Option(..., "--account", help="The account's public key (or name)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file (default stdout)."),
    fmt: ExportFormat = typer.Option(ExportFormat.jsonl, "--format", help="jsonl (default) or csv (a header row)."),
    metric: Optional[list[str]] = typer.Option(None, "--metric", help="Events of this metric only (repeatable)."),
    since: Optional[str] = typer.Option(None, "--since", help="Events at or after this time (ISO 8601 or epoch seconds)."),
    until: Optional[str] = typer.Option(None, "--until", help="Events before this time (ISO 8601 or epoch seconds)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar (shown when writing to a file)."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Export an account's events or profiles as JSON Lines (or CSV), oldest first."""
    from footfall.transfer import cli_support

    if output is not None and not output.parent.is_dir():
        fail(f"--output {str(output)!r}: the directory {str(output.parent)!r} does not exist")
    if output is not None and output.is_dir():
        fail(f"--output {str(output)!r} is a directory: name a file")

    with _connected(database) as conn:
        found = _find_account(conn, account)
        try:
            cli_support.export(conn, found.id, kind.value, fmt.value, output, metric or None, since, until,
                               progress=bool(output) and not quiet, console=err)
        except ValueError as exc:
            fail(str(exc))


def _find_account(conn: db.Conn, key_or_name: str) -> account_store.Account:
    found = account_store.by_name_or_public_key(conn, key_or_name)
    if found is None:
        fail(f"no account with public key or name {key_or_name!r} (see `footfall accounts list`)")
    return found


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
    from footfall import cli_segments

    with _connected(database) as conn:
        rows = cli_segments.segment_rows(conn, _find_account(conn, account).id)
    table = Table("id", "name", "members", "processing", "updated")
    for row in rows:
        table.add_row(row["id"], row["name"], str(row["members"]), "yes" if row["is_processing"] else "no",
                      row["updated"])
    out.print(table)


@segments_app.command("show")
def segments_show(segment_id: str, account: str = AccountOption, database: Optional[str] = DatabaseOption) -> None:
    """Print a segment's definition and member count."""
    from footfall import cli_segments

    with _connected(database) as conn:
        row = cli_segments.segment_detail(conn, _find_account(conn, account).id, segment_id)
    if row is None:
        fail(f"no segment {segment_id!r} in that account (see `footfall segments list`)")
    sys.stdout.write(msgspec.json.encode(row).decode() + "\n")


@segments_app.command("members")
def segments_members(
    segment_id: str, account: str = AccountOption,
    limit: int = typer.Option(100, help="At most this many members (0: all)."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """List a segment's current members (profile id, email, joined)."""
    from footfall import cli_segments

    with _connected(database) as conn:
        rows = cli_segments.member_rows(conn, _find_account(conn, account).id, segment_id, limit or None)
    table = Table("profile id", "email", "joined")
    for row in rows:
        table.add_row(row["id"], row["email"] or "", row["joined"])
    out.print(table)


@segments_app.command("evaluate")
def segments_evaluate(segment_id: str, account: str = AccountOption, database: Optional[str] = DatabaseOption) -> None:
    """Evaluate a segment in full now, record joins and leaves, and print the count and the time it took."""
    from footfall import cli_segments

    with _connected(database) as conn:
        try:
            report = cli_segments.evaluate(conn, _find_account(conn, account).id, segment_id, err)
        except LookupError as exc:
            fail(str(exc))
    out.print(f"{report['members']} members ({report['joined']} joined, {report['left']} left) "
              f"in {report['seconds']:.3f} s")


# -- privacy, import, db copy (issue 13): the logic is in footfall/transfer/ ------------------------------
privacy_app = typer.Typer(help="Data privacy: delete a person.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")


class ImportKind(str, Enum):
    events = "events"
    profiles = "profiles"


class ImportFormat(str, Enum):
    auto = "auto"
    footfall = "footfall"
    klaviyo = "klaviyo"
    segment = "segment"
    csv = "csv"


@privacy_app.command("delete")
def privacy_delete(
    account: str = AccountOption,
    email: Optional[str] = typer.Option(None, "--email", help="Delete every profile with this email."),
    phone: Optional[str] = typer.Option(None, "--phone", help="Delete every profile with this phone number (E.164)."),
    profile_id: Optional[str] = typer.Option(None, "--id", help="Delete the profile with this id."),
    as_json: bool = typer.Option(False, "--json", help="Print the deletion record as JSON."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Delete a person: profiles, identifiers, events, memberships; a hashed deletion record remains."""
    from footfall.transfer import cli_support

    given = [(k, v) for k, v in (("email", email), ("phone_number", phone), ("id", profile_id)) if v]
    if len(given) != 1:
        fail("name the person by exactly one of --email, --phone or --id")
    url = _database(database)
    conn = _connect(url)
    try:
        found = _find_account(conn, account)
    finally:
        conn.close()
    try:
        record = cli_support.delete_person(url, found.id, *given[0])
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(msgspec.json.encode(record).decode() + "\n")
    else:
        counts = record["counts"]
        out.print(f"deleted {counts['profiles']} profile(s), {counts['events']} event(s), "
                  f"{counts['memberships']} membership(s); deletion record {record['id']}")


@app.command("import")
def import_(
    kind: ImportKind,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="JSON Lines or CSV file."),
    account: str = AccountOption,
    fmt: ImportFormat = typer.Option(ImportFormat.auto, "--format",
                                     help="auto (default: from the file), footfall (export), klaviyo, segment, csv."),
    restart: bool = typer.Option(False, "--restart", help="Ignore the saved position of an interrupted run."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Import events or profiles; resumable, idempotent, safe while a server runs."""
    from footfall.transfer import cli_support

    url = _database(database)
    conn = _connect(url)
    try:
        found = _find_account(conn, account)
    finally:
        conn.close()
    try:
        summary = cli_support.run_import(url, found.id, kind.value, file, fmt.value, restart,
                                         progress=not quiet, console=err)
    except KeyboardInterrupt:
        err.print("interrupted: what was stored is kept; run the same command again to resume")
        raise typer.Exit(130)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(msgspec.json.encode(summary.as_dict()).decode() + "\n")
    else:
        cli_support.print_summary(summary, out)
    raise typer.Exit(0 if summary.refused == 0 else 2)


@db_app.command("copy")
def db_copy(
    source: str = typer.Option(..., "--from", help="The database to copy (e.g. sqlite:///footfall.db)."),
    target: str = typer.Option(..., "--to", help="The database to copy into (e.g. postgresql://…)."),
    allow_non_empty: bool = typer.Option(False, "--allow-non-empty", help="Copy into a target that has data."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Copy everything from one database to another, then verify counts and a checksum per table."""
    from footfall.transfer import dbcopy

    try:
        DatabaseURL(source).backend
        DatabaseURL(target).backend
        report = dbcopy.copy(source, target, allow_non_empty=allow_non_empty, console=None if quiet else err)
    except CopyRefused as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc))
    table = Table("table", "rows", "checksum", "verified")
    for row in report.tables:
        table.add_row(row.name, str(row.rows), row.checksum[:16], "yes" if row.verified else "NO")
    out.print(table)
    if not report.verified:
        fail("the copy does not match the source (see the table above); nothing was committed")
    out.print(f"copied {report.total_rows} rows in {len(report.tables)} tables in {report.seconds:.1f} s; "
              "verified: counts and checksums match")


# -- keys ---------------------------------------------------------------------------------------------
keys_app = typer.Typer(help="An account's API keys: list, create, revoke, rotate.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


class KeyKind(str, Enum):
    private = "private"
    write = "write"


def _account_id(conn: db.Conn, key_or_name: str) -> str:
    return _find_account(conn, key_or_name).id


def _print_json(value: object) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


def _print_new_key(made: key_store.NewKey, as_json: bool) -> None:
    if as_json:
        _print_json(made.as_created())
        return
    for name, value in made.as_created().items():
        out.print(f"{name:7} {','.join(value) if isinstance(value, list) else value}", highlight=False)
    err.print("Keep the key: it is shown only once.")


@keys_app.command("create")
def keys_create(
    account: str = AccountOption,
    name: str = typer.Option("cli", "--name", help="A name for the key (shown in listings)."),
    scopes: Optional[str] = typer.Option(None, "--scopes",
                                         help="all, read, or FAMILY:MODE,… (default: all for private keys, "
                                              "events:write,profiles:write for write keys)."),
    kind: KeyKind = typer.Option(KeyKind.private, "--kind",
                                 help="private (Authorization header of /api) or write (a source key for the "
                                      "Segment / PostHog wires)."),
    as_json: bool = typer.Option(False, "--json", help='Print {"id","name","kind","scopes","key"} as JSON.'),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Create a key; its secret is printed once.

    Example: footfall keys create --account ABC123 --name reporting --scopes events:read,metrics:read --json
    """
    chosen = _parse_scopes(scopes) if scopes is not None else None
    with _connected(database) as conn:
        made = key_store.create_key(conn, _account_id(conn, account), name, chosen, kind.value)
    _print_new_key(made, as_json)


@keys_app.command("list")
def keys_list(
    account: str = AccountOption,
    as_json: bool = typer.Option(False, "--json",
                                 help='Print a JSON array of {"id","name","kind","scopes","prefix","created","last_used"}.'),
    database: Optional[str] = DatabaseOption,
) -> None:
    """List an account's live keys (never their secrets).

    Example: footfall keys list --account ABC123 --json
    """
    with _connected(database) as conn:
        rows = key_store.list_keys(conn, _account_id(conn, account))
    if as_json:
        _print_json([row.as_listed() for row in rows])
        return
    table = Table("id", "name", "kind", "prefix", "scopes", "created", "last used")
    for row in rows:
        table.add_row(row.id, row.name, row.kind, row.prefix + "…", ",".join(row.scopes), _when(row.created),
                      _when(row.last_used) if row.last_used else "never")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., metavar="ID", help="The key's id (see `footfall keys list`)."),
    account: str = AccountOption,
    database: Optional[str] = DatabaseOption,
) -> None:
    """Revoke a key: every server stops accepting it within a second.

    Example: footfall keys revoke 01HZX3… --account ABC123
    """
    with _connected(database) as conn:
        try:
            revoked = key_store.revoke_key(conn, _account_id(conn, account), key_id)
        except KeyNotFound as exc:
            fail(f"{exc} (see `footfall keys list --account {account}`)")
    err.print(f"revoked key {revoked.id} ({revoked.name}, {revoked.prefix}…)", highlight=False)


@keys_app.command("rotate")
def keys_rotate(
    key_id: str = typer.Argument(..., metavar="ID", help="The key's id (see `footfall keys list`)."),
    account: str = AccountOption,
    as_json: bool = typer.Option(False, "--json", help='Print the new key as {"id","name","kind","scopes","key"}.'),
    database: Optional[str] = DatabaseOption,
) -> None:
    """Replace a key by a new one with the same name, kind and scopes; the old one is revoked at once.

    Example: footfall keys rotate 01HZX3… --account ABC123 --json
    """
    with _connected(database) as conn:
        try:
            made = key_store.rotate_key(conn, _account_id(conn, account), key_id)
        except KeyNotFound as exc:
            fail(f"{exc} (see `footfall keys list --account {account}`)")
    _print_new_key(made, as_json)


def _when(epoch: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            sys.stdout.write(f"footfall {version('footfall')}\n")
        except PackageNotFoundError:  # run from a source tree that was never installed
            sys.stdout.write("footfall (not installed)\n")
        raise typer.Exit()


@app.callback(epilog="Examples: footfall serve; footfall keys create --account ABC123 --json; "
                     "footfall export events --account ABC123 -o events.jsonl. "
                     "Every command takes --database URL (default $FOOTFALL_DATABASE_URL or sqlite:///footfall.db).")
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Footfall: customer events, profiles and segments on Klaviyo's wire protocols."""


def run(argv: list[str] | None = None) -> int:
    """The command line, where every user mistake ends as one line on stderr and an exit code:
    2 for a malformed command line or setting, 1 for a request that cannot be carried out."""
    try:
        result = app(args=argv, prog_name="footfall", standalone_mode=False)
    except typer.TyperException as exc:  # Typer's own click: usage errors, bad parameters
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            sys.stdout.write(ctx.get_help() + "\n")
            return 2
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return _one_line(f"{message}{where}", getattr(exc, "exit_code", 2))
    except typer.Abort:
        return _one_line("aborted", 1)
    except typer.Exit as exc:
        return exc.exit_code
    except ConfigError as exc:
        return _one_line(str(exc), 2)
    except (StoreUnavailable, DatabaseProblem) as exc:
        return _one_line(f"the database is unavailable: {exc}", 1)
    except OSError as exc:
        return _one_line(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), 1)
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


def _one_line(message: str, code: int) -> int:
    sys.stderr.write("footfall: error: " + " ".join(message.split()) + "\n")
    return code


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()

"""Command-line interface, hung off the app: ``flask --app wsgi map PAGE.txt``."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

import click
from flask import Flask
from flask.cli import with_appcontext

from mappings.content import dumps_json, dumps_yaml
from mappings.content.extract import Reading, read
from mappings.content.report import folder_report, page_report
from mappings.pipeline import map_page
from mappings.source import PageError, read_page
from service.export import DEFAULT_BUNDLE_SIZE, ExportConfig, ExportError
from service.export import export as export_store
from service.loading import LoadError, expand, prepare, read_file
from service.settings import current_settings
from service.storage import open_store
from service.store import StoreUnavailable
from service.store.migrate import head


def _fail(message: str) -> NoReturn:
    """One line, ``FILE:LINE: what is wrong``, and a non-zero exit; never a traceback."""
    click.echo(message, err=True)
    raise click.exceptions.Exit(1)


P = ParamSpec("P")
R = TypeVar("R")


def _quiet(command: Callable[P, R]) -> Callable[P, R]:
    """A command's stderr is its own lines (errors, warnings): the service's records below
    WARNING (a migration's steps, access records) are not written while it runs."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        root = logging.getLogger()
        level = root.level
        root.setLevel(max(level, logging.WARNING))
        try:
            return command(*args, **kwargs)
        finally:
            root.setLevel(level)

    return run


def _os_error(error: OSError, path: Path) -> str:
    """``FILE:0: reason`` for a file or folder the system would not give us."""
    return f"{error.filename or path}:0: cannot read: {error.strerror or error}"


@click.command("map")
@click.argument("page", type=click.Path(path_type=Path))
@click.option("--content", "as_content", is_flag=True, help="Print the middle format instead.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Format of the middle format (with --content).",
)
@click.option(
    "--report",
    "as_report",
    is_flag=True,
    help="Print how the page was read, statement by statement, with its line numbers; "
    "for a folder, one line a page and catalogue-wide totals.",
)
@with_appcontext
@_quiet
def map_command(page: Path, as_content: bool, fmt: str, as_report: bool) -> None:
    """Map one page to an R4 collection Bundle (or, with --content, the middle format;
    with --report, the reading report for a content reviewer).

    Warnings (e.g. a drug the terminology tables do not know) go to stderr. Needs no
    store: it opens no database.
    """
    if as_report:
        try:
            _report(page)
        except OSError as e:  # a folder that cannot be listed
            _fail(_os_error(e, page))
        return
    try:
        data = page.read_bytes()
    except OSError as e:
        _fail(f"{page}:0: cannot read: {e.strerror}")
    try:
        mapped = map_page(data, current_settings().mapping)
    except PageError as e:
        _fail(f"{page}:{e.line}: {e.message}")
    for warning in mapped.result.warnings:
        click.echo(f"{page}: warning: {warning}", err=True)
    if as_content:
        text = dumps_yaml(mapped.content) if fmt == "yaml" else dumps_json(mapped.content)
        click.echo(text, nl=False)
    else:
        click.echo(json.dumps(mapped.bundle, indent=2, ensure_ascii=False))


def _report(path: Path) -> None:
    """The reading report of a page, or the figures of every page of a folder."""
    if path.is_dir():
        pages = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not pages:
            _fail(f"{path}:0: no pages (.txt) in the folder")
        readings: list[tuple[str, Reading]] = []
        for page in pages:
            readings.append((str(page), _read(page)))
        click.echo(folder_report(readings), nl=False)
        return
    click.echo(page_report(str(path), _read(path)), nl=False)


def _read(page: Path) -> Reading:
    try:
        data = page.read_bytes()
    except OSError as e:
        _fail(f"{page}:0: cannot read: {e.strerror}")
    try:
        return read(read_page(data))
    except PageError as e:
        _fail(f"{page}:{e.line}: {e.message}")


@click.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@with_appcontext
@_quiet
def load_command(paths: tuple[Path, ...]) -> None:
    """Load pages (.txt), middle-format content (.yaml/.json) and FHIR Bundles or
    resources (.json) into the store. Directories are searched recursively.

    Everything is mapped and validated first, then written in one transaction: on any
    error nothing is written. Content identical to what is stored creates no new version.
    """
    config = current_settings().mapping
    try:
        files = expand(paths)
        inputs = []
        with click.progressbar(
            files, label="mapping", file=sys.stderr, hidden=not sys.stderr.isatty()
        ) as bar:
            for path in bar:
                inputs.append(read_file(path, config))
        for loaded in inputs:
            for warning in loaded.warnings:
                click.echo(f"{loaded.source}: warning: {warning}", err=True)
        store = open_store()  # opened only once the input is known to be good
        # Conditional creates are settled and everything written in one transaction that
        # holds the write lock: a concurrent load waits, and cannot create the same thing.
        with store.transaction():
            prepared = prepare(inputs, store)
            outcomes = store.put(prepared.resources)
    except LoadError as e:
        _fail(str(e))
    except OSError as e:  # a folder that cannot be listed, a name too long
        _fail(_os_error(e, paths[0]))
    except StoreUnavailable as e:
        _fail(f"database: {e} (nothing was written)")
    actions = Counter(o.action for o in outcomes)
    # A conditional create that found its resource already stored leaves it unchanged.
    types = Counter([o.resource_type for o in outcomes] + [t for t, _ in prepared.existing])
    click.echo(
        f"loaded {len(files)} files: {sum(types.values())} resources "
        f"({', '.join(f'{n} {t}' for t, n in sorted(types.items()))}); "
        f"{actions['created']} created, {actions['updated']} updated, "
        f"{actions['unchanged'] + len(prepared.existing)} unchanged"
    )


@click.command("export")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory to write; it must not exist or be empty (unless --force).",
)
@click.option(
    "--bundle-size",
    type=int,
    default=DEFAULT_BUNDLE_SIZE,
    show_default=True,
    help="Most entries per transaction Bundle (servers cap transaction size).",
)
@click.option("--force", is_flag=True, help="Replace a non-empty output directory.")
@with_appcontext
@_quiet
def export_command(out: Path, bundle_size: int, force: bool) -> None:
    """Write the whole store as transaction Bundles (OUT/bundles), Bulk Data NDJSON
    (OUT/ndjson) and a FHIR NPM package (OUT/package.tgz).

    Built beside OUT and renamed into place at the end: on any error nothing is written.
    """
    settings = current_settings()
    config = ExportConfig(
        canonical_base=settings.canonical_base,
        artifact_version=settings.artifact_version,
        package_name=settings.package_name,
        bundle_size=bundle_size,
    )
    try:
        store = open_store()
        with store.snapshot():  # one state of the store, even while a load runs
            summary = export_store(store, out, config, force=force)
    except ExportError as e:
        _fail(f"Error: {e}; nothing was written")
    except StoreUnavailable as e:
        _fail(f"Error: database: {e}; nothing was written")
    click.echo(summary.line())


@click.command("migrate")
@with_appcontext
@_quiet
def migrate_command() -> None:
    """Bring the database schema to the latest revision (Alembic migrations, under the
    write lock, so nodes and loads never see a half-changed schema). Nodes do this at
    start-up unless FLASK_DATABASE_MIGRATE is false."""
    try:
        changed = open_store(schema=False).migrate()
    except StoreUnavailable as e:
        _fail(f"database: {e}")
    state = "migrated" if changed else "already there"
    click.echo(f"schema at the latest revision, {head()} ({state})")


def init_app(app: Flask) -> None:
    app.cli.add_command(map_command)
    app.cli.add_command(load_command)
    app.cli.add_command(export_command)
    app.cli.add_command(migrate_command)

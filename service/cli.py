"""Command-line interface, hung off the app: ``flask --app wsgi map PAGE.txt``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from mappings.content import dumps_json, dumps_yaml
from mappings.pipeline import map_page
from mappings.rules import MappingConfig
from mappings.source import PageError


def mapping_config() -> MappingConfig:
    return MappingConfig(
        base=current_app.config["CANONICAL_BASE"],
        version=current_app.config["ARTIFACT_VERSION"],
    )


def _fail(message: str) -> NoReturn:
    """One line, ``FILE:LINE: what is wrong``, and a non-zero exit; never a traceback."""
    click.echo(message, err=True)
    raise click.exceptions.Exit(1)


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
@with_appcontext
def map_command(page: Path, as_content: bool, fmt: str) -> None:
    """Map one page to an R4 collection Bundle (or, with --content, the middle format).

    Warnings (e.g. a drug the terminology tables do not know) go to stderr.
    """
    try:
        data = page.read_bytes()
    except OSError as e:
        _fail(f"{page}:0: cannot read: {e.strerror}")
    try:
        config = mapping_config()
    except ValueError as e:
        _fail(f"configuration: {e}")
    try:
        mapped = map_page(data, config)
    except PageError as e:
        _fail(f"{page}:{e.line}: {e.message}")
    for warning in mapped.result.warnings:
        click.echo(f"{page}: warning: {warning}", err=True)
    if as_content:
        text = dumps_yaml(mapped.content) if fmt == "yaml" else dumps_json(mapped.content)
        click.echo(text, nl=False)
    else:
        click.echo(json.dumps(mapped.bundle, indent=2, ensure_ascii=False))


def init_app(app: Flask) -> None:
    app.cli.add_command(map_command)

"""The service's settings: one frozen, typed object, built once in ``create_app``.

Each setting is read from ``FLASK_<NAME>`` in the environment, unless the configuration
handed to ``create_app`` names it (that wins), and otherwise has its default. Every value is
parsed and checked here, once: a value that cannot be used stops the start with one line
naming the variable, the value and what is expected (``ConfigError``), instead of a
request failing later. The parsed values are also written back to ``app.config`` under
their names, for Flask, its extensions and code that reads the config.

Absolute links in replies come from ``public_root``: the configured ``PUBLIC_BASE_URL``,
or the request's own root when its ``Host`` is one of ``TRUSTED_HOSTS`` (any other is a
400 before any view runs, so a shared cache never keeps a link to a host a client made up).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from werkzeug.exceptions import SecurityError

from mappings.rules import DEFAULT_BASE, MappingConfig
from mappings.rules.config import is_semver
from service.export import DEFAULT_PACKAGE_NAME, PACKAGE_NAME_PATTERN

ENV_PREFIX = "FLASK_"
EXTENSION = "ped.settings"
LOCAL_HOSTS = ("localhost", "127.0.0.1")
"""Trusted when ``TRUSTED_HOSTS`` is not set: the loopback names ``make serve`` and the
test client use."""
ANY_HOST = "*"

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
           "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}  # fmt: skip
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
_DECIMAL = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?", re.ASCII)
_HOST = re.compile(r"\.?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*",
                   re.ASCII)  # fmt: skip
_PROXY_HEADERS = ("for", "proto", "host", "prefix", "port")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ConfigError(ValueError):
    """A setting that cannot be used. Its message is one line: the variable, the value
    (unless it is a secret) and what is expected."""


@dataclass(frozen=True)
class ProxyFix:
    """How many proxies in front of the service set each ``X-Forwarded-*`` header (0:
    the header is ignored)."""

    x_for: int = 0
    x_proto: int = 0
    x_host: int = 0
    x_prefix: int = 0
    x_port: int = 0

    @property
    def enabled(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class Settings:
    """Every setting, parsed (``load``); one field per ``NAMES`` entry, lower-cased."""

    canonical_base: str = DEFAULT_BASE
    artifact_version: str = "1.0.0"
    package_name: str = DEFAULT_PACKAGE_NAME
    database_url: str | None = None
    database_connect_timeout: float = 5.0
    database_statement_timeout: float = 15.0
    database_lock_timeout: float = 120.0
    database_migrate: bool = True
    api_token: str | None = None
    max_content_length: int = 2 * 1024 * 1024
    cache_max_age: int = 300
    service_name: str = "Patient-education FHIR service"
    log_level: int = logging.INFO
    log_format: str = "json"
    public_base_url: str | None = None
    trusted_hosts: tuple[str, ...] | None = LOCAL_HOSTS
    """None: every host (``*``)."""
    proxy_fix: ProxyFix = field(default_factory=ProxyFix)
    request_deadline: float = 10.0
    heavy_requests: int = 1
    mapping: MappingConfig = field(default_factory=MappingConfig)
    """The mapping's configuration (canonical base, artifact version), made once."""


# --- parsers: each takes a raw value (a string from the environment, anything from the
# configuration given to create_app) and returns it converted, or raises ValueError.


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError
    return value.strip()


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    word = _text(value).lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError


def _integer(low: int, high: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            number = value
        elif _INTEGER.fullmatch(text := _text(value)):
            number = int(text)
        else:
            raise ValueError
        if not low <= number <= high:
            raise ValueError
        return number

    return parse


def _seconds(high: float) -> Callable[[object], float]:
    def parse(value: object) -> float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)):
            number = float(value)
        elif _DECIMAL.fullmatch(text := _text(value)):
            number = float(text)
        else:
            raise ValueError
        if not 0 < number <= high:  # also refuses NaN
            raise ValueError
        return number

    return parse


def _canonical_base(value: object) -> str:
    base = _text(value)
    MappingConfig(base=base)  # its own rule: http(s), no final '/'
    return base


def _semver(value: object) -> str:
    version = _text(value)
    if not is_semver(version):
        raise ValueError
    return version


def _package_name(value: object) -> str:
    name = _text(value)
    if not PACKAGE_NAME_PATTERN.fullmatch(name):
        raise ValueError
    return name


def _database_url(value: object) -> str:
    url = _text(value)
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ValueError from None
    if backend not in ("sqlite", "postgresql"):
        raise ValueError
    return url


def _token(value: object) -> str:
    if not isinstance(value, str) or value != value.strip() or _CONTROL.search(value):
        raise ValueError
    return value


def _name(value: object) -> str:
    name = _text(value)
    if not name or len(name) > 200 or _CONTROL.search(name):
        raise ValueError
    return name


def _log_level(value: object) -> int:
    if isinstance(value, str) and value.strip().upper() in _LEVELS:
        return _LEVELS[value.strip().upper()]
    return _integer(0, 50)(value)


def _log_format(value: object) -> str:
    chosen = _text(value).lower()
    if chosen not in ("json", "text"):
        raise ValueError
    return chosen


def _public_base_url(value: object) -> str:
    url = _text(value).rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ValueError from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or "?" in url
        or "#" in url
        or _CONTROL.search(url)
        or " " in url
    ):
        raise ValueError
    return url


def _trusted_hosts(value: object) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)):
        names = [_text(v) for v in value]
    else:
        names = [n for n in re.split(r"[,\s]+", _text(value)) if n]
    names = [n.lower() for n in names]
    if names == [ANY_HOST]:
        return None
    if not names or not all(_HOST.fullmatch(n) for n in names):
        raise ValueError
    return tuple(names)


def _proxy_fix(value: object) -> ProxyFix:
    if isinstance(value, ProxyFix):
        return value
    count = _integer(0, 10)
    if isinstance(value, int) or _INTEGER.fullmatch(_text(value)):
        n = count(value)
        return ProxyFix(x_for=n, x_proto=n, x_host=n)
    counts: dict[str, int] = {}
    for part in re.split(r"[,\s]+", _text(value)):
        header, equals, number = part.partition("=")
        if not equals or header.lower() not in _PROXY_HEADERS or header.lower() in counts:
            raise ValueError
        counts[header.lower()] = count(number)
    return ProxyFix(**{f"x_{h}": n for h, n in counts.items()})


@dataclass(frozen=True)
class _Field:
    parse: Callable[[object], Any]
    expected: str
    secret: bool = False
    optional: bool = False
    """None or a blank string leaves it unset (its default)."""


_FIELDS: dict[str, _Field] = {
    "CANONICAL_BASE": _Field(_canonical_base, "an http(s) URL without a final '/'"),
    "ARTIFACT_VERSION": _Field(_semver, "a semantic version such as 1.0.0 or 1.2.0-rc.1"),
    "PACKAGE_NAME": _Field(
        _package_name, "a FHIR package name: lower-case, two or more dot-separated parts"
    ),
    "DATABASE_URL": _Field(
        _database_url,
        "sqlite:///PATH or postgresql://user@host:port/db (or unset: instance/ped.sqlite3)",
        secret=True,  # may hold a password
        optional=True,
    ),
    "DATABASE_CONNECT_TIMEOUT": _Field(_seconds(600), "seconds, more than 0 and at most 600"),
    "DATABASE_STATEMENT_TIMEOUT": _Field(_seconds(3600), "seconds, more than 0 and at most 3600"),
    "DATABASE_LOCK_TIMEOUT": _Field(_seconds(3600), "seconds, more than 0 and at most 3600"),
    "DATABASE_MIGRATE": _Field(_boolean, "true or false (also 1/0, yes/no, on/off)"),
    "API_TOKEN": _Field(
        _token, "a token without surrounding spaces or control characters", True, True
    ),
    "MAX_CONTENT_LENGTH": _Field(_integer(1, 1 << 30), "bytes, a whole number from 1 to 2^30"),
    "CACHE_MAX_AGE": _Field(_integer(0, 31_536_000), "seconds, a whole number from 0 to 31536000"),
    "SERVICE_NAME": _Field(_name, "a name of 1 to 200 characters, no control characters"),
    "LOG_LEVEL": _Field(_log_level, "DEBUG, INFO, WARNING, ERROR, CRITICAL or a number 0-50"),
    "LOG_FORMAT": _Field(_log_format, "json or text"),
    "PUBLIC_BASE_URL": _Field(
        _public_base_url,
        "the service's public http(s) root URL, without query or fragment "
        "(e.g. https://content.example.org)",
        optional=True,
    ),
    "TRUSTED_HOSTS": _Field(
        _trusted_hosts,
        "host names separated by commas ('.example.org' for its subdomains), or '*'",
        optional=True,
    ),
    "PROXY_FIX": _Field(
        _proxy_fix,
        "the number of proxies in front (0: none), or e.g. for=1,proto=1,host=1,prefix=1",
    ),
    "REQUEST_DEADLINE": _Field(_seconds(600), "seconds, more than 0 and at most 600"),
    "HEAVY_REQUESTS": _Field(_integer(1, 64), "a whole number from 1 to 64"),
}
NAMES = tuple(_FIELDS)


def _shown(name: str, value: object) -> str:
    """The value as an error names it: never a secret, a database URL without password."""
    if name == "DATABASE_URL" and isinstance(value, str):
        try:
            return repr(make_url(value.strip()).render_as_string(hide_password=True))
        except ArgumentError:
            pass
    if _FIELDS[name].secret:
        return "(hidden)"
    shown = repr(value)
    return shown if len(shown) <= 80 else f"{shown[:76]}..."


def _problem(name: str, value: object, from_environment: bool) -> ConfigError:
    variable = f"{ENV_PREFIX}{name}" if from_environment else name
    return ConfigError(f"{variable}={_shown(name, value)}: expected {_FIELDS[name].expected}")


def load(environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
    """The settings from the defaults, then ``FLASK_<NAME>`` in ``environ``, then
    ``overrides`` (the configuration given to ``create_app``). Raises ``ConfigError``."""
    overrides = dict(overrides or {})
    for key in overrides:
        if not key.isupper():  # Flask's config would drop it silently
            raise ConfigError(
                f"{key}: configuration keys are upper case (did you mean {key.upper()}?)"
            )
    values: dict[str, Any] = {}
    for name, spec in _FIELDS.items():
        if name in overrides:
            raw, from_environment = overrides[name], False
        elif f"{ENV_PREFIX}{name}" in environ:
            raw, from_environment = environ[f"{ENV_PREFIX}{name}"], True
        else:
            continue
        if spec.optional and (raw is None or (isinstance(raw, str) and not raw.strip())):
            continue
        try:
            values[name.lower()] = spec.parse(raw)
        except ValueError:
            raise _problem(name, raw, from_environment) from None
    if "trusted_hosts" not in values:
        # Unset: the loopback names, and the public host when there is one.
        public = values.get("public_base_url")
        host = urlsplit(public).hostname if public else None
        values["trusted_hosts"] = tuple(dict.fromkeys([*LOCAL_HOSTS, *([host] if host else [])]))
    mapping = MappingConfig(
        base=values.get("canonical_base", DEFAULT_BASE),
        version=values.get("artifact_version", Settings.artifact_version),
    )
    return Settings(**values, mapping=mapping)


def as_config(settings: Settings) -> dict[str, Any]:
    """The settings under their ``app.config`` names, as Flask and older readers expect."""
    config: dict[str, Any] = {name: getattr(settings, name.lower()) for name in NAMES}
    config["TRUSTED_HOSTS"] = (
        None if settings.trusted_hosts is None else list(settings.trusted_hosts)
    )
    return config


def _refuse_untrusted_host() -> None:
    """Flask checks ``Host`` against ``TRUSTED_HOSTS`` while routing and keeps the 400 for
    the view; raise it before any other hook runs (the store's, the probes')."""
    if isinstance(request.routing_exception, SecurityError):
        raise request.routing_exception


def init_app(app: Flask, settings: Settings) -> None:
    """Call first in ``create_app``: its request hook must run before the others."""
    app.config.update(as_config(settings))
    app.extensions[EXTENSION] = settings
    app.before_request(_refuse_untrusted_host)


def settings_of(app: Flask) -> Settings:
    settings: Settings = app.extensions[EXTENSION]
    return settings


def current_settings() -> Settings:
    return settings_of(current_app)


def public_root() -> str:
    """The site root absolute links start from, with its final ``/``: ``PUBLIC_BASE_URL``
    when set, else the root the client reached (its ``Host`` is a trusted one: Flask
    refuses the others before any view runs)."""
    configured = current_settings().public_base_url
    return f"{configured}/" if configured is not None else request.url_root

"""Configuration you can trust (``service.settings``): every setting parsed and checked once
when the app starts, an explicit configuration winning over the environment, migrations
only when configured, and absolute links that never follow a Host header nobody trusted.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from mappings.rules import MappingConfig
from service import ConfigError, create_app
from service import settings as settings_module
from service.export import ExportConfig, ExportError, check_config
from service.settings import NAMES, Settings, load
from tests.conftest import FIXTURES
from tests.infobutton.support import RXNORM, TYPE, criteria, url
from tests.support.servers import make_app

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(f"FLASK_{name}", raising=False)


def _revision(database: Path) -> str | None:
    """The schema revision of a SQLite file (None: never migrated)."""
    with sqlite3.connect(database) as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        if "alembic_version" not in tables:
            return None
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if row is None else str(row[0])


def _outcome(response: TestResponse) -> str:
    body = json.loads(response.data)
    assert body["resourceType"] == "OperationOutcome", body
    return " ".join(issue["diagnostics"] for issue in body["issue"])


# --- one line for a value that cannot be used, at start-up ------------------------------

BAD_VALUES: list[tuple[str, str]] = [
    ("CACHE_MAX_AGE", "abc"),
    ("CACHE_MAX_AGE", "-1"),
    ("CACHE_MAX_AGE", "1e3"),
    ("CACHE_MAX_AGE", ""),
    ("CACHE_MAX_AGE", "99999999999999999999999"),
    ("CACHE_MAX_AGE", "\uff13\uff10"),  # fullwidth 30: int() would read it
    ("DATABASE_MIGRATE", "maybe"),
    ("DATABASE_MIGRATE", "2"),
    ("MAX_CONTENT_LENGTH", "0"),
    ("MAX_CONTENT_LENGTH", "2MB"),
    ("DATABASE_CONNECT_TIMEOUT", "0"),
    ("DATABASE_CONNECT_TIMEOUT", "nan"),
    ("DATABASE_STATEMENT_TIMEOUT", "inf"),
    ("DATABASE_LOCK_TIMEOUT", "-5"),
    ("LOG_LEVEL", "LOUD"),
    ("LOG_FORMAT", "xml"),
    ("ARTIFACT_VERSION", "1.0"),
    ("ARTIFACT_VERSION", "01.0.0"),
    ("ARTIFACT_VERSION", "\uff11.0.0"),
    ("PACKAGE_NAME", "ped"),
    ("CANONICAL_BASE", "fhir.example.org"),
    ("CANONICAL_BASE", "https://fhir.example.org/"),
    ("DATABASE_URL", "mysql://db.internal/ped"),
    ("DATABASE_URL", "not a url"),
    ("SERVICE_NAME", " "),
    ("SERVICE_NAME", "Centre\x1b[31m"),
    ("API_TOKEN", " padded "),
    ("PUBLIC_BASE_URL", "ftp://content.example.org"),
    ("PUBLIC_BASE_URL", "https://content.example.org/?x=1"),
    ("PUBLIC_BASE_URL", "https://user:secret@content.example.org"),
    ("PUBLIC_BASE_URL", "content.example.org"),
    ("PUBLIC_BASE_URL", "https://content.example.org:99999"),
    ("TRUSTED_HOSTS", "content.example.org:8443"),
    ("TRUSTED_HOSTS", "https://content.example.org"),
    ("PROXY_FIX", "-1"),
    ("PROXY_FIX", "for=11"),
    ("PROXY_FIX", "forwarded=1"),
]
SECRETS = ("API_TOKEN",)


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_stops_the_start_with_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"FLASK_{name}", value)
    database = {} if name == "DATABASE_URL" else {"DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"}
    with pytest.raises(ConfigError) as raised:
        create_app(database)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"FLASK_{name}="), message
    assert "expected" in message
    if name in SECRETS:
        assert value.strip() not in message, "a secret is never echoed"
    elif name == "DATABASE_URL" and "://" not in value:
        assert "=(hidden):" in message, "what might hold a password is not echoed"
    else:
        assert repr(value) in message
    assert not (tmp_path / "db").exists()


def test_a_database_password_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_DATABASE_URL", "mysql://ped:s3cret@db.internal/ped")
    with pytest.raises(ConfigError) as raised:
        create_app()
    assert "s3cret" not in str(raised.value)
    assert "db.internal" in str(raised.value)


def test_a_bad_value_in_the_explicit_config_is_named_as_given(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^CACHE_MAX_AGE=-1: expected "):
        make_app(tmp_path / "db.sqlite3", CACHE_MAX_AGE=-1)


@pytest.mark.parametrize("value", ["abc", "-1"])
def test_a_cache_max_age_that_once_started_fine_and_then_answered_500(
    loaded_database: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Before: the app started, then every search and reading-view page was a 500."""
    monkeypatch.setenv("FLASK_CACHE_MAX_AGE", value)
    with pytest.raises(ConfigError, match="FLASK_CACHE_MAX_AGE"):
        make_app(loaded_database)


def test_a_good_cache_max_age_from_the_environment_is_a_number_everywhere(
    loaded_database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_CACHE_MAX_AGE", " 60 ")
    client = make_app(loaded_database).test_client()
    for path in ("/fhir/PlanDefinition", "/fhir/PlanDefinition/all-induction", "/education/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.cache_control.max_age == 60, path


@pytest.mark.parametrize(
    ("value", "expected"),
    [(v, True) for v in ("true", "True", "TRUE", "1", "yes", "Yes", "on", " true ")]
    + [(v, False) for v in ("false", "False", "FALSE", "0", "no", "NO", "off", " False ")],
)
def test_booleans_in_any_usual_spelling(value: str, expected: bool) -> None:
    assert load({"FLASK_DATABASE_MIGRATE": value}).database_migrate is expected


def test_defaults() -> None:
    chosen = load({})
    assert chosen == Settings(trusted_hosts=("localhost", "127.0.0.1"))
    assert chosen.mapping == MappingConfig()


# --- the explicit configuration wins ----------------------------------------------------

# For each setting: a valid value for the environment, another for the explicit config,
# and what the explicit one parses to.
BOTH: dict[str, tuple[str, object, object]] = {
    "CANONICAL_BASE": ("https://env.example.org/ped", "https://explicit.example.org/x",
                       "https://explicit.example.org/x"),
    "ARTIFACT_VERSION": ("9.9.9", "2.0.0", "2.0.0"),
    "PACKAGE_NAME": ("env.package", "explicit.package", "explicit.package"),
    "DATABASE_URL": ("sqlite:////env.sqlite3", "sqlite:////explicit.sqlite3",
                     "sqlite:////explicit.sqlite3"),
    "DATABASE_CONNECT_TIMEOUT": ("9", 2, 2.0),
    "DATABASE_STATEMENT_TIMEOUT": ("9", 3.5, 3.5),
    "DATABASE_LOCK_TIMEOUT": ("9", "4", 4.0),
    "DATABASE_MIGRATE": ("true", False, False),
    "API_TOKEN": ("env-token", "explicit-token", "explicit-token"),
    "MAX_CONTENT_LENGTH": ("999", 1234, 1234),
    "CACHE_MAX_AGE": ("77", 0, 0),
    "SERVICE_NAME": ("Env Centre", "Explicit Centre", "Explicit Centre"),
    "LOG_LEVEL": ("ERROR", "debug", 10),
    "LOG_FORMAT": ("text", "json", "json"),
    "PUBLIC_BASE_URL": ("https://env.example.org", "https://explicit.example.org/",
                        "https://explicit.example.org"),
    "TRUSTED_HOSTS": ("env.example.org", ["explicit.example.org"], ("explicit.example.org",)),
    "PROXY_FIX": ("2", 0, settings_module.ProxyFix()),
    "REQUEST_DEADLINE": ("20", "2.5", 2.5),
    "HEAVY_REQUESTS": ("3", 2, 2),
}  # fmt: skip


def test_every_setting_is_in_the_table() -> None:
    assert set(BOTH) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_explicit_config_wins_over_the_environment(name: str) -> None:
    from_environment, explicit, parsed = BOTH[name]
    environ = {f"FLASK_{name}": from_environment}
    assert getattr(load(environ), name.lower()) != parsed, "the environment is read"
    assert getattr(load(environ, {name: explicit}), name.lower()) == parsed


def test_the_explicit_config_wins_in_the_app_too(
    loaded_database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_CACHE_MAX_AGE", "77")
    monkeypatch.setenv("FLASK_DATABASE_URL", "sqlite:////nowhere/at/all.sqlite3")
    app = make_app(loaded_database, CACHE_MAX_AGE=5)
    response = app.test_client().get("/fhir/PlanDefinition")
    assert response.status_code == 200
    assert response.cache_control.max_age == 5
    assert app.config["CACHE_MAX_AGE"] == 5


def test_a_key_flask_would_drop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flask's config keeps upper-case keys only: ``cache_max_age`` was dropped without a
    word, and the environment's value served instead."""
    monkeypatch.setenv("FLASK_CACHE_MAX_AGE", "77")
    with pytest.raises(ConfigError, match=r"cache_max_age.*CACHE_MAX_AGE"):
        create_app({"cache_max_age": 5, "DATABASE_URL": "sqlite://"})


def test_the_app_config_holds_the_parsed_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_DATABASE_MIGRATE", "False")
    monkeypatch.setenv("FLASK_MAX_CONTENT_LENGTH", "1024")
    app = make_app(tmp_path / "db.sqlite3")
    assert app.config["DATABASE_MIGRATE"] is False
    assert app.config["MAX_CONTENT_LENGTH"] == 1024
    assert app.config["TRUSTED_HOSTS"] == ["localhost", "127.0.0.1"]


# --- one semantic-version rule ----------------------------------------------------------

VERSIONS = ["1.0.0", "1.2.0-rc.1", "1.0.0+build.5", "0.0.1-alpha-2", "01.0.0", "1.0",
            "1.0.0-", "1.0.0\n", "\uff11.0.0", "1.0.0-rc..1", "v1.0.0"]  # fmt: skip


def _accepted(check: Any) -> bool:
    try:
        check()
    except (ValueError, ExportError):
        return False
    return True


@pytest.mark.parametrize("version", VERSIONS)
def test_one_rule_decides_what_a_version_may_be(version: str) -> None:
    """ARTIFACT_VERSION was checked by two rules: the mapping's (which took ``01.0.0`` and
    ``1.0.0\\n``, and refused ``1.0.0+build.5``) and the export's."""
    by_mapping = _accepted(lambda: MappingConfig(version=version))
    by_export = _accepted(
        lambda: check_config(ExportConfig("https://fhir.example.org/ped", version))
    )
    assert by_mapping == by_export, (by_mapping, by_export)
    assert by_mapping is (version in ("1.0.0", "1.2.0-rc.1", "1.0.0+build.5", "0.0.1-alpha-2"))
    # The settings strip the spaces around a value, then apply the same rule.
    by_settings = _accepted(lambda: load({}, {"ARTIFACT_VERSION": version}))
    assert by_settings == _accepted(lambda: MappingConfig(version=version.strip()))


# --- migrations only when configured ----------------------------------------------------


def test_create_app_opens_no_database(tmp_path: Path) -> None:
    make_app(tmp_path / "db.sqlite3")
    assert not (tmp_path / "db.sqlite3").exists()


@pytest.mark.parametrize("spelling", ["False", "false", "0", "no", "OFF"])
def test_database_migrate_false_never_migrates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """``FLASK_DATABASE_MIGRATE=False`` was the string "False", which is true."""
    monkeypatch.setenv("FLASK_DATABASE_MIGRATE", spelling)
    database = tmp_path / "db.sqlite3"
    client = make_app(database).test_client()
    response = client.get("/fhir/PlanDefinition")
    assert response.status_code == 503
    assert "Retry-After" in response.headers
    said = _outcome(response)
    assert "schema" in said and "flask --app wsgi migrate" in said, said
    assert client.get("/readyz").status_code == 503
    assert _revision(database) is None, "nothing migrated the database"


def test_a_schema_behind_answers_503_until_flask_migrate(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    app = make_app(database, DATABASE_MIGRATE=False)
    client = app.test_client()
    assert client.get("/fhir/metadata").status_code == 503
    education = client.get("/education/")
    assert education.status_code == 503
    assert education.mimetype == "text/html"
    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert _revision(database) is not None
    assert client.get("/fhir/PlanDefinition").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_with_migrations_on_the_first_request_migrates(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    client = make_app(database).test_client()
    assert client.get("/healthz").status_code == 200
    assert not database.exists(), "liveness never touches the database"
    assert client.get("/fhir/PlanDefinition").status_code == 200
    assert _revision(database) is not None


# --- absolute links ---------------------------------------------------------------------

PUBLIC = "https://content.example.org/ped"


def _links(body: dict[str, Any]) -> list[str]:
    found = [link["url"] for link in body.get("link", [])]
    found += [entry["fullUrl"] for entry in body.get("entry", []) if "fullUrl" in entry]
    return found


def _every_link_under(client: Any, root: str, **request: Any) -> None:
    fhir = f"{root}fhir/"
    for path in (
        "/fhir/PlanDefinition?_count=1",
        "/fhir/PlanDefinition/_history?_count=1",
        "/fhir/PlanDefinition/all-induction/_history",
        "/fhir/PlanDefinition?_include=PlanDefinition:definition",
    ):
        response = client.get(path, **request)
        assert response.status_code == 200, (path, response.data[:300])
        links = _links(response.get_json())
        assert links, path
        assert all(link.startswith(fhir) for link in links), (path, links)
    statement = client.get("/fhir/metadata", **request).get_json()
    assert statement["implementation"]["url"] == root + "fhir"
    feed = client.get(url(criteria(RXNORM, "6851", (TYPE, "application/json"))), **request)
    assert feed.status_code == 200, feed.data[:300]
    ours = [h for h in _strings(feed.get_json()) if h.startswith(("http://", "https://"))
            and any(p in h for p in ("/infobutton?", "/fhir/", "/education/"))]  # fmt: skip
    assert len(ours) > 2, feed.data[:500]
    assert all(h.startswith(root) for h in ours), ours


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_links_come_from_the_public_base_url(loaded_database: Path) -> None:
    client = make_app(loaded_database, PUBLIC_BASE_URL=PUBLIC + "/").test_client()
    _every_link_under(client, PUBLIC + "/")
    # The public host is trusted too, and changes nothing.
    _every_link_under(client, PUBLIC + "/", base_url="http://content.example.org:8080/")


def test_an_import_reply_links_under_the_public_base_url(tmp_path: Path) -> None:
    from tests.support.servers import TOKEN

    client = make_app(tmp_path / "db.sqlite3", PUBLIC_BASE_URL=PUBLIC).test_client()
    response = client.post(
        "/fhir/$import",
        data=(FIXTURES / "pages" / "all-induction.txt").read_bytes(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.data[:300]
    links = _links(response.get_json())
    assert links and all(link.startswith(f"{PUBLIC}/fhir/") for link in links), links


def test_without_a_public_base_links_follow_a_trusted_host(loaded_database: Path) -> None:
    client = make_app(loaded_database).test_client()
    _every_link_under(client, "http://localhost/")
    _every_link_under(client, "http://127.0.0.1:8080/", base_url="http://127.0.0.1:8080/")


@pytest.mark.parametrize(
    "path", ["/fhir/PlanDefinition", "/fhir/metadata", "/infobutton", "/healthz", "/nowhere"]
)
def test_a_host_nobody_trusted_is_400_and_no_link_to_it(loaded_database: Path, path: str) -> None:
    """Before: a 200, cacheable, its links on whatever host the client named."""
    client = make_app(loaded_database).test_client()
    response = client.get(path, base_url="http://evil.example/")
    assert response.status_code == 400
    assert "http://evil.example" not in response.get_data(as_text=True)
    assert "not trusted" in _outcome(response)
    assert response.cache_control.public is not True


def test_trusted_hosts_names_the_hosts_links_may_follow(loaded_database: Path) -> None:
    app = make_app(loaded_database, TRUSTED_HOSTS="ped.example.org, .example.net")
    client = app.test_client()
    _every_link_under(
        client, "https://ped.example.org:8443/", base_url="https://ped.example.org:8443/"
    )
    _every_link_under(client, "https://a.example.net/", base_url="https://a.example.net/")
    assert client.get("/fhir/metadata").status_code == 400, "localhost is no longer trusted"


def test_any_host_when_asked_for_explicitly(loaded_database: Path) -> None:
    client = make_app(loaded_database, TRUSTED_HOSTS="*").test_client()
    _every_link_under(client, "https://anything.example/", base_url="https://anything.example/")


def test_forwarded_headers_count_only_behind_proxy_fix(loaded_database: Path) -> None:
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ped.example.org",
        "X-Forwarded-Prefix": "/content",
    }
    ignoring = make_app(loaded_database).test_client()
    _every_link_under(ignoring, "http://localhost/", headers=forwarded)

    behind = make_app(loaded_database, PROXY_FIX=1, TRUSTED_HOSTS="ped.example.org").test_client()
    _every_link_under(behind, "https://ped.example.org/", headers=forwarded)

    with_prefix = make_app(
        loaded_database, PROXY_FIX="for=1,proto=1,host=1,prefix=1", TRUSTED_HOSTS="ped.example.org"
    ).test_client()
    _every_link_under(with_prefix, "https://ped.example.org/content/", headers=forwarded)


def test_a_forwarded_host_is_checked_like_any_host(loaded_database: Path) -> None:
    client = make_app(loaded_database, PROXY_FIX=1).test_client()
    response = client.get("/fhir/metadata", headers={"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 400


def test_proxy_fix_counts(tmp_path: Path) -> None:
    fix = load({"FLASK_PROXY_FIX": "2"}).proxy_fix
    assert (fix.x_for, fix.x_proto, fix.x_host, fix.x_prefix, fix.x_port) == (2, 2, 2, 0, 0)
    fix = load({"FLASK_PROXY_FIX": "for=1, prefix=1"}).proxy_fix
    assert (fix.x_for, fix.x_proto, fix.x_host, fix.x_prefix, fix.x_port) == (1, 0, 0, 1, 0)
    assert not load({"FLASK_PROXY_FIX": "0"}).proxy_fix.enabled


def test_the_public_host_is_trusted_by_default() -> None:
    assert load({"FLASK_PUBLIC_BASE_URL": PUBLIC}).trusted_hosts == (
        "localhost",
        "127.0.0.1",
        "content.example.org",
    )
    assert load({"FLASK_TRUSTED_HOSTS": "*"}).trusted_hosts is None
    assert load({"FLASK_TRUSTED_HOSTS": " "}).trusted_hosts == ("localhost", "127.0.0.1")

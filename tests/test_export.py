"""The ``export`` command: the whole store as transaction Bundles, NDJSON and a FHIR package.

Contract: each form is loaded as is by other tooling (the independent R4 validator, our own
``load``, fhir-package-loader), the package is byte-identical for the same store, and every
failure prints one ``Error: …`` line and leaves nothing behind.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from mappings.limits import MAX_RESOURCES
from mappings.rules import MappingConfig
from mappings.rules.definitions import PROFILED, profile_url
from service import ConfigError, create_app
from service.conformance import definitions
from service.export import DEPENDENCY_ORDER
from service.store import Store, StoredResource, StoreUnavailable
from tests.conftest import FIXTURES
from tests.support.r4_validator import VALIDATORS_DIR, find_node, validate_r4

BASE = "https://fhir.example.org/ped"
PACKAGE = "ped.education.content"
VERSION = "1.0.0"
SUMMARY = re.compile(
    r"exported (\d+) resources \((.*)\) to (.+): (\d+) transaction Bundles?, "
    r"(\d+) NDJSON files? \((\d+) lines?\), package\.tgz \((\d+) resources?, (\d+) bytes\)\n"
)
SERVED_TYPES = ("Medication", "ActivityDefinition", "PlanDefinition")
# Our own conformance resources, which every package holds beside the content.
CONFORMANCE = {(r["resourceType"], r["id"]): r for r in definitions(BASE, VERSION)}


def make_app(database: Path, **config: Any) -> Flask:
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}", **config})


def store_of(app: Flask) -> Store:
    store: Store = app.extensions["ped.store"]
    return store


def run(app: Flask, *args: str | Path) -> Result:
    return app.test_cli_runner().invoke(args=[str(a) for a in args])


def export(app: Flask, out: Path, *options: str) -> Result:
    return run(app, "export", "--out", out, *options)


def without_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource as content: meta without versionId/lastUpdated, no meta if that empties it."""
    copy = dict(resource)
    meta = {k: v for k, v in copy.pop("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        copy["meta"] = meta
    return copy


def current(app: Flask) -> dict[tuple[str, str], StoredResource]:
    store = store_of(app)
    return {(s.resource_type, s.id): s for t in SERVED_TYPES for s in store.current(t)}


def contents(app: Flask) -> dict[tuple[str, str], dict[str, Any]]:
    return {k: without_server_meta(json.loads(s.body)) for k, s in current(app).items()}


def leftovers(parent: Path) -> list[str]:
    """Hidden staging or set-aside directories an export could leave beside its target."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def assert_one_error_line(result: Result, *words: str) -> str:
    assert result.exit_code != 0, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """An app over a store loaded with fixtures/ by the real ``load`` command."""
    database = tmp_path_factory.mktemp("export-store") / "loaded.sqlite3"
    app = make_app(database)
    result = run(app, "load", FIXTURES)
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture(scope="module")
def exported(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    out = tmp_path_factory.mktemp("export") / "out"
    return out, export(app, out)


@pytest.fixture(scope="module")
def out(exported: tuple[Path, Result]) -> Path:
    path, result = exported
    assert result.exit_code == 0, result.output
    return path


def bundles(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_bytes()) for p in sorted((directory / "bundles").glob("*.json"))]


def ndjson_resources(directory: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((directory / "ndjson").glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            yield json.loads(line)


def package_members(directory: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    members = []
    with tarfile.open(directory / "package.tgz", mode="r:gz") as tar:
        for info in tar:
            handle = tar.extractfile(info)
            members.append((info, handle.read() if handle is not None else b""))
    return members


def package_files(directory: Path) -> dict[str, bytes]:
    return {info.name.removeprefix("package/"): data for info, data in package_members(directory)}


# --- the command's output --------------------------------------------------------------------


def test_summary_line_counts_every_form(app: Flask, exported: tuple[Path, Result]) -> None:
    out, result = exported
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    match = SUMMARY.fullmatch(result.stdout)
    assert match, result.stdout
    counts = store_of(app).counts()
    total = sum(counts.values())
    assert total > 0
    assert int(match.group(1)) == total
    assert match.group(2) == ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
    assert match.group(3) == str(out)
    assert int(match.group(4)) == len(list((out / "bundles").iterdir()))
    assert int(match.group(5)) == len(counts)
    assert int(match.group(6)) == total
    assert int(match.group(7)) == total + len(CONFORMANCE)
    assert int(match.group(8)) == (out / "package.tgz").stat().st_size


def test_layout_is_exactly_the_three_forms(out: Path) -> None:
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        "bundles/transaction-0001.json",
        "ndjson/ActivityDefinition.ndjson",
        "ndjson/Medication.ndjson",
        "ndjson/PlanDefinition.ndjson",
        "package.tgz",
    ]
    assert leftovers(out.parent) == []


# --- transaction Bundles and NDJSON ----------------------------------------------------------


def test_every_bundle_and_ndjson_resource_passes_the_independent_r4_validator(out: Path) -> None:
    batch = [*bundles(out), *ndjson_resources(out)]
    assert len(batch) > 1
    results = validate_r4(batch)
    invalid = [r.describe() for r in results if not r.valid or r.issues]
    assert invalid == [], "\n".join(invalid)


def test_bundles_are_transactions_of_puts_in_dependency_order(app: Flask, out: Path) -> None:
    stored = contents(app)
    entries = []
    for bundle in bundles(out):
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "transaction"
        assert 0 < len(bundle["entry"]) <= 500
        entries += bundle["entry"]
    keys = []
    for entry in entries:
        resource = entry["resource"]
        key = (resource["resourceType"], resource["id"])
        keys.append(key)
        assert entry["request"] == {"method": "PUT", "url": f"{key[0]}/{key[1]}"}
        assert entry["fullUrl"] == f"{BASE}/{key[0]}/{key[1]}"
        assert "versionId" not in resource.get("meta", {})
        assert "lastUpdated" not in resource.get("meta", {})
        assert resource == stored[key]
    assert sorted(keys) == sorted(stored)
    assert keys == sorted(keys, key=lambda k: (DEPENDENCY_ORDER.index(k[0]), k[1]))


def test_meta_other_than_the_servers_own_is_kept(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored resource with its own meta (a tag) keeps it in every form."""
    store = store_of(app)
    original = store.current

    def tagged(resource_type: str, **kwargs: Any) -> Iterator[StoredResource]:
        for item in original(resource_type, **kwargs):
            body = json.loads(item.body)
            body["meta"]["tag"] = [{"system": "urn:example:test", "code": "exported"}]
            yield StoredResource(
                item.resource_type, item.id, item.version_id, item.last_updated,
                json.dumps(body, separators=(",", ":")).encode(),
            )  # fmt: skip

    monkeypatch.setattr(store, "current", tagged)
    assert export(app, tmp_path / "out").exit_code == 0
    tag = {"tag": [{"system": "urn:example:test", "code": "exported"}]}

    def kept(resource: dict[str, Any]) -> dict[str, Any]:
        # The mapping's own meta (the profile it claims) and the tag; not the server's.
        if resource["resourceType"] not in PROFILED:
            return tag
        return {"profile": [profile_url(MappingConfig(), resource["resourceType"])], **tag}

    for bundle in bundles(tmp_path / "out"):
        assert all(e["resource"]["meta"] == kept(e["resource"]) for e in bundle["entry"])
    for name, data in package_files(tmp_path / "out").items():
        if name.startswith(SERVED_TYPES):  # the content, not our conformance resources
            assert json.loads(data)["meta"] == kept(json.loads(data))


REFERENCE = re.compile(rf"^(?:{re.escape(BASE)}/)?({'|'.join(SERVED_TYPES)})/([^/|]+)(?:\|.*)?$")


def references(value: Any, own: str) -> Iterator[tuple[str, str]]:
    """(type, id) of every reference or canonical to a served type, except the resource's
    own url."""
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, str) and (key == "reference" or child.startswith(f"{BASE}/")):
                match = REFERENCE.match(child)
                if match and child.split("|")[0] != own:
                    yield match.group(1), match.group(2)
            else:
                yield from references(child, own)
    elif isinstance(value, list):
        for child in value:
            yield from references(child, own)


def test_small_bundles_reference_only_what_is_loaded_before_or_within_them(
    app: Flask, tmp_path: Path
) -> None:
    result = export(app, tmp_path / "out", "--bundle-size", "7")
    assert result.exit_code == 0, result.output
    written = bundles(tmp_path / "out")
    total = sum(store_of(app).counts().values())
    assert len(written) == -(-total // 7) > 1
    assert [len(b["entry"]) for b in written[:-1]] == [7] * (len(written) - 1)
    loaded: set[tuple[str, str]] = set()
    checked = 0
    for n, bundle in enumerate(written):
        loaded |= {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
        for entry in bundle["entry"]:
            own = entry["fullUrl"]
            for target in references(entry["resource"], own):
                assert target in loaded, f"bundle {n + 1}: {own} refers to {target} before it"
                checked += 1
    assert checked > total  # the check saw the product references and the action definitions
    invalid = [r.describe() for r in validate_r4(written) if not r.valid or r.issues]
    assert invalid == [], "\n".join(invalid)


def test_bundles_load_back_into_a_fresh_store_unchanged(
    app: Flask, out: Path, tmp_path: Path
) -> None:
    fresh = make_app(tmp_path / "fresh.sqlite3")
    result = run(fresh, "load", out / "bundles")
    assert result.exit_code == 0, result.output
    total = sum(store_of(app).counts().values())
    assert f": {total} resources (" in result.stdout
    assert f"; {total} created, 0 updated, 0 unchanged" in result.stdout
    assert contents(fresh) == contents(app)


def test_ndjson_has_one_served_resource_per_line(app: Flask, out: Path) -> None:
    stored = current(app)
    counts = store_of(app).counts()
    for resource_type in SERVED_TYPES:
        data = (out / "ndjson" / f"{resource_type}.ndjson").read_bytes()
        data.decode("utf-8")
        assert data.endswith(b"\n")
        lines = data.split(b"\n")[:-1]
        assert len(lines) == counts[resource_type]
        ids = []
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == resource_type
            ids.append(resource["id"])
            assert line == stored[(resource_type, resource["id"])].body  # compact, as served
        assert ids == sorted(set(ids))


# --- the FHIR NPM package --------------------------------------------------------------------


def test_package_tar_layout_is_fixed(app: Flask, out: Path) -> None:
    data = (out / "package.tgz").read_bytes()
    assert data[:2] == b"\x1f\x8b"
    assert data[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert data[3] & 0x08 == 0  # no file name in the gzip header
    members = package_members(out)
    names = [info.name for info, _ in members]
    expected = {f"package/{t}-{i}.json" for t, i in [*current(app), *CONFORMANCE]}
    assert names[:2] == ["package/package.json", "package/.index.json"]
    assert names[2:] == sorted(expected)
    for info, _ in members:
        assert info.isreg()
        assert (info.mode, info.uid, info.gid, info.uname, info.gname) == (0o644, 0, 0, "", "")
        assert info.mtime == members[0][0].mtime < time.time() - 365 * 86400  # not the clock


def test_package_json_follows_the_fhir_package_spec(app: Flask, out: Path) -> None:
    manifest = json.loads(package_files(out)["package.json"])
    assert set(manifest) == {
        "name", "version", "type", "canonical", "fhirVersions", "dependencies", "author",
        "description", "date",
    }  # fmt: skip
    assert manifest["name"] == PACKAGE
    assert re.fullmatch(r"[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+", manifest["name"])
    assert manifest["version"] == VERSION
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["type"] == "Conformance"
    assert manifest["canonical"] == BASE
    assert manifest["dependencies"] == {
        "hl7.fhir.r4.core": "4.0.1",
        "hl7.fhir.uv.extensions.r4": "5.2.0",  # artifact-url, artifact-version
    }
    guide = json.loads(package_files(out)[f"ImplementationGuide-{PACKAGE}.json"])
    assert {d["packageId"]: d["version"] for d in guide["dependsOn"]} == manifest["dependencies"]
    assert manifest["author"] == "Canadian Cancer Society"
    assert manifest["description"]
    # The newest change in the store (not the clock), as YYYYMMDDHHmmss.
    latest = max(s.last_updated for s in current(app).values())
    assert manifest["date"] == re.sub(r"\D", "", latest)[:14]


def test_package_index_lists_every_resource_file_with_its_fields(app: Flask, out: Path) -> None:
    files = package_files(out)
    index = json.loads(files[".index.json"])
    assert index["index-version"] == 2
    listed = {entry["filename"]: entry for entry in index["files"]}
    assert len(listed) == len(index["files"])
    resource_files = {n for n in files if n not in ("package.json", ".index.json")}
    assert set(listed) == resource_files
    stored = {**contents(app), **CONFORMANCE}
    for name in resource_files:
        resource = json.loads(files[name])
        key = (resource["resourceType"], resource["id"])
        assert name == f"{key[0]}-{key[1]}.json"
        assert resource == stored[key]
        fields = ("id", "url", "version", "kind", "type", "supplements", "content")
        expected = {k: resource[k] for k in fields if isinstance(resource.get(k), str)}
        assert listed[name] == {"filename": name, "resourceType": key[0], **expected}
    assert any("kind" in e for e in listed.values())  # ActivityDefinition.kind is indexed
    content = [e for e in listed.values() if e["resourceType"] in SERVED_TYPES]
    assert not any("type" in e for e in content)  # PlanDefinition.type is no string


def test_the_package_holds_our_conformance_resources_valid_r4(out: Path) -> None:
    files = package_files(out)
    packaged = [json.loads(files[f"{t}-{i}.json"]) for t, i in CONFORMANCE]
    assert packaged == list(CONFORMANCE.values())
    assert {"ImplementationGuide", "SearchParameter", "OperationDefinition"} <= {
        r["resourceType"] for r in packaged
    }
    invalid = [r.describe() for r in validate_r4(packaged) if not r.valid]
    assert not invalid, "\n".join(invalid)
    guide = json.loads(files["ImplementationGuide-ped.education.content.json"])
    assert guide["packageId"] == json.loads(files["package.json"])["name"]
    assert guide["version"] == json.loads(files["package.json"])["version"]


def test_same_store_gives_a_byte_identical_export(out: Path, app: Flask, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert export(app, again).exit_code == 0
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        assert (again / path.relative_to(out)).read_bytes() == path.read_bytes(), path


def test_changed_content_changes_the_package(app: Flask, out: Path, tmp_path: Path) -> None:
    """The determinism test above could pass with a constant; this one cannot."""
    copy = make_app(tmp_path / "copy.sqlite3")
    assert run(copy, "load", out / "bundles").exit_code == 0
    stored = json.loads(current(copy)[("Medication", "imatinib")].body)
    stored["code"]["text"] = "imatinib (changed)"
    store_of(copy).put([without_server_meta(stored)])
    assert export(copy, tmp_path / "changed").exit_code == 0
    assert (tmp_path / "changed" / "package.tgz").read_bytes() != (out / "package.tgz").read_bytes()
    changed = json.loads(package_files(tmp_path / "changed")["Medication-imatinib.json"])
    assert changed["code"]["text"] == "imatinib (changed)"


def test_fhir_package_loader_loads_the_package_and_finds_every_resource(
    app: Flask, out: Path, tmp_path: Path
) -> None:
    """fhir-package-loader (validators/load-package.js) installs the tarball into an empty
    FHIR package cache the way it installs a downloaded one, loads it offline, and finds each
    resource by id and by canonical url."""
    files = package_files(out)
    wanted = [
        {k: r[k] for k in ("resourceType", "id", "url") if k in r}
        for r in (json.loads(files[n]) for n in sorted(files))
        if "resourceType" in r
    ]
    cache = tmp_path / "fhir-cache"
    cache.mkdir()
    request = {
        "tarball": str(out / "package.tgz"),
        "cache": str(cache),
        "name": PACKAGE,
        "version": VERSION,
        "resources": wanted,
    }
    proc = subprocess.run(
        [find_node(), str(VALIDATORS_DIR / "load-package.js")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=VALIDATORS_DIR,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "LOADED", report["log"]
    assert (cache / f"{PACKAGE}#{VERSION}" / "package" / "package.json").is_file()
    assert report["packageJSON"] == json.loads(files["package.json"])
    assert len(report["indexed"]) == len(wanted) == len(current(app)) + len(CONFORMANCE)
    assert sorted((i["resourceType"], i["id"]) for i in report["indexed"]) == sorted(
        (w["resourceType"], w["id"]) for w in wanted
    )
    with_url = 0
    for want, found in zip(wanted, report["found"], strict=True):
        expected = json.loads(files[f"{want['resourceType']}-{want['id']}.json"])
        assert found["byId"] == expected, want
        if "url" in want:
            assert found["byUrl"] == expected, want
            with_url += 1
        else:
            assert found["byUrl"] is None
    assert with_url == sum(1 for w in wanted if w["resourceType"] != "Medication") > 0


# --- errors: one line, nothing written -------------------------------------------------------


def test_non_empty_directory_is_refused_without_force(app: Flask, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine", "utf-8")
    line = assert_one_error_line(export(app, target), str(target), "--force", "nothing was written")
    assert "not empty" in line
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert leftovers(tmp_path) == []


def test_force_replaces_a_non_empty_directory(app: Flask, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old", "utf-8")
    result = export(app, target, "--force")
    assert result.exit_code == 0, result.output
    assert not (target / "old.txt").exists()
    assert (target / "package.tgz").is_file()
    assert leftovers(tmp_path) == []


def test_an_existing_empty_directory_is_used(app: Flask, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    assert export(app, tmp_path / "out").exit_code == 0
    assert (tmp_path / "out" / "package.tgz").is_file()


@pytest.mark.parametrize(
    ("layout", "target", "words"),
    [
        ("parent-is-a-file", "file.txt/out", ("file.txt", "not an existing directory")),
        ("target-is-a-file", "file.txt", ("file.txt", "not a directory")),
        ("parent-missing", "missing/out", ("missing", "not an existing directory")),
    ],
)
def test_unwritable_target_is_one_line_and_leaves_nothing(
    app: Flask, tmp_path: Path, layout: str, target: str, words: tuple[str, ...]
) -> None:
    (tmp_path / "file.txt").write_text("x", "utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_one_error_line(export(app, tmp_path / target), *words, "nothing was written")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "file.txt").read_text("utf-8") == "x"


def test_symbolic_link_target_is_refused(app: Flask, tmp_path: Path) -> None:
    """Renaming over a link would replace the link, not the directory it names."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert_one_error_line(export(app, tmp_path / "link"), "symbolic link", "nothing was written")
    assert list((tmp_path / "real").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_read_only_directory_is_one_line(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory we may not create in (simulated: the tests may run as root, for whom
    permission bits do not apply)."""
    original = Path.mkdir

    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(self))
        original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert_one_error_line(export(app, tmp_path / "out"), "Permission denied", "nothing was written")
    assert list(tmp_path.iterdir()) == []


def failing_after(store: Store, n: int, error: BaseException) -> Any:
    original = store.current

    def current(resource_type: str, **kwargs: Any) -> Iterator[StoredResource]:
        for i, item in enumerate(original(resource_type, **kwargs)):
            if resource_type == "ActivityDefinition" and i == n:
                raise error
            yield item

    return current


def test_database_failure_midway_leaves_nothing(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(app)
    monkeypatch.setattr(store, "current", failing_after(store, 3, StoreUnavailable("gone")))
    assert_one_error_line(export(app, tmp_path / "out"), "database: gone", "nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_interrupt_midway_keeps_the_previous_export(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "previous.txt").write_text("previous", "utf-8")
    store = store_of(app)
    monkeypatch.setattr(store, "current", failing_after(store, 3, KeyboardInterrupt()))
    result = export(app, target, "--force")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert [p.name for p in target.iterdir()] == ["previous.txt"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("setting", "value", "word"),
    [
        ("PACKAGE_NAME", "Ped Education", "PACKAGE_NAME"),
        ("PACKAGE_NAME", "ped", "PACKAGE_NAME"),
        ("ARTIFACT_VERSION", "1.0", "ARTIFACT_VERSION"),
    ],
)
def test_configuration_a_package_cannot_have_is_refused(
    app: Flask, tmp_path: Path, setting: str, value: str, word: str
) -> None:
    """Refused when the app starts (service.settings), before any export can begin."""
    with pytest.raises(ConfigError, match=word):
        make_app(tmp_path / "empty.sqlite3", **{setting: value})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("size", ["0", str(MAX_RESOURCES + 1)])
def test_bundle_size_out_of_range_is_one_line(app: Flask, tmp_path: Path, size: str) -> None:
    # Above MAX_RESOURCES, export wrote Bundles that flask load and $import then refused.
    assert_one_error_line(
        export(app, tmp_path / "out", "--bundle-size", size), "--bundle-size", "nothing was written"
    )
    assert list(tmp_path.iterdir()) == []


def test_configured_package_name_and_an_empty_store(tmp_path: Path) -> None:
    empty = make_app(tmp_path / "empty.sqlite3", PACKAGE_NAME="org.example.other")
    result = export(empty, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("exported 0 resources (none)")
    files = package_files(tmp_path / "out")
    own = definitions(BASE, VERSION, package_name="org.example.other")
    assert sorted(files) == sorted(
        [".index.json", "package.json", *(f"{r['resourceType']}-{r['id']}.json" for r in own)]
    )
    assert json.loads(files["package.json"])["name"] == "org.example.other"
    guide = json.loads(files["ImplementationGuide-org.example.other.json"])
    assert guide["packageId"] == "org.example.other"
    assert len(json.loads(files[".index.json"])["files"]) == len(own)
    assert list((tmp_path / "out" / "bundles").iterdir()) == []


def test_gzip_payload_is_a_plain_tar(out: Path) -> None:
    """Other tools unpack with plain gzip + tar (no pax extension headers needed)."""
    raw = gzip.decompress((out / "package.tgz").read_bytes())
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        assert all(m.pax_headers == {} for m in tar.getmembers())

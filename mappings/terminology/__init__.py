"""Codes for the mapping rules, from the project's own tables, never from code.

Every code that reaches a FHIR resource must be traceable to a row of the terminology worksheet
that was verified against a public source. The YAML files beside this module are the project's
copy of those rows, each entry with its provenance, so adding a drug is a reviewable data change.
This module only validates the tables (a typo must fail loudly, naming the file) and indexes them.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, ClassVar, Generic, Literal, TypeVar

import yaml
from marshmallow import Schema, ValidationError, fields, post_load, validate

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
UCUM = "http://unitsofmeasure.org"
SYSTEMS = frozenset({RXNORM, ATC, SNOMED, ICD10CM, NCIT})

Kind = Literal["drug", "drug-class", "route", "procedure", "body-site", "disease"]
T = TypeVar("T")


class TerminologyError(ValueError):
    """A table is malformed. ``file`` names it, so the fix is one edit away."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str


@dataclass(frozen=True)
class Brand:
    name: str
    coding: Coding | None


@dataclass(frozen=True)
class Drug:
    key: str
    name: str
    synonyms: tuple[str, ...]
    brands: tuple[Brand, ...]
    codings: tuple[Coding, ...]
    drug_class: str | None
    provenance: str


@dataclass(frozen=True)
class DrugClass:
    key: str
    name: str
    phrases: tuple[str, ...]
    coding: Coding | None
    provenance: str


@dataclass(frozen=True)
class Concept:
    """A disease, procedure, body site or route. ``phrases`` are what find() looks for in text."""

    key: str
    name: str
    phrases: tuple[str, ...]
    codings: tuple[Coding, ...]
    provenance: str


@dataclass(frozen=True)
class Unit:
    code: str
    display: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    kind: Kind
    key: str
    text: str


def _text() -> fields.Str:
    return fields.Str(required=True, validate=validate.Length(min=1))


class _Table(Schema):
    """Loads a row straight into its frozen dataclass; lists become tuples."""

    model: ClassVar[Callable[..., Any]]

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        data = self._prepare(data)
        return self.model(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def _prepare(self, data: dict[str, Any]) -> dict[str, Any]:
        return data


class _CodingSchema(_Table):
    model = Coding
    system = fields.Str(required=True, validate=validate.OneOf(sorted(SYSTEMS)))
    code = _text()
    display = _text()


def _codings() -> fields.List[Any]:
    return fields.List(fields.Nested(_CodingSchema), load_default=list)


class _BrandSchema(_Table):
    model = Brand
    name = _text()
    coding = fields.Nested(_CodingSchema, required=True, allow_none=True)


class _EntrySchema(_Table):
    key = fields.Str(required=True, validate=validate.Regexp(r"^[a-z0-9]+(-[a-z0-9]+)*$"))
    name = _text()
    provenance = fields.Str(required=True, validate=validate.Regexp(r"^terminology\.tsv "))


class _DrugSchema(_EntrySchema):
    model = Drug
    synonyms = fields.List(_text(), load_default=list)
    brands = fields.List(fields.Nested(_BrandSchema), load_default=list)
    codings = _codings()
    drug_class = fields.Str(data_key="class", required=True, allow_none=True)


class _DrugClassSchema(_EntrySchema):
    model = DrugClass
    phrases = fields.List(_text(), load_default=list)
    coding = fields.Nested(_CodingSchema, required=True, allow_none=True)


class _ConceptSchema(_EntrySchema):
    model = Concept
    phrases = fields.List(_text(), load_default=list)
    codings = _codings()


class _DiseaseSchema(_ConceptSchema):
    # The abbreviation is one more phrase; being all capitals, it is matched case-sensitively.
    abbreviation = fields.Str(validate=validate.Regexp(r"^[A-Z][A-Z0-9+-]*$"))

    def _prepare(self, data: dict[str, Any]) -> dict[str, Any]:
        abbreviation = data.pop("abbreviation", None)
        return data | {"phrases": [*data["phrases"], *filter(None, [abbreviation])]}


class _UnitSchema(_Table):
    model = Unit
    code = _text()
    display = _text()
    words = fields.List(_text(), required=True, validate=validate.Length(min=1))


_TABLES: dict[str, tuple[str, type[Schema]]] = {
    "drugs": ("drugs.yaml", _DrugSchema),
    "drug_classes": ("drug_classes.yaml", _DrugClassSchema),
    "diseases": ("diseases.yaml", _DiseaseSchema),
    "procedures": ("procedures.yaml", _ConceptSchema),
    "body_sites": ("body_sites.yaml", _ConceptSchema),
    "routes": ("routes.yaml", _ConceptSchema),
    "units": ("units.yaml", _UnitSchema),
}
E = TypeVar("E", Drug, DrugClass, Concept)


class _Index(Generic[T]):
    """Phrase -> entry, refusing a phrase that would name two entries.

    Acronyms keep their case ("ALL" is a disease, "all" a word); other phrases are case-folded.
    """

    def __init__(self) -> None:
        self._entries: dict[str, T] = {}

    def add(self, file: str, phrase: str, entry: T) -> None:
        phrase = " ".join(phrase.split())
        key = phrase if phrase.isupper() else phrase.casefold()
        if self._entries.setdefault(key, entry) != entry:
            raise TerminologyError(file, f"{phrase!r} names two entries")

    def get(self, term: str) -> T | None:
        term = " ".join(term.split())
        return self._entries.get(term) or self._entries.get(term.casefold())

    def phrases(self) -> Iterable[str]:
        return self._entries.keys()


class Terminology:
    """The loaded tables with lookups built once; get one with load()."""

    def __init__(
        self,
        *,
        drugs: tuple[Drug, ...],
        drug_classes: tuple[DrugClass, ...],
        diseases: tuple[Concept, ...],
        procedures: tuple[Concept, ...],
        body_sites: tuple[Concept, ...],
        routes: tuple[Concept, ...],
        units: tuple[Unit, ...],
    ) -> None:
        self.drugs, self.drug_classes, self.units = drugs, drug_classes, units
        self.diseases, self.procedures = diseases, procedures
        self.body_sites, self.routes = body_sites, routes
        self._phrases: _Index[tuple[Kind, str]] = _Index()
        self._drugs = self._index("drug", "drugs", drugs, _drug_names)
        self._classes = self._index("drug-class", "drug_classes", drug_classes, _phrases_of)
        self._diseases = self._index("disease", "diseases", diseases, _phrases_of)
        self._procedures = self._index("procedure", "procedures", procedures, _phrases_of)
        self._body_sites = self._index("body-site", "body_sites", body_sites, _phrases_of)
        self._routes = self._index("route", "routes", routes, _phrases_of)
        self._brands: _Index[Drug] = _Index()
        self._units: _Index[Unit] = _Index()
        for drug in drugs:
            if drug.drug_class not in {None, *(c.key for c in drug_classes)}:
                raise TerminologyError("drugs.yaml", f"{drug.key}: no class {drug.drug_class!r}")
            for brand in drug.brands:
                self._brands.add("drugs.yaml", brand.name, drug)
        for unit in units:
            for word in unit.words:
                self._units.add("units.yaml", word, unit)
        self._keys: dict[tuple[str, str], Any] = {
            (table, entry.key): entry
            for table, entries in (
                ("drug", drugs),
                ("drug-class", drug_classes),
                ("disease", diseases),
                ("procedure", procedures),
                ("body-site", body_sites),
                ("route", routes),
            )
            for entry in entries
        }
        self._pattern = _phrase_pattern(self._phrases.phrases())
        tables = (drugs, drug_classes, diseases, procedures, body_sites, routes, units)
        self._literals = frozenset(_strings(tables)) | {UCUM}

    def _index(
        self, kind: Kind, table: str, entries: tuple[E, ...], texts: Callable[[E], Iterable[str]]
    ) -> _Index[E]:
        """Lookups take the name and the texts; find() takes the texts only."""
        file, index = _TABLES[table][0], _Index[E]()
        keys = Counter(entry.key for entry in entries)
        if duplicates := sorted(key for key, n in keys.items() if n > 1):
            raise TerminologyError(file, f"duplicate keys {duplicates}")
        for entry in entries:
            index.add(file, entry.name, entry)
            for text in texts(entry):
                index.add(file, text, entry)
                self._phrases.add(file, text, (kind, entry.key))
        return index

    def drug(self, term: str) -> Drug | None:
        return self._drugs.get(term)

    def drug_by_brand(self, brand: str) -> Drug | None:
        return self._brands.get(brand)

    def drug_class(self, term: str) -> DrugClass | None:
        return self._classes.get(term)

    def disease(self, term: str) -> Concept | None:
        return self._diseases.get(term)

    def procedure(self, term: str) -> Concept | None:
        return self._procedures.get(term)

    def body_site(self, term: str) -> Concept | None:
        return self._body_sites.get(term)

    def route(self, term: str) -> Concept | None:
        return self._routes.get(term)

    def unit(self, word: str) -> Unit | None:
        return self._units.get(word)

    # By key: the content model stores keys, the rules resolve them here.
    def drug_by_key(self, key: str) -> Drug | None:
        entry: Drug | None = self._keys.get(("drug", key))
        return entry

    def drug_class_by_key(self, key: str) -> DrugClass | None:
        entry: DrugClass | None = self._keys.get(("drug-class", key))
        return entry

    def _concept(self, kind: Kind, key: str) -> Concept | None:
        entry: Concept | None = self._keys.get((kind, key))
        return entry

    def disease_by_key(self, key: str) -> Concept | None:
        return self._concept("disease", key)

    def procedure_by_key(self, key: str) -> Concept | None:
        return self._concept("procedure", key)

    def body_site_by_key(self, key: str) -> Concept | None:
        return self._concept("body-site", key)

    def route_by_key(self, key: str) -> Concept | None:
        return self._concept("route", key)

    def find(self, text: str) -> list[Match]:
        """Known terms in ``text``; a longer term wins over the shorter ones it overlaps."""
        found = []
        for m in self._pattern.finditer(text):
            hit = self._phrases.get(m.group(1))
            if hit is not None:
                found.append(Match(m.start(1), m.end(1), hit[0], hit[1], m.group(1)))
        chosen: list[Match] = []
        for cand in sorted(found, key=lambda c: (c.start - c.end, c.start)):
            if all(cand.end <= c.start or cand.start >= c.end for c in chosen):
                chosen.append(cand)
        return sorted(chosen, key=lambda c: c.start)

    def literals(self) -> frozenset[str]:
        """Every string an output may take from the tables; provenance is never output."""
        return self._literals


def _drug_names(drug: Drug) -> Iterable[str]:
    return (drug.name, *drug.synonyms, *(brand.name for brand in drug.brands))


def _phrases_of(entry: DrugClass | Concept) -> Iterable[str]:
    return entry.phrases


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """One regex for all phrases; the lookahead yields the longest phrase at every position."""
    alternatives = []
    for phrase in sorted(phrases, key=len, reverse=True):
        body = r"\s+".join(re.escape(word) for word in phrase.split())
        alternatives.append(f"(?-i:{body})" if phrase.isupper() else body)
    return re.compile(rf"(?<!\w)(?=({'|'.join(alternatives)})(?!\w))", re.IGNORECASE)


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Coding | Brand | Drug | DrugClass | Concept | Unit):
        for name, item in vars(value).items():
            if name != "provenance":
                yield from _strings(item)


def _read(directory: Traversable, file: str, schema: Schema) -> tuple[Any, ...]:
    try:
        raw = yaml.safe_load(directory.joinpath(file).read_text(encoding="utf-8"))
        return tuple(schema.load(raw, many=True))
    except (OSError, yaml.YAMLError, ValidationError) as e:
        raise TerminologyError(file, str(e)) from e


def _load_from(directory: Traversable) -> Terminology:
    tables = {name: _read(directory, file, schema()) for name, (file, schema) in _TABLES.items()}
    return Terminology(**tables)


@functools.cache
def load() -> Terminology:
    """The packaged tables, parsed once per process."""
    return _load_from(resources.files(__name__))

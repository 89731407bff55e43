"""Regenerate the golden files from fixtures/pages and tests/corpus/pages: ``make goldens``.

Run on purpose only, after a deliberate change to the mapping; review the diff of
fixtures/content, fixtures/fhir and tests/corpus/content before committing it. The holdout
pages (tests/corpus/unseen) get no goldens: they are judged by their expectations only.
"""

from __future__ import annotations

import json
from pathlib import Path

from mappings.content import dumps_yaml
from mappings.pipeline import map_page

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORPUS = Path(__file__).resolve().parent / "corpus"


def main() -> None:
    for page in sorted((FIXTURES / "pages").glob("*.txt")):
        mapped = map_page(page.read_bytes())
        (FIXTURES / "content" / f"{page.stem}.yaml").write_text(
            dumps_yaml(mapped.content), encoding="utf-8"
        )
        (FIXTURES / "fhir" / f"{page.stem}.json").write_text(
            json.dumps(mapped.bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        for warning in mapped.result.warnings:
            print(f"{page.name}: warning: {warning}")
        print(f"{page.name}: {len(mapped.result.resources)} resources")
    (CORPUS / "content").mkdir(exist_ok=True)
    for page in sorted((CORPUS / "pages").glob("*.txt")):
        content = map_page(page.read_bytes()).content
        (CORPUS / "content" / f"{page.stem}.yaml").write_text(dumps_yaml(content), "utf-8")


if __name__ == "__main__":
    main()

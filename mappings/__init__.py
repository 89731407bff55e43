"""Pure mapping library: patient-education page text -> FHIR R4 resources.

Data flows one way: ``source`` (page structure) -> ``content`` (the reviewable middle
format) -> ``rules`` (+ ``terminology``) -> FHIR resources. Nothing here imports the web
service or Flask (enforced by import-linter, see pyproject.toml).
"""

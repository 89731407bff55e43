"""Renderings of stored R4 JSON for the wire: FHIR XML (R4) and FHIR R5.

Pure conversions over JSON-shaped resources; nothing here knows the web layer or the store.
"""

"""FHIR search: the supported parameters, how resources are indexed for them, and how a
request's parameters are parsed. No web framework and no database here."""

"""Test suite for the ped-fhir export service."""

"""The middle format: what a phase page says, in clinical terms, reviewable by people.

``extract`` reads it from a parsed page; ``schemas`` loads and dumps it as YAML/JSON.
"""

from .extract import extract
from .model import PhaseContent
from .schemas import ContentError, dump, dumps_json, dumps_yaml, load, loads

__all__ = [
    "ContentError",
    "PhaseContent",
    "dump",
    "dumps_json",
    "dumps_yaml",
    "extract",
    "load",
    "loads",
]

"""BCP 47 language tags (RFC 5646): the shape a request's language must have, the case it is
written in, and whether a resource's ``language`` serves it.

Only the shape is checked, not the IANA registry: a well-formed tag for a language we hold
nothing in is a fair question whose answer is an empty feed, while a malformed one is a
client error. Matching uses the primary language subtag alone, case-insensitively, because
that is the granularity of the content (``Resource.language`` is ``en``): a reader asking for
``en-US`` or ``en-CA`` can read it.
"""

from __future__ import annotations

import re

_GRANDFATHERED = (
    "en-GB-oed|i-ami|i-bnn|i-default|i-enochian|i-hak|i-klingon|i-lux|i-mingo|i-navajo|"
    "i-pwn|i-tao|i-tay|i-tsu|sgn-BE-FR|sgn-BE-NL|sgn-CH-DE|"
    "art-lojban|cel-gaulish|no-bok|no-nyn|zh-guoyu|zh-hakka|zh-min|zh-min-nan|zh-xiang"
)

# RFC 5646 §2.1 (the ABNF ``Language-Tag``), as a regular expression over ASCII.
_TAG = re.compile(
    r"""
    (?:
      (?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})   # language, with extlangs
      (?:-[a-z]{4})?                                          # script
      (?:-(?:[a-z]{2}|[0-9]{3}))?                             # region
      (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*                # variants
      (?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*                     # extensions
      (?:-x(?:-[a-z0-9]{1,8})+)?                              # private use
    | x(?:-[a-z0-9]{1,8})+                                    # private use only
    | """
    + _GRANDFATHERED.replace("-", r"\-")
    + r"""
    )
    """,
    re.ASCII | re.IGNORECASE | re.VERBOSE,
)


def is_language_tag(value: str) -> bool:
    return _TAG.fullmatch(value) is not None


def canonical_case(tag: str) -> str:
    """The tag in the case RFC 5646 §2.1.1 recommends (``en-us`` -> ``en-US``): lowercase,
    except a region in upper case and a script in title case, where they follow the
    language and no singleton. Tags compare case-insensitively; this is for display."""
    subtags = tag.split("-")
    written = [subtags[0].lower()]
    after_singleton = len(subtags[0]) == 1
    for subtag in subtags[1:]:
        if len(subtag) == 1:
            after_singleton = True
        if not after_singleton and len(subtag) == 2:
            written.append(subtag.upper())
        elif not after_singleton and len(subtag) == 4 and subtag.isalpha():
            written.append(subtag.title())
        else:
            written.append(subtag.lower())
    return "-".join(written)


def primary(tag: str) -> str:
    """The primary language subtag, lowercased (``en-US`` -> ``en``)."""
    return tag.split("-", 1)[0].lower()


def serves(resource_language: object, requested: str) -> bool:
    """Whether content in ``resource_language`` answers a request for ``requested``. A
    resource that does not state its language is not claimed to be in any."""
    if not isinstance(resource_language, str) or not resource_language:
        return False
    return primary(resource_language) == primary(requested)

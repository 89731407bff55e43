"""The language of the page family: what phrases name, where sentences and clauses end, and
what the words around a mention do to it. Pure: no web layer, no store.

- ``lexicon``: drugs, classes, regimens, procedures, routes and diseases in a text (our tables,
  the regimen lexicon, and the drug dictionary packaged with drug-named-entity-recognition);
- ``sentences``: sentence boundaries (pysbd);
- ``clauses``: a sentence's main clause and its condition or sequence clause (rules as data);
- ``context``: modifier scope by ConText (medspaCy): context, negation, examples, frequency;
- ``headings``: tolerant heading matching (rapidfuzz);
- ``abbreviations``: the abbreviation a text defines for a name ("… leukemia (ALL)").
"""

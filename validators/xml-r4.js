#!/usr/bin/env node
'use strict';
/*
 * Independent FHIR R4 (4.0.1) XML check for the test suite, built on FHIR.js (npm `fhir`,
 * pinned to 4.12.0 in package.json / package-lock.json). FHIR.js's XML reader and writer are
 * driven by the R4 StructureDefinitions it ships; they share no code with service/formats/xml.py.
 *
 * stdin:  a JSON array of items {"xml": "<FHIR XML text>", "json": {FHIR resource} | null}.
 * stdout: a JSON array with one entry per input item, in input order:
 *           {"parsed":        FHIR.js xmlToObj(xml), or null if FHIR.js could not read it,
 *            "valid":         true iff the XML was read and its content has no error,
 *            "issues":        [{"severity", "location", "message"}],  // error and fatal only
 *            "reference_xml": FHIR.js objToXml(json), or null when json is null}
 * exit:   0 every item valid, 1 at least one invalid, 2 bad input (one line on stderr),
 *         3 internal failure of this script (message on stderr, nothing on stdout).
 *
 * What is checked, per item:
 *  - FHIR.js reads the XML (xmlToObj). A value FHIR.js refuses (a boolean that is not
 *    true/false, a malformed integer or decimal) or an unknown root is a "fatal" issue.
 *  - The content read is validated like validate-r4.js does, with errorOnUnexpected: true.
 *    Validation runs on FHIR.js's xmlToJson reading of the same XML, where decimals are
 *    numbers; xmlToObj (returned as "parsed") gives decimals as the strings written in the
 *    XML ("1" for 1, "1.50" for 1.50), which the validator would reject as strings.
 *  - reference_xml is FHIR.js's own serialization of "json", to compare with the XML under
 *    test (as an infoset: FHIR.js writes its own declaration and attribute order).
 *
 * What this does NOT check: FHIR.js's XML reader (xml-js) is not namespace-aware. It reads
 * elements by local name and ignores unknown ones, so an element in the wrong namespace, an
 * unknown element, an <id> child of a non-resource element (read like the id attribute) or a
 * repeated single element (the last one wins) pass here. Check those on the XML itself.
 * Whitespace-only text between XHTML elements of a narrative is dropped by xml-js.
 */

const fs = require('fs');
const { Fhir } = require('fhir');

const EXIT_VALID = 0;
const EXIT_INVALID = 1;
const EXIT_BAD_INPUT = 2;
const EXIT_INTERNAL = 3;

const ISSUE_SEVERITIES = new Set(['error', 'fatal']);

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function detail(err) {
  return err && err.message ? String(err.message) : String(err);
}

function oneLine(text) {
  const flat = String(text).replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? flat.slice(0, 197) + '...' : flat;
}

function fatal(message) {
  return { severity: 'fatal', location: '', message };
}

function checkOne(fhir, item, index) {
  const result = { parsed: null, valid: false, issues: [], reference_xml: null };
  if (!isPlainObject(item) || typeof item.xml !== 'string') {
    result.issues.push(fatal(`input item ${index} is not an object with an "xml" string`));
    return result;
  }
  if (item.json !== undefined && item.json !== null) {
    if (!isPlainObject(item.json)) {
      result.issues.push(fatal(`input item ${index} has a "json" that is not an object`));
    } else {
      try {
        const reference = fhir.objToXml(item.json);
        result.reference_xml = typeof reference === 'string' ? reference : null;
      } catch (err) {
        result.issues.push(fatal(`FHIR.js cannot write the json as XML: ${detail(err)}`));
      }
    }
  }
  let forValidation;
  try {
    result.parsed = fhir.xmlToObj(item.xml);
    forValidation = JSON.parse(fhir.xmlToJson(item.xml));
  } catch (err) {
    result.parsed = null;
    result.issues.push(fatal(`FHIR.js cannot read the XML: ${detail(err)}`));
    return result;
  }
  if (!isPlainObject(result.parsed) || !isPlainObject(forValidation)) {
    result.parsed = null;
    result.issues.push(fatal('FHIR.js found no resource in the XML'));
    return result;
  }
  let outcome;
  try {
    outcome = fhir.validate(forValidation, { errorOnUnexpected: true });
  } catch (err) {
    result.issues.push(fatal(`validator crashed: ${detail(err)}`));
    return result;
  }
  for (const message of outcome.messages || []) {
    const severity = String(message.severity);
    if (ISSUE_SEVERITIES.has(severity)) {
      result.issues.push({
        severity,
        location: typeof message.location === 'string' ? message.location : '',
        message: String(message.message),
      });
    }
  }
  result.valid = outcome.valid === true && result.issues.length === 0;
  return result;
}

function badInput(text) {
  process.stderr.write(`xml-r4: ${text}\n`);
  process.exitCode = EXIT_BAD_INPUT;
}

function main() {
  if (process.argv.length > 2) {
    badInput('takes no arguments; pipe a JSON array of {"xml", "json"} items to stdin');
    return;
  }
  let raw;
  try {
    raw = fs.readFileSync(0, 'utf8');
  } catch (err) {
    badInput(`cannot read stdin: ${oneLine(detail(err))}`);
    return;
  }
  let input;
  try {
    input = JSON.parse(raw);
  } catch (err) {
    badInput(`stdin is not valid JSON: ${oneLine(detail(err))}`);
    return;
  }
  if (!Array.isArray(input)) {
    badInput(`expected a JSON array of {"xml", "json"} items, got ${input === null ? 'null' : typeof input}`);
    return;
  }
  const fhir = new Fhir();
  const results = input.map((item, index) => checkOne(fhir, item, index));
  // exitCode, not process.exit(): a large result piped to stdout must be flushed in full.
  process.stdout.write(JSON.stringify(results) + '\n');
  process.exitCode = results.every((r) => r.valid) ? EXIT_VALID : EXIT_INVALID;
}

try {
  main();
} catch (err) {
  process.stderr.write(`xml-r4: internal error: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = EXIT_INTERNAL;
}

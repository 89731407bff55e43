#!/usr/bin/env node
'use strict';
/*
 * Independent FHIR R4 (4.0.1) validator for the test suite, built on FHIR.js (npm `fhir`,
 * pinned to 4.12.0 in package.json / package-lock.json).
 *
 * stdin:  a JSON array of FHIR resources (any of them may be a Bundle).
 * stdout: a JSON array with one entry per input resource, in input order:
 *           {"resourceType", "id", "valid",
 *            "issues":   [{"severity", "location", "message"}],   // error and fatal only
 *            "warnings": [{"severity", "location", "message"}]}   // warning and info
 * exit:   0 all valid, 1 at least one invalid, 2 bad input (one line on stderr),
 *         3 internal failure of this script (message on stderr, nothing on stdout).
 *
 * Every resource is validated with errorOnUnexpected: true, so an element that R4 does not
 * define (an R4B/R5 element, a typo) is an error, not a warning.
 *
 * Locations are FHIRPath-like. FHIR.js reports an issue inside a nested resource (a Bundle
 * entry, a contained resource) relative to that resource ("Medication.status"); this script
 * rewrites it to the full path from the validated resource
 * ("Bundle.entry[1].resource.status") so that issues in different entries can be told apart.
 *
 * What FHIR.js does NOT check (see tests/test_r4_validator.py, which pins these down): FHIRPath
 * invariants (ele-1, dom-*, pdf-0, ...), the narrative XHTML (text.div is any string), the type
 * of string-like primitives (string, uri, url, canonical, markdown, instant, base64Binary
 * accept anything), the full format of date/dateTime/time/id/integer (its patterns are not
 * anchored: "2024-13-45" passes as a date), arrays given for single-valued primitives, null
 * array items, empty arrays and objects, choice[x] exclusivity (also two value[x] in one
 * extension; ext-1 is not checked either), and reference target types where the packaged
 * definitions carry no target profiles. Codes outside extensible/preferred/example bindings
 * are warnings, never errors.
 */

const fs = require('fs');
const { Fhir, Validator } = require('fhir');

const EXIT_VALID = 0;
const EXIT_INVALID = 1;
const EXIT_BAD_INPUT = 2;
const EXIT_INTERNAL = 3;

const ISSUE_SEVERITIES = new Set(['error', 'fatal']);

/*
 * Make issue locations inside nested resources absolute. FHIR.js validates a Resource-typed
 * element (Bundle.entry.resource, contained, Parameters.parameter.resource, ...) with a fresh
 * Validator whose paths start again at the nested resource's type. The patch is on the
 * prototype so it applies at every depth (innermost first), e.g. a contained resource inside a
 * Bundle entry ends up as "Bundle.entry[0].resource.contained[0]...".
 */
function installNestedLocationPatch() {
  const proto = Validator && Validator.prototype;
  if (!proto || typeof proto.validateNext !== 'function' || typeof Validator.getTreeDisplay !== 'function') {
    throw new Error('unsupported fhir package: Validator.prototype.validateNext not found (is fhir pinned to 4.12.0?)');
  }
  const originalValidateNext = proto.validateNext;
  proto.validateNext = function validateNextWithAbsoluteLocations(obj, property, tree) {
    if (!property || property._type !== 'Resource') {
      return originalValidateNext.call(this, obj, property, tree);
    }
    const before = this.response.messages.length;
    const result = originalValidateNext.call(this, obj, property, tree);
    const prefix = Validator.getTreeDisplay(tree, this.isXml);
    const nestedType = obj && typeof obj === 'object' ? obj.resourceType : undefined;
    for (const message of this.response.messages.slice(before)) {
      const location = typeof message.location === 'string' ? message.location : '';
      if (location === '') {
        message.location = prefix;
      } else if (typeof nestedType === 'string' && nestedType !== '' &&
                 (location === nestedType || location.startsWith(nestedType + '.'))) {
        message.location = prefix + location.slice(nestedType.length);
      }
    }
    return result;
  };
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function toIssue(message) {
  return {
    severity: String(message.severity),
    location: typeof message.location === 'string' ? message.location : '',
    message: String(message.message),
  };
}

function validateOne(fhir, resource, index) {
  if (!isPlainObject(resource)) {
    const kind = resource === null ? 'null' : Array.isArray(resource) ? 'an array' : typeof resource;
    return {
      resourceType: null,
      id: null,
      valid: false,
      issues: [{ severity: 'fatal', location: '', message: `input item ${index} is ${kind}, not a JSON object` }],
      warnings: [],
    };
  }
  const entry = {
    resourceType: typeof resource.resourceType === 'string' ? resource.resourceType : null,
    id: typeof resource.id === 'string' ? resource.id : null,
    valid: false,
    issues: [],
    warnings: [],
  };
  let outcome;
  try {
    outcome = fhir.validate(resource, { errorOnUnexpected: true });
  } catch (err) {
    // FHIR.js throws on some malformed input (e.g. `"experimental": null`).
    const detail = err && err.message ? err.message : String(err);
    entry.issues.push({ severity: 'fatal', location: '', message: `validator crashed: ${detail}` });
    return entry;
  }
  for (const message of outcome.messages || []) {
    const issue = toIssue(message);
    (ISSUE_SEVERITIES.has(issue.severity) ? entry.issues : entry.warnings).push(issue);
  }
  entry.valid = outcome.valid === true && entry.issues.length === 0;
  return entry;
}

function oneLine(text) {
  const flat = String(text).replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? flat.slice(0, 197) + '...' : flat;
}

function badInput(text) {
  process.stderr.write(`validate-r4: ${text}\n`);
  process.exitCode = EXIT_BAD_INPUT;
}

function main() {
  if (process.argv.length > 2) {
    badInput('takes no arguments; pipe a JSON array of FHIR resources to stdin');
    return;
  }
  let raw;
  try {
    raw = fs.readFileSync(0, 'utf8');
  } catch (err) {
    badInput(`cannot read stdin: ${oneLine(err && err.message ? err.message : err)}`);
    return;
  }
  let input;
  try {
    input = JSON.parse(raw);
  } catch (err) {
    badInput(`stdin is not valid JSON: ${oneLine(err && err.message ? err.message : err)}`);
    return;
  }
  if (!Array.isArray(input)) {
    badInput(`expected a JSON array of FHIR resources, got ${input === null ? 'null' : typeof input}`);
    return;
  }

  installNestedLocationPatch();
  const fhir = new Fhir();
  const results = input.map((resource, index) => validateOne(fhir, resource, index));

  // exitCode, not process.exit(): a large result piped to stdout must be flushed in full.
  process.stdout.write(JSON.stringify(results) + '\n');
  process.exitCode = results.every((r) => r.valid) ? EXIT_VALID : EXIT_INVALID;
}

try {
  main();
} catch (err) {
  process.stderr.write(`validate-r4: internal error: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = EXIT_INTERNAL;
}

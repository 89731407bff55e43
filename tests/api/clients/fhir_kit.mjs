// fhir-kit-client (npm, pinned in validators/package-lock.json) against a live server: the
// calls its README shows, one step each, for tests/api/test_fhir_kit_client.py to assert on.
//
// stdin: {"baseUrl", "token", "medication", "transaction", "systemSearch"} (JSON; the test
// builds the bodies and the query
// from our fixtures). stdout: one JSON object, step name -> {ok, status, etag, location, body}
// for an answer in 2xx, {ok: false, status, message, body} for an HTTP error (fhir-kit throws
// those; the message names the method and URL),
// {ok: false, status: null, error} when the step could not run. A step that needs an earlier
// one's result is recorded as not run, with the reason. Exit 0 when every step ran to an
// answer; 1 with the reason on stderr when the driver itself failed (no module, bad input).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = path.resolve(here, '../../../validators/node_modules/fhir-kit-client/dist/index.js');

let Client;
try {
  ({ Client } = await import(pathToFileURL(entry).href));
} catch (error) {
  process.stderr.write(`fhir-kit-client is not installed (npm ci --prefix validators): ${error}\n`);
  process.exit(1);
}

let input;
try {
  input = JSON.parse(readFileSync(0, 'utf8'));
} catch (error) {
  process.stderr.write(`stdin is not the JSON input: ${error}\n`);
  process.exit(1);
}

const client = new Client({ baseUrl: input.baseUrl, bearerToken: input.token });
const results = {};

function answered(result) {
  const { response } = Client.httpFor(result);
  return {
    ok: true,
    status: response.status,
    etag: response.headers.get('etag'),
    location: response.headers.get('location'),
    body: { ...result },
  };
}

async function step(name, run) {
  try {
    results[name] = answered(await run());
  } catch (error) {
    results[name] = error.response
      ? { ok: false, status: error.response.status, message: error.message, body: error.response.data }
      : { ok: false, status: null, error: String(error) };
  }
  return results[name];
}

function notRun(name, reason) {
  results[name] = { ok: false, status: null, error: `not run: ${reason}` };
}

const resourceType = 'Medication';
// R4 leaves the default reply to the server; ask for the resource, to read back its id.
const representation = { Prefer: 'return=representation' };
const created = await step('create', () =>
  client.create({ resourceType, body: input.medication, options: { headers: representation } }),
);
const id = created.ok ? created.body.id : undefined;
if (id) {
  const read = await step('read', () => client.read({ resourceType, id }));
  const current = read.ok ? read.body : { ...input.medication, id };
  // As read, meta included: the server sets versionId and lastUpdated itself.
  const changed = { ...current, status: 'inactive' };
  await step('update', () =>
    client.update({
      resourceType,
      id,
      body: changed,
      options: { headers: { ...representation, 'If-Match': 'W/"1"' } },
    }),
  );
  // The same If-Match again: version 1 is no longer current.
  await step('staleUpdate', () =>
    client.update({
      resourceType,
      id,
      body: { ...changed, status: 'active' },
      options: { headers: { 'If-Match': 'W/"1"' } },
    }),
  );
  await step('readAfterStale', () => client.read({ resourceType, id }));
  await step('patch', () =>
    client.patch({
      resourceType,
      id,
      jsonPatch: [{ op: 'replace', path: '/status', value: 'active' }],
      options: { headers: representation },
    }),
  );
  await step('delete', () => client.delete({ resourceType, id }));
  await step('readAfterDelete', () => client.read({ resourceType, id }));
  await step('vreadAfterDelete', () => client.vread({ resourceType, id, version: '3' }));
  await step('history', () => client.history({ resourceType, id }));
  await step('systemHistory', () => client.history({ options: { headers: {} } }));
} else {
  for (const name of ['read', 'update', 'staleUpdate', 'readAfterStale', 'patch', 'delete',
    'readAfterDelete', 'vreadAfterDelete', 'history', 'systemHistory']) {
    notRun(name, 'create gave no id');
  }
}
await step('transaction', () => client.transaction({ body: input.transaction }));
await step('systemSearch', () => client.systemSearch({ searchParams: input.systemSearch }));

process.stdout.write(`${JSON.stringify(results)}\n`);

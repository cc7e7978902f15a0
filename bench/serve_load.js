// Load for `iomt serve` (bench/serve.sh).
//   node bench/serve_load.js throughput BASE CONNECTOR FILE [CONNECTIONS] [BODY_BYTES]
//     POSTs the NDJSON file in bodies of about BODY_BYTES (default 1,000,000) over CONNECTIONS
//     keep-alive connections (default 4), sending again after Retry-After on 429; then waits
//     until the connector has processed every event. Prints one JSON line:
//     {"messages", "acceptSeconds", "doneSeconds", "acceptPerSecond", "donePerSecond", "retries"}.
//   node bench/serve_load.js latency BASE CONNECTOR FILE RATE SECONDS
//     Open loop: every 10 ms a body of RATE/100 messages from FILE (the schedule decides when, not
//     the previous answer), plus every 100 ms a probe message from its own new device; each probe
//     is timed from its POST until its Observation is readable through /fhir (polled every 2 ms).
//     Prints {"rate", "sent", "probes", "p50Ms", "p90Ms", "p99Ms", "maxMs", "late"}.
'use strict';
const fs = require('fs');
const http = require('http');
const crypto = require('crypto');

const agent = new http.Agent({keepAlive: true, maxSockets: 64});

function request(base, method, path, body, headers) {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request({host: url.hostname, port: url.port, path: url.pathname + url.search, method, agent,
                              headers: Object.assign({'Content-Length': body ? Buffer.byteLength(body) : 0}, headers)},
                             (res) => {
                               const chunks = [];
                               res.on('data', (c) => chunks.push(c));
                               res.on('end', () => resolve({status: res.statusCode, headers: res.headers,
                                                            body: Buffer.concat(chunks).toString()}));
                             });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function bodies(lines, maxBytes) {
  const out = [];
  let cur = [];
  let size = 0;
  for (const l of lines) {
    if (size + l.length + 1 > maxBytes && cur.length) {
      out.push({text: cur.join('\n') + '\n', count: cur.length});
      cur = [];
      size = 0;
    }
    cur.push(l);
    size += l.length + 1;
  }
  if (cur.length) out.push({text: cur.join('\n') + '\n', count: cur.length});
  return out;
}

async function events(base, connector) {
  const r = await request(base, 'GET', `/connectors/${connector}`);
  return JSON.parse(r.body).counters.events;
}

async function throughput(base, connector, file, connections = 4, bodyBytes = 1000000) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
  const parts = bodies(lines, bodyBytes);
  const before = await events(base, connector);
  let next = 0;
  let retries = 0;
  const start = process.hrtime.bigint();
  async function worker() {
    while (next < parts.length) {
      const p = parts[next++];
      for (;;) {
        const r = await request(base, 'POST', `/connectors/${connector}/messages`, p.text,
                                {'Content-Type': 'application/x-ndjson'});
        if (r.status === 202) break;
        if (r.status !== 429) throw new Error(`POST answered ${r.status}: ${r.body}`);
        retries++;
        await sleep(1000 * Number(r.headers['retry-after'] || 1) / 10);  // a tenth: the queue drains fast
      }
    }
  }
  await Promise.all(Array.from({length: Number(connections)}, worker));
  const accepted = Number(process.hrtime.bigint() - start) / 1e9;
  while ((await events(base, connector)) - before < lines.length) await sleep(50);
  const done = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({messages: lines.length, acceptSeconds: +accepted.toFixed(3),
                              doneSeconds: +done.toFixed(3), acceptPerSecond: Math.round(lines.length / accepted),
                              donePerSecond: Math.round(lines.length / done), retries}));
}

async function latency(base, connector, file, rate, seconds) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
  const perTick = Math.max(1, Math.round(Number(rate) / 100));
  const ticks = Math.round(Number(seconds) * 100);
  let line = 0;
  let sent = 0;
  const pending = [];
  const start = Date.now();
  const probeTimes = [];
  let late = 0;
  const probe = async (k) => {
    const device = `probe-${process.pid}-${k}`;
    const msg = JSON.stringify({heartrate: 60 + (k % 40), deviceid: device, patientid: device,
                                measurementdatetime: new Date().toISOString()});
    const id = crypto.createHash('sha256').update('_' + device).digest('hex');
    const t0 = process.hrtime.bigint();
    const r = await request(base, 'POST', `/connectors/${connector}/messages`, msg, {'Content-Type': 'application/json'});
    if (r.status !== 202) throw new Error(`probe POST answered ${r.status}`);
    for (;;) {
      const s = await request(base, 'GET', `/fhir/Observation?device=Device/${id}&_count=1`);
      if (s.status === 200 && JSON.parse(s.body).total >= 1) break;
      await sleep(2);
    }
    probeTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
  };
  for (let t = 0; t < ticks; t++) {
    const due = start + t * 10;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait); else if (wait < -100) late++;
    const chunk = [];
    for (let i = 0; i < perTick; i++) chunk.push(lines[line++ % lines.length]);
    sent += chunk.length;
    pending.push(request(base, 'POST', `/connectors/${connector}/messages`, chunk.join('\n') + '\n',
                         {'Content-Type': 'application/x-ndjson'}).then((r) => {
      if (r.status !== 202) throw new Error(`POST answered ${r.status}`);
    }));
    if (t % 10 === 0) pending.push(probe(t / 10));
  }
  await Promise.all(pending);
  probeTimes.sort((a, b) => a - b);
  const q = (p) => +probeTimes[Math.min(probeTimes.length - 1, Math.floor(p * probeTimes.length))].toFixed(1);
  console.log(JSON.stringify({rate: Number(rate), sent, probes: probeTimes.length, p50Ms: q(0.5), p90Ms: q(0.9),
                              p99Ms: q(0.99), maxMs: q(1), late}));
}

const [mode, ...args] = process.argv.slice(2);
const run = mode === 'throughput' ? throughput : mode === 'latency' ? latency : null;
if (!run) {
  console.error('usage: serve_load.js throughput|latency ...');
  process.exit(2);
}
run(...args).then(() => process.exit(0), (e) => {
  console.error(e.message);
  process.exit(1);
});

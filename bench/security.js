// Load for bench/security.sh: requests per second, and each request's time,
// against one `iomt serve` route, with the credential of the run's mode.
//   node bench/security.js BASE MODE SECONDS CONNECTIONS [CA_FILE]
//   MODE: open | key | jwt (the token is read from $IOMT_BENCH_TOKEN, the key
//   from $IOMT_BENCH_KEY). Prints one JSON line:
//   {"mode", "requests", "perSecond", "p50Us", "p99Us", "statuses"}.
// The route is GET /fhir/Observation/none (read role; a 404 after the
// credential is checked): the store's cheapest answer, so the credential's
// share of a request shows.
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');

const [base, mode, seconds, connections, caFile] = process.argv.slice(2);
const url = new URL('/fhir/Observation/none', base);
const tls = url.protocol === 'https:';
const agent = tls ? new https.Agent({keepAlive: true, maxSockets: Number(connections), ca: fs.readFileSync(caFile)})
                  : new http.Agent({keepAlive: true, maxSockets: Number(connections)});
const headers = {};
if (mode === 'key') headers['X-Api-Key'] = process.env.IOMT_BENCH_KEY;
if (mode === 'jwt') headers.Authorization = `Bearer ${process.env.IOMT_BENCH_TOKEN}`;

function once() {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = (tls ? https : http).request({host: url.hostname, port: url.port, path: url.pathname, agent, headers},
                                             (res) => {
                                               res.resume();
                                               res.on('end', () => resolve({status: res.statusCode,
                                                                            us: Number(process.hrtime.bigint() - start) / 1000}));
                                             });
    req.on('error', reject);
    req.end();
  });
}

async function main() {
  const until = Date.now() + Number(seconds) * 1000;
  const times = [];
  const statuses = {};
  async function worker() {
    while (Date.now() < until) {
      const r = await once();
      times.push(r.us);
      statuses[r.status] = (statuses[r.status] || 0) + 1;
    }
  }
  const start = Date.now();
  await Promise.all(Array.from({length: Number(connections)}, worker));
  const elapsed = (Date.now() - start) / 1000;
  times.sort((a, b) => a - b);
  const pct = (p) => Math.round(times[Math.min(times.length - 1, Math.floor(times.length * p))]);
  console.log(JSON.stringify({mode: tls ? `${mode}+tls` : mode, requests: times.length,
                              perSecond: Math.round(times.length / elapsed), p50Us: pct(0.5), p99Us: pct(0.99),
                              statuses}));
  agent.destroy();
}
main().catch((e) => { console.error(e); process.exit(1); });

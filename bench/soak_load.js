// Steady load for the soak and fault campaign (bench/soak.sh), recording exactly what was accepted.
//
//   node bench/soak_load.js http BASE CONNECTOR FILE RATE SECONDS OUT
//     Every 100 ms a body of RATE/10 lines of the NDJSON file FILE (read as it goes, never twice) is put on a
//     queue; CONNECTIONS keep-alive senders (env SOAK_CONNECTIONS, default 4) POST the queue's bodies in order to
//     BASE/connectors/CONNECTOR/messages. A body answered 202 has its lines appended to OUT.accepted.ndjson
//     (before anything else is counted). 429 and 503 are sent again after their Retry-After (at most 1 s); a
//     refused, reset or timed-out connection (the service is being killed and restarted) after 200 ms. Any
//     other answer is an error: reported, the body not sent again, and the exit code 1. After SECONDS the
//     schedule stops and the queue is sent out (for at most env SOAK_DRAIN_SECONDS, default 600).
//     Env SOAK_INVALID_EVERY=N (default 0: never): every Nth body also carries one message that no device
//     template matches, {"soakInvalid":"http-K"} (it must be dead-lettered, and nothing else).
//     Writes OUT.seconds.csv, one row a second: the messages scheduled and accepted, the answers by kind, and
//     the bodies waiting. Prints one JSON line: bodies, messages and invalid ones accepted, retries by reason
//     ("ambiguous": the connection broke after the body was sent, so the service may have queued it; the body
//     is sent again, and the writes are idempotent), the gaps (over 500 ms with bodies waiting and no 202,
//     epoch ms), the longest wait, lateness of the schedule.
//
//   node bench/soak_load.js feed FILE RATE SECONDS OUT
//     Writes RATE lines a second of FILE to stdout (for a pipe into kafka_produce), in ticks of 100 ms, and
//     the same lines to OUT (what was handed to the producer). Env SOAK_INVALID_EVERY=N: after every Nth
//     tick one line {"soakInvalid":"kafka-K"} too. Prints {"lines","invalid"} on stderr at the end.
'use strict';
const fs = require('fs');
const http = require('http');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICK_MS = 100;

// Reads a file's lines a chunk at a time (the file may be larger than memory wants).
class Lines {
  constructor(file) {
    this.fd = fs.openSync(file, 'r');
    this.buf = Buffer.alloc(1 << 20);
    this.rest = '';
    this.queue = [];
    this.eof = false;
  }
  next() {
    while (this.queue.length === 0 && !this.eof) {
      const n = fs.readSync(this.fd, this.buf, 0, this.buf.length, null);
      if (n === 0) {
        this.eof = true;
        if (this.rest.length) this.queue.push(this.rest);
        this.rest = '';
        break;
      }
      const parts = (this.rest + this.buf.toString('utf8', 0, n)).split('\n');
      this.rest = parts.pop();
      for (const p of parts) if (p.length) this.queue.push(p);
      this.queue.reverse();  // pop() from the end in file order
    }
    return this.queue.length ? this.queue.pop() : null;
  }
}

function request(agent, base, path, body, timeoutMs) {
  const url = new URL(path, base);
  return new Promise((resolve) => {
    let sent = false;
    const req = http.request({host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
                              headers: {'Content-Type': 'application/x-ndjson', 'Content-Length': Buffer.byteLength(body)}},
                             (res) => {
                               const chunks = [];
                               res.on('data', (c) => chunks.push(c));
                               res.on('end', () => resolve({status: res.statusCode, headers: res.headers,
                                                            body: Buffer.concat(chunks).toString()}));
                               res.on('error', (e) => resolve({error: e, sent: true}));
                             });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({error: e, sent}));
    req.on('finish', () => { sent = true; });  // the whole body went out: the service may have it
    req.end(body);
  });
}

async function httpLoad(base, connector, file, rate, seconds, out) {
  rate = Number(rate);
  seconds = Number(seconds);
  const connections = Number(process.env.SOAK_CONNECTIONS || 4);
  const invalidEvery = Number(process.env.SOAK_INVALID_EVERY || 0);
  const drainSeconds = Number(process.env.SOAK_DRAIN_SECONDS || 600);
  const agent = new http.Agent({keepAlive: true, maxSockets: connections});
  const lines = new Lines(file);
  const acceptedFd = fs.openSync(`${out}.accepted.ndjson`, 'w');
  const csv = fs.openSync(`${out}.seconds.csv`, 'w');
  fs.writeSync(csv, 'second,scheduled,accepted,ok,http429,http503,connection,other,waiting\n');

  const queue = [];  // bodies not yet accepted, in schedule order
  let scheduledBodies = 0;
  let done = false;  // the schedule is over
  let scheduleEnd = 0;
  let exhausted = false;
  const totals = {bodies: 0, messages: 0, invalid: 0, errors: 0};
  const retries = {http429: 0, http503: 0, refused: 0, ambiguous: 0, other: 0};
  const errorSamples = [];
  const t0 = Date.now();
  let row = {scheduled: 0, accepted: 0, ok: 0, http429: 0, http503: 0, connection: 0, other: 0};
  let rowSecond = 0;
  const flushRows = (now) => {
    const s = Math.floor((now - t0) / 1000);
    while (rowSecond < s) {
      fs.writeSync(csv, `${rowSecond},${row.scheduled},${row.accepted},${row.ok},${row.http429},${row.http503},` +
                        `${row.connection},${row.other},${queue.length}\n`);
      row = {scheduled: 0, accepted: 0, ok: 0, http429: 0, http503: 0, connection: 0, other: 0};
      rowSecond++;
    }
  };
  // Slow windows: from the schedule of a body that waited over 500 ms to its 202, overlapping ones merged
  // (what a sender saw of each kill and restart).
  const gaps = [];
  let longestWaitMs = 0;
  const noteWait = (from, to) => {
    longestWaitMs = Math.max(longestWaitMs, to - from);
    if (to - from <= 500) return;
    const last = gaps[gaps.length - 1];
    if (last && from <= last.toMs) {
      last.toMs = Math.max(last.toMs, to);
      last.ms = last.toMs - last.fromMs;
    } else if (gaps.length < 1000) {
      gaps.push({fromMs: from, toMs: to, ms: to - from});
    }
  };

  let wake = null;
  const notify = () => { if (wake) { const w = wake; wake = null; w(); } };

  async function sender() {
    for (;;) {
      if (queue.length === 0) {
        if (done) return;
        await new Promise((r) => { wake = r; setTimeout(r, 50); });
        continue;
      }
      const body = queue.shift();
      for (;;) {
        const r = await request(agent, base, `/connectors/${connector}/messages`, body.text, 30000);
        const now = Date.now();
        flushRows(now);
        if (r.status === 202) {
          fs.writeSync(acceptedFd, body.text);
          totals.bodies++;
          totals.messages += body.count;
          totals.invalid += body.invalid;
          row.ok++;
          row.accepted += body.count;
          noteWait(body.scheduledAt, now);
          break;
        }
        if (done && now > scheduleEnd + drainSeconds * 1000) {
          throw new Error(`gave up after ${drainSeconds} s of draining: ${r.status || r.error.message}`);
        }
        if (r.status === 429 || r.status === 503) {
          r.status === 429 ? (retries.http429++, row.http429++) : (retries.http503++, row.http503++);
          await sleep(Math.min(1000, 1000 * Number(r.headers['retry-after'] || 1)));
          continue;
        }
        if (r.error) {
          if (r.sent) retries.ambiguous++; else retries.refused++;
          row.connection++;
          await sleep(200);
          continue;
        }
        // Anything else is a refusal that sending again would not change.
        retries.other++;
        row.other++;
        totals.errors++;
        if (errorSamples.length < 5) errorSamples.push(`${r.status}: ${r.body.slice(0, 300)}`);
        break;
      }
    }
  }

  const senders = Array.from({length: connections}, sender);
  // The schedule: open loop, every tick its share of the rate whatever the answers.
  const ticks = Math.round(seconds * 1000 / TICK_MS);
  let owed = 0;
  let late = 0;
  let invalidK = 0;
  for (let t = 0; t < ticks; t++) {
    const wait = t0 + t * TICK_MS - Date.now();
    if (wait > 0) await sleep(wait); else if (wait < -TICK_MS) late++;
    owed += rate * TICK_MS / 1000;
    const n = Math.floor(owed);
    owed -= n;
    const chunk = [];
    for (let i = 0; i < n; i++) {
      const l = lines.next();
      if (l === null) { exhausted = true; break; }
      chunk.push(l);
    }
    let invalid = 0;
    if (invalidEvery > 0 && (scheduledBodies + 1) % invalidEvery === 0) {
      chunk.push(JSON.stringify({soakInvalid: `http-${++invalidK}`}));
      invalid = 1;
    }
    if (chunk.length === 0) {
      if (exhausted) break;
      continue;
    }
    scheduledBodies++;
    row.scheduled += chunk.length;
    queue.push({text: chunk.join('\n') + '\n', count: chunk.length - invalid, invalid, scheduledAt: Date.now()});
    flushRows(Date.now());
    notify();
    if (exhausted) break;
  }
  scheduleEnd = Date.now();
  done = true;
  await Promise.all(senders);
  flushRows(Date.now() + 1000);
  fs.closeSync(acceptedFd);
  fs.closeSync(csv);
  console.log(JSON.stringify({
    rate, seconds, connections, scheduledBodies, bodies: totals.bodies, messages: totals.messages,
    invalid: totals.invalid, errors: totals.errors, errorSamples, retries, exhausted, lateTicks: late,
    scheduleSeconds: +((scheduleEnd - t0) / 1000).toFixed(1), drainSeconds: +((Date.now() - scheduleEnd) / 1000).toFixed(1),
    longestWaitMs, gaps,
  }));
  if (totals.errors > 0) throw new Error(`${totals.errors} bodies refused: ${errorSamples.join(' | ')}`);
  if (exhausted) process.stderr.write(`soak_load: ${file} ran out of lines\n`);
}

async function feed(file, rate, seconds, out) {
  rate = Number(rate);
  const invalidEvery = Number(process.env.SOAK_INVALID_EVERY || 0);
  const lines = new Lines(file);
  const outFd = fs.openSync(out, 'w');
  const ticks = Math.round(Number(seconds) * 1000 / TICK_MS);
  const t0 = Date.now();
  let owed = 0;
  let written = 0;
  let invalid = 0;
  for (let t = 0; t < ticks; t++) {
    const wait = t0 + t * TICK_MS - Date.now();
    if (wait > 0) await sleep(wait);
    owed += rate * TICK_MS / 1000;
    const n = Math.floor(owed);
    owed -= n;
    const chunk = [];
    for (let i = 0; i < n; i++) {
      const l = lines.next();
      if (l === null) break;
      chunk.push(l);
    }
    if (invalidEvery > 0 && (t + 1) % invalidEvery === 0) {
      chunk.push(JSON.stringify({soakInvalid: `kafka-${++invalid}`}));
    }
    if (!chunk.length) continue;
    const text = chunk.join('\n') + '\n';
    fs.writeSync(outFd, text);  // first: what the producer may have
    // A pipe (synchronous on Linux: blocks while the producer is behind).
    if (!process.stdout.write(text)) await new Promise((r) => process.stdout.once('drain', r));
    written += chunk.length;
  }
  fs.closeSync(outFd);
  await new Promise((r) => process.stdout.end(r));
  process.stderr.write(JSON.stringify({lines: written, invalid}) + '\n');
}

const [mode, ...args] = process.argv.slice(2);
const run = mode === 'http' ? httpLoad : mode === 'feed' ? feed : null;
if (!run) {
  console.error('usage: soak_load.js http BASE CONNECTOR FILE RATE SECONDS OUT | feed FILE RATE SECONDS OUT');
  process.exit(2);
}
run(...args).then(() => process.exit(0), (e) => {
  console.error(`soak_load: ${e.message}`);
  process.exit(1);
});

// POSTs a body of N bytes to a URL with Node's http client, streamed (never
// held whole), and prints what came back: `STATUS BODY` on one line, or
// `error CODE MESSAGE` when no complete answer arrived (exit status 1).
// ingest_limits_test.sh runs it to check that an oversized body gets a
// readable 413 from Node's client too, whose behaviour differs from curl's:
// it sends no `Expect: 100-continue` and keeps writing while the answer
// comes in.
//
//   scripts/node tests/server/post_body.js URL BYTES chunked|content-length [CONTENT-TYPE]
'use strict';
const http = require('http');

const [url, bytesArg, framing, contentType = 'application/x-ndjson'] = process.argv.slice(2);
const total = Number(bytesArg);
if (!url || !Number.isSafeInteger(total) || total < 0 || !['chunked', 'content-length'].includes(framing)) {
  console.error('usage: post_body.js URL BYTES chunked|content-length [CONTENT-TYPE]');
  process.exit(2);
}

let answered = false;
function finish(line, code) {
  if (answered) return;
  answered = true;
  console.log(line);
  // Whatever is still being written does not matter once there is an answer.
  process.exit(code);
}
// A server that neither answers nor closes must not hang the test.
setTimeout(() => finish('error ETIMEDOUT no answer within 60 s', 1), 60_000).unref();

const headers = { 'Content-Type': contentType };
if (framing === 'content-length') headers['Content-Length'] = String(total);
// Without Content-Length Node's client sends the body chunked.
const req = http.request(url, { method: 'POST', headers, agent: false });
let responded = false;
req.on('response', (res) => {
  responded = true;
  const parts = [];
  res.on('data', (d) => parts.push(d));
  res.on('end', () => finish(`${res.statusCode} ${Buffer.concat(parts).toString('utf8')}`, 0));
  res.on('error', (e) => finish(`error ${e.code || 'ERR'} ${e.message} (after status ${res.statusCode})`, 1));
  res.on('aborted', () => finish(`error ECONNRESET the answer was cut off (after status ${res.statusCode})`, 1));
});
// Once the answer has begun, a failed write (the server closed while the body
// was still going out) is what a refused upload looks like: the answer's
// 'end' or 'aborted' decides.
req.on('error', (e) => {
  if (!responded) finish(`error ${e.code || 'ERR'} ${e.message}`, 1);
});

// 64 KiB pieces, waiting for 'drain' as a streaming client does.
const piece = Buffer.alloc(64 * 1024, 'x');
let sent = 0;
function pump() {
  while (sent < total) {
    const n = Math.min(piece.length, total - sent);
    sent += n;
    const more = req.write(n === piece.length ? piece : piece.subarray(0, n));
    if (!more) {
      req.once('drain', pump);
      return;
    }
  }
  req.end();
}
pump();

// A fresh `iomt serve` for the FHIR API's Node tests: its own store in a
// temporary directory, a free port. IOMT names the binary (ctest sets it;
// default build/bin/iomt).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const root = path.resolve(__dirname, '../..');
const iomt = process.env.IOMT || path.join(root, 'build/bin/iomt');

// Starts it; resolves to { base, stop } once it listens ("http://127.0.0.1:PORT").
async function startServe(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const serve = spawn(iomt, ['serve', '--listen', '127.0.0.1:0', '--store', path.join(dir, 'store')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = [];
  serve.stderr.on('data', (d) => stderr.push(d));
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`iomt serve did not start: ${Buffer.concat(stderr)}`)), 30000);
    readline.createInterface({ input: serve.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) resolve(m[1]);
      else reject(new Error(`unexpected first line: ${line}`));
    });
    serve.once('exit', (code) => reject(new Error(`iomt serve exited ${code}: ${Buffer.concat(stderr)}`)));
  });
  const stop = () => {
    serve.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { base, stop };
}

module.exports = { startServe };

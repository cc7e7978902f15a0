// What every browser test of the console needs: a fresh `iomt serve` (its
// own store in a temp dir, a free port) and Debian's chromium driven by
// playwright-core (no browser download), a page open at the console.
//
//   const { startConsole } = require('./harness');
//   const h = await startConsole({ args: ['--connector', 'w1', ...] });
//   h.base, h.page, h.dir, await h.screenshot('editor'), await h.stop();
//
// IOMT names the binary (ctest sets it; default build/bin/iomt), CHROMIUM the
// browser (default /usr/bin/chromium). Screenshots go to
// IOMT_SCREENSHOTS (default build/web-screenshots); docs/ keeps a few. The
// page is the copy built into the binary (what users get; the build bundles
// web/ whenever it changes); IOMT_CONSOLE_DIR=DIR serves a bundle from DIR
// instead (`scripts/node web/build.mjs DIR`), to try a change without
// relinking.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { chromium } = require('playwright-core');

const root = path.resolve(__dirname, '../..');
const iomt = process.env.IOMT || path.join(root, 'build/bin/iomt');
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const shotDir = process.env.IOMT_SCREENSHOTS || path.join(root, 'build/web-screenshots');

// Starts `iomt serve --listen 127.0.0.1:0` and waits for its first line,
// "listening on http://HOST:PORT".
function startServe(dir, args) {
  return new Promise((resolve, reject) => {
    const page = process.env.IOMT_CONSOLE_DIR ? ['--console-dir', process.env.IOMT_CONSOLE_DIR] : [];
    const child = spawn(iomt, ['serve', '--listen', '127.0.0.1:0', '--store', path.join(dir, 'store'), ...page, ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr = [];
    child.stderr.on('data', (d) => stderr.push(d));
    const lines = readline.createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`iomt serve did not start in 30 s: ${Buffer.concat(stderr)}`)), 30000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (!m) reject(new Error(`unexpected first line from iomt serve: ${line}`));
      else resolve({ child, base: m[1], stderr });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`iomt serve exited ${code}: ${Buffer.concat(stderr)}`));
    });
  });
}

async function startConsole({ args = [], viewport = { width: 1280, height: 800 }, path: start = '/' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iomt-web-'));
  const serve = await startServe(dir, args);
  const browser = await chromium.launch({
    executablePath: browserPath,
    // Root in a container has no user namespaces for chromium's sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  // A page error or a CSP violation is a test failure: collected here,
  // checked by stop().
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  await page.goto(serve.base + start);
  fs.mkdirSync(shotDir, { recursive: true });
  let stopped = false;
  return {
    base: serve.base,
    page,
    context,
    browser,
    dir,
    problems,
    async screenshot(name) {
      const file = path.join(shotDir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: false });
      return file;
    },
    // fetch from the test itself (posting messages, setting things up).
    async request(method, p, body, headers = {}) {
      const init = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        if (!init.headers['Content-Type']) init.headers['Content-Type'] = 'application/json';
      }
      const r = await fetch(serve.base + p, init);
      const text = await r.text();
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      return { status: r.status, text, json, headers: r.headers };
    },
    // Closes the browser, stops iomt serve (SIGTERM: it drains and exits 0)
    // and removes the temp dir; throws when the page logged errors.
    async stop({ allowProblems = false } = {}) {
      if (stopped) return;
      stopped = true;
      await browser.close().catch(() => {});
      const exited = new Promise((resolve) => serve.child.once('exit', (code) => resolve(code)));
      serve.child.kill('SIGTERM');
      const code = await exited;
      fs.rmSync(dir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`iomt serve exited ${code}: ${Buffer.concat(serve.stderr)}`);
      if (!allowProblems && problems.length > 0) throw new Error(`the page reported:\n${problems.join('\n')}`);
    },
  };
}

// Polls `predicate` (async) every 250 ms until it returns something truthy,
// which it returns; fails naming `what` and the last answer after the
// timeout.
async function waitFor(what, predicate, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await predicate();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

module.exports = { startConsole, waitFor, root, iomt };

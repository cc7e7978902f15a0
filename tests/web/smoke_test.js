// The console loads under its Content-Security-Policy with no connectors,
// every view mounts without a page error, and the page's answers carry the
// security headers.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { startConsole } = require('./harness');

test('the console loads, every view mounts, the headers are strict', async () => {
  const h = await startConsole();
  try {
    const r = await h.request('GET', '/');
    assert.strictEqual(r.status, 200);
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe/);
    assert.match(csp, /connect-src 'self'/);
    assert.strictEqual(r.headers.get('x-content-type-options'), 'nosniff');
    assert.doesNotMatch(r.text, /<script>(?!<)/, 'no inline script in index.html');
    for (const view of ['editor', 'connectors', 'deadletters', 'provisioning']) {
      await h.page.goto(`${h.base}/#/${view}`);
      await h.page.waitForSelector(`main[data-view="${view}"]`);
      assert.strictEqual(await h.page.getAttribute(`header nav a[data-view="${view}"]`, 'aria-current'), 'page');
    }
    // Keyboard: the skip link is the first stop.
    await h.page.keyboard.press('Tab');
    assert.strictEqual(await h.page.evaluate(() => document.activeElement.className), 'skip');
    // The bundle goes gzipped to a client that takes it (fetch does, and
    // undoes it: the text is the script), as it is to one that does not.
    const zipped = await h.request('GET', '/console/app.js');
    assert.strictEqual(zipped.headers.get('content-encoding'), 'gzip');
    const plain = await h.request('GET', '/console/app.js', undefined, { 'Accept-Encoding': 'identity' });
    assert.strictEqual(plain.headers.get('content-encoding'), null);
    assert.strictEqual(zipped.text, plain.text);
    // The binary carries the bundled packages' notices.
    const licenses = await h.request('GET', '/console/licenses.txt');
    assert.strictEqual(licenses.status, 200);
    assert.match(licenses.text, /==== @codemirror\/view .* \(MIT\) ====/);
    assert.match(licenses.text, /==== uplot .* \(MIT\) ====/);
    const missing = await h.request('GET', '/console/missing.js');
    assert.strictEqual(missing.status, 404);
  } finally {
    await h.stop();
  }
});

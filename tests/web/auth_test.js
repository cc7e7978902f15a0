// Signing in to the console of an `iomt serve` that has API keys configured
// (docs/security.md, docs/console.md), in a real browser:
//  1. the page's own files load without credentials; the first refused API
//     call (401) opens the sign-in dialog by itself, and no data shows;
//  2. the admin key typed there signs in: the header says so, the connector
//     shows; the key is in sessionStorage only, never in localStorage, a
//     cookie or the URL (checked at every navigation and every request);
//  3. every API request made while signed in carries Authorization: Bearer
//     with the key, and none before or after does;
//  4. "Sign out" forgets it: the next call is refused and the dialog opens;
//  5. a key without the role (metrics only) gets the 403 toast, once while
//     it shows, and the dialog does not open while the view polls;
//  6. a key the server does not know: the dialog says it was not accepted;
//  7. signed in as admin, the mapping editor's checks (POST
//     /api/mappings/validate) work.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startConsole, root, iomt } = require('./harness');

const deviceMapping = path.join(root, 'examples/mappings/devicecontent.json');
const fhirMapping = path.join(root, 'examples/mappings/fhirmapping.json');

// `iomt auth new-key`: the key (the line after "key (...):") and the
// `--api-key NAME=ROLES HASH` value of the configuration line it prints.
function newKey(name, roles) {
  const out = execFileSync(iomt, ['auth', 'new-key', '--name', name, '--roles', roles], { encoding: 'utf8' });
  const lines = out.split('\n');
  const at = lines.findIndex((l) => /^key \(.*\):$/.test(l));
  assert.ok(at >= 0, `iomt auth new-key printed no key line:\n${out}`);
  const key = lines[at + 1].trim();
  assert.match(key, /^iomt_\S+$/);
  const config = new RegExp(`"${name}": "([^"]+)"`).exec(out);
  assert.ok(config, `iomt auth new-key printed no configuration line:\n${out}`);
  assert.match(config[1], /^\S+ sha256\$/);
  assert.ok(!config[1].includes(key), 'the configuration line holds only a hash of the key');
  return { key, flag: `${name}=${config[1]}` };
}

// The page's own files, which need no credentials; everything else the
// page fetches is an API call.
const pageFile = (pathname) => pathname === '/' || pathname === '/index.html' || pathname.startsWith('/console/');

test('the console signs in with an API key, keeps it for the tab only and sends it with every call', async () => {
  const admin = newKey('ops', 'admin');
  const metrics = newKey('grafana', 'metrics');
  const wrong = 'iomt_' + 'A'.repeat(43);
  const args = [
    '--api-key', admin.flag, '--api-key', metrics.flag,
    '--connector', 'w1', '--device-mapping', deviceMapping, '--fhir-mapping', fhirMapping,
  ];
  const h = await startConsole({ args });
  const { page } = h;
  page.setDefaultTimeout(10000);
  const origin = new URL(h.base).origin;
  const secrets = [admin.key, metrics.key, wrong];

  // Every request the page makes, with its answer once there is one; every
  // address the page has had.
  const requests = [];
  const urls = [];
  const inFlight = new Set();
  page.on('request', (r) => {
    const u = new URL(r.url());
    const entry = { method: r.method(), url: r.url(), origin: u.origin, pathname: u.pathname, type: r.resourceType(), authorization: r.headers().authorization, status: null };
    requests.push(entry);
    inFlight.add(r);
    r.response().then((res) => { entry.status = res ? res.status() : 0; entry.wwwAuthenticate = res && res.headers()['www-authenticate']; })
      .catch(() => { entry.status = 0; });
  });
  const done = (r) => { inFlight.delete(r); };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) urls.push(f.url()); });

  const api = () => requests.filter((r) => r.origin === origin && !pageFile(r.pathname));
  const dialog = page.locator('#credential-dialog');
  const dialogOpen = () => dialog.evaluate((d) => d.open);
  const waitDialog = (open) => page.waitForFunction((want) => document.getElementById('credential-dialog').open === want, open, { timeout: 10000 });
  const signinButton = page.locator('#signin');
  const card = page.locator('section.dash-card[data-connector="w1"]');
  // Waits until a request to `pathname` made after index `from` has been
  // answered `status`; returns it.
  const answered = async (from, pathname, status) => {
    let found;
    const deadline = Date.now() + 15000;
    while (!found && Date.now() < deadline) {
      found = requests.slice(from).find((r) => r.pathname === pathname && r.status === status);
      if (!found) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(found, `a request to ${pathname} answered ${status} (saw: ${JSON.stringify(requests.slice(from).map((r) => [r.pathname, r.status]))})`);
    return found;
  };
  // Waits until no request is on its way (the connectors view polls every
  // two seconds, so the next one is that far off): what the page sends
  // after the next action was sent after it.
  const settle = async () => {
    const deadline = Date.now() + 10000;
    while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.strictEqual(inFlight.size, 0, `requests still on their way: ${[...inFlight].map((r) => r.url())}`);
  };
  // Where the key must never be: the address, localStorage, cookies.
  const assertKeptForTheTabOnly = async (expected) => {
    const where = await page.evaluate(() => ({
      href: location.href,
      session: sessionStorage.getItem('iomt.credential'),
      local: Object.keys(localStorage).map((k) => `${k}=${localStorage.getItem(k)}`).join('\n'),
      cookie: document.cookie,
    }));
    assert.strictEqual(where.session, expected, 'the credential in sessionStorage');
    for (const s of secrets) {
      assert.ok(!where.href.includes(s), `a key in location.href: ${where.href}`);
      assert.ok(!where.local.includes(s), 'a key in localStorage');
      assert.ok(!where.cookie.includes(s), 'a key in a cookie');
    }
  };
  const signIn = async (key) => {
    await waitDialog(true);
    await page.locator('#credential').fill(key);
    await settle();
    const from = requests.length;
    await page.locator('#credential-save').click();
    return from;
  };

  try {
    // 1. Without credentials: the page's files load (no Authorization sent,
    //    none needed); the editor it opens on asks for the connector list,
    //    is refused, and the dialog opens by itself.
    await page.reload();
    await page.waitForSelector('main[data-view="editor"]');
    for (const file of ['/', '/console/app.js', '/console/app.css']) {
      const r = requests.find((q) => q.pathname === file);
      assert.ok(r, `the page loaded ${file}`);
      await answered(requests.indexOf(r), file, 200);
      assert.strictEqual(r.authorization, undefined);
    }
    await waitDialog(true);
    assert.match(await page.locator('#credential-why').textContent(), /needs credentials/);
    assert.strictEqual(await signinButton.textContent(), 'Sign in');
    assert.ok(await page.locator('#toasts .toast.error', { hasText: 'needs credentials' }).count() <= 1, 'one toast for the refusals');
    await assertKeptForTheTabOnly(null);
    // Cancel closes it and keeps nothing.
    await page.getByRole('button', { name: 'Cancel' }).click();
    await waitDialog(false);
    await assertKeptForTheTabOnly(null);

    // Opening Connectors: 401 (with the Bearer challenge), the dialog opens
    // by itself, the connector is not shown.
    let from = requests.length;
    await page.locator('header nav a[data-view="connectors"]').click();
    await page.waitForSelector('main[data-view="connectors"]');
    const refused = await answered(from, '/connectors', 401);
    assert.strictEqual(refused.authorization, undefined);
    assert.match(refused.wwwAuthenticate || '', /^Bearer realm="iomt"/);
    await waitDialog(true);
    assert.match(await page.locator('#credential-why').textContent(), /needs credentials/);
    await page.waitForFunction(() => /Cannot read the connectors: Unauthorized/.test(document.querySelector('main .error-text')?.textContent || ''));
    assert.strictEqual(await card.count(), 0, 'no connector shown without credentials');
    assert.ok(!/w1/.test(await page.locator('main .dash-cards').textContent()), 'the connector list is not shown');
    await h.screenshot('auth-signin');

    // 2. The admin key signs in: the dialog closes, the header says so, the
    //    connector shows, the key stays in sessionStorage only.
    const signedIn = await signIn(admin.key);
    await waitDialog(false);
    await page.waitForFunction(() => document.getElementById('signin').textContent === 'Signed in');
    await card.waitFor({ timeout: 15000 });
    await answered(signedIn, '/connectors', 200);
    await answered(signedIn, '/metrics', 200);
    assert.strictEqual(await page.locator('#credential').inputValue(), '', 'the dialog forgets what was typed');
    await assertKeptForTheTabOnly(admin.key);
    // (and a second poll, to see more than the first request of the view)
    await answered(requests.findLastIndex((r) => r.pathname === '/connectors') + 1, '/connectors', 200);

    // 4. Sign out: the header's button opens the dialog; "Sign out" forgets
    //    the key and the next call is refused again.
    await signinButton.click();
    await waitDialog(true);
    assert.match(await page.locator('#credential-why').textContent(), /You are signed in/);
    await settle();
    const signedOut = requests.length;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForFunction(() => document.getElementById('signin').textContent === 'Sign in');
    await assertKeptForTheTabOnly(null);
    const afterSignOut = await answered(signedOut, '/connectors', 401);
    assert.strictEqual(afterSignOut.authorization, undefined, 'no credential after signing out');
    await waitDialog(true);

    // 3. Every API call between signing in and out carried the key; the
    //    ones before and after none.
    const whileSignedIn = api().filter((r) => requests.indexOf(r) >= signedIn && requests.indexOf(r) < signedOut);
    assert.ok(whileSignedIn.length >= 4, `API calls while signed in: ${whileSignedIn.length}`);
    for (const r of whileSignedIn) {
      assert.strictEqual(r.authorization, `Bearer ${admin.key}`, `${r.method} ${r.pathname} without the key`);
      assert.strictEqual(r.type, 'fetch');
    }
    for (const r of api().filter((q) => requests.indexOf(q) < signedIn || requests.indexOf(q) >= signedOut)) {
      assert.strictEqual(r.authorization, undefined, `${r.method} ${r.pathname} with a credential while signed out`);
    }

    // 5. The metrics-only key: /metrics is fine, /connectors is 403, which
    //    shows a toast and does not open the dialog, poll after poll.
    const asMetrics = await signIn(metrics.key);
    await waitDialog(false);
    const forbidden = await answered(asMetrics, '/connectors', 403);
    assert.strictEqual(forbidden.authorization, `Bearer ${metrics.key}`);
    await answered(asMetrics, '/metrics', 200);
    await page.locator('#toasts .toast.error', { hasText: 'lacks the role' }).first().waitFor({ timeout: 10000 });
    await page.waitForFunction(() => /Cannot read the connectors: Forbidden/.test(document.querySelector('main .error-text')?.textContent || ''));
    assert.strictEqual(await page.locator('#signin').textContent(), 'Signed in');
    assert.strictEqual(await dialogOpen(), false);
    // The next poll is refused too, and still no dialog.
    await answered(requests.indexOf(forbidden) + 1, '/connectors', 403);
    await settle();
    assert.strictEqual(await dialogOpen(), false, 'a 403 does not ask for another credential');
    // One toast for the refusals while it shows, not one a poll (it lasts
    // 8 s; two polls were refused within that).
    assert.ok(await page.locator('#toasts .toast.error', { hasText: 'lacks the role' }).count() <= 1, 'a toast for every refused poll');
    assert.strictEqual(await card.count(), 0);
    await assertKeptForTheTabOnly(metrics.key);
    await h.screenshot('auth-forbidden');

    // 6. A key the server does not know: refused (401 invalid_token), and
    //    the dialog says so.
    await signinButton.click();
    const asWrong = await signIn(wrong);
    const notAccepted = await answered(asWrong, '/connectors', 401);
    assert.strictEqual(notAccepted.authorization, `Bearer ${wrong}`);
    assert.match(notAccepted.wwwAuthenticate || '', /error="invalid_token"/);
    await waitDialog(true);
    await page.waitForFunction(() => /not accepted/.test(document.getElementById('credential-why').textContent));

    // 7. Signed in as admin again, the mapping editor checks the mappings.
    const again = await signIn(admin.key);
    await waitDialog(false);
    await card.waitFor({ timeout: 15000 });
    await page.locator('header nav a[data-view="editor"]').click();
    await page.waitForSelector('main[data-view="editor"]');
    // (the editor's connector list, now readable)
    await page.waitForFunction(() => [...document.querySelectorAll('main select option')].some((o) => o.value === 'w1'));
    const beforeValidate = requests.length;
    await page.getByRole('button', { name: 'Load the example mappings' }).click();
    const validated = await answered(beforeValidate, '/api/mappings/validate', 200);
    assert.strictEqual(validated.method, 'POST');
    assert.strictEqual(validated.authorization, `Bearer ${admin.key}`);
    await page.waitForFunction(() => /No problems in the mappings/.test(document.querySelector('.editor-problems-status')?.textContent || ''));
    assert.strictEqual(await dialogOpen(), false);
    for (const r of api().filter((q) => requests.indexOf(q) >= again)) {
      assert.strictEqual(r.authorization, `Bearer ${admin.key}`, `${r.method} ${r.pathname} without the key`);
    }
    await assertKeptForTheTabOnly(admin.key);

    // Never a key in an address the page had, or in a request's address;
    // nothing went anywhere but the server.
    assert.ok(urls.length >= 3, `navigations seen: ${urls.length}`);
    for (const u of [...urls, ...requests.map((r) => r.url)]) {
      for (const s of secrets) assert.ok(!u.includes(s), `a key in ${u}`);
    }
    for (const r of requests) assert.strictEqual(r.origin, origin, `a request elsewhere: ${r.url}`);
  } catch (e) {
    await h.screenshot('auth-failure').catch(() => {});
    throw e;
  } finally {
    await h.stop();
  }
});

// Regression: the refusal of a request sent before signing in, answered
// after it (a slow network), reopened the dialog with "The credential was
// not accepted" although the new key was fine. A refusal counts only for
// the credential the request went with.
test('a refusal answered after signing in does not ask for another credential', async () => {
  const admin = newKey('ops', 'admin');
  const args = ['--api-key', admin.flag, '--connector', 'w1', '--device-mapping', deviceMapping, '--fhir-mapping', fhirMapping];
  const h = await startConsole({ args, path: '/#/connectors' });
  const { page } = h;
  page.setDefaultTimeout(10000);
  try {
    // Answers to /metrics without credentials wait until released.
    let release;
    const released = new Promise((r) => { release = r; });
    const held = [];
    await page.route('**/metrics', async (route) => {
      if (!route.request().headers().authorization) {
        held.push(route.request());
        await released;
      }
      await route.continue();
    });
    const finished = new Set();
    page.on('requestfinished', (r) => finished.add(r));
    const answers = [];
    page.on('response', (r) => answers.push({ at: Date.now(), pathname: new URL(r.url()).pathname, status: r.status() }));

    await page.reload();
    // /connectors is refused at once: the dialog opens while /metrics waits.
    await page.waitForFunction(() => document.getElementById('credential-dialog').open);
    assert.ok(held.length >= 1, 'a request without credentials is on its way');
    await page.locator('#credential').fill(admin.key);
    await page.locator('#credential-save').click();
    await page.locator('section.dash-card[data-connector="w1"]').waitFor();

    // Now the old request is refused (401).
    release();
    const deadline = Date.now() + 10000;
    while (!held.every((r) => finished.has(r)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(held.every((r) => finished.has(r)), 'the held requests were answered');
    assert.ok(answers.some((a) => a.pathname === '/metrics' && a.status === 401), 'the old /metrics was refused');
    // Once a later poll is answered, the page has long handled the old one.
    const answeredAt = Date.now();
    const later = () => answers.some((a) => a.at > answeredAt && a.pathname === '/connectors' && a.status === 200);
    while (!later() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(later(), 'a poll after the old answer');
    assert.strictEqual(await page.evaluate(() => document.getElementById('credential-dialog').open), false,
      `the dialog reopened: ${await page.locator('#credential-why').textContent()}`);
    assert.strictEqual(await page.locator('#signin').textContent(), 'Signed in');
  } catch (e) {
    await h.screenshot('auth-late-refusal-failure').catch(() => {});
    throw e;
  } finally {
    await h.stop();
  }
});

// FHIR R4 Subscriptions of `iomt serve`, end to end with clients nobody here
// wrote: Subscriptions created with Medplum's client, notifications taken by
// Node's own HTTP server (rest-hook, with and without payload) and Node's
// WebSocket client (undici's, behind --experimental-websocket in Node 20).
// Checks: status requested -> active, a notification of the write for what
// matches and none for what does not, the websocket's
// bind/bound/ping protocol, a failing endpoint set to status "error", and
// criteria the server cannot evaluate refused with an OperationOutcome.
//
// IOMT names the binary (ctest sets it; default build/bin/iomt; serve.js).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { MedplumClient } = require('@medplum/core');

const { startServe } = require('./serve');
let stopServe;
let base;
let medplum;
// What the rest-hook endpoints received: { method, url, body, at, auth }.
const received = [];
let hooks;
let hookBase;

before(async () => {
  ({ base, stop: stopServe } = await startServe('iomt-subscriptions-'));
  medplum = new MedplumClient({ baseUrl: `${base}/`, fhirUrlPath: 'fhir', fetch });
  hooks = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method,
        url: req.url,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
        auth: req.headers['x-hook-secret'],
      });
      res.writeHead(200).end();
    });
  });
  await new Promise((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  hookBase = `http://127.0.0.1:${hooks.address().port}`;
});

after(() => {
  stopServe();
  hooks.close();
});

function heartRate(patient, bpm, code = '8867-4') {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: new Date().toISOString(),
    valueQuantity: { value: bpm, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

async function until(what, check, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function activeSubscription(body) {
  const created = await medplum.createResource({ resourceType: 'Subscription', status: 'requested', reason: 'test', ...body });
  assert.equal(created.status, 'requested');
  return until(`Subscription/${created.id} active`, async () => {
    const s = await medplum.readResource('Subscription', created.id, { cache: 'no-cache' });
    return s.status === 'active' ? s : null;
  });
}

test('rest-hook: a POST without payload, a PUT of the resource with it, only for matches', async () => {
  const bare = await activeSubscription({
    criteria: 'Observation?code=http://loinc.org|8867-4&value-quantity=gt120',
    channel: { type: 'rest-hook', endpoint: `${hookBase}/bare`, header: ['X-Hook-Secret: s3cret'] },
  });
  const full = await activeSubscription({
    criteria: 'Observation?patient=Patient/p1&code=8867-4',
    channel: { type: 'rest-hook', endpoint: `${hookBase}/full/`, payload: 'application/fhir+json' },
  });
  assert.ok(bare.id && full.id);
  received.length = 0;

  // Neither matches: p2 at 90 bpm; a respiratory rate of p1.
  await medplum.createResource(heartRate('p2', 90));
  await medplum.createResource(heartRate('p1', 18, '9279-1'));
  // Both match: p1 at 130.
  const written = Date.now();
  const fast = await medplum.createResource(heartRate('p1', 130));
  const put = await until('the PUT', () => received.find((r) => r.method === 'PUT'));
  const post = await until('the POST', () => received.find((r) => r.method === 'POST'));
  assert.equal(put.url, `/full/Observation/${fast.id}`);
  const sent = JSON.parse(put.body);
  assert.equal(sent.id, fast.id);
  assert.equal(sent.valueQuantity.value, 130);
  assert.equal(post.url, '/bare');
  assert.equal(post.body, '');
  assert.equal(post.auth, 's3cret');
  // How soon: reported, not asserted (machines are noisy; bench/subscriptions.sh measures it).
  console.log(`rest-hook: PUT ${put.at - written} ms, POST ${post.at - written} ms after the write was answered`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(received.length, 2, JSON.stringify(received.map((r) => r.url)));

  // Switched off: no more notifications.
  await medplum.updateResource({ ...full, status: 'off' });
  await medplum.deleteResource('Subscription', bare.id);
  received.length = 0;
  await medplum.createResource(heartRate('p1', 140));
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(received, []);
});

test('websocket: bind, bound, a ping at a matching write', async () => {
  const capability = await medplum.get(`${base}/fhir/metadata`);
  const ext = capability.rest[0].extension.find((e) => e.url.endsWith('capabilitystatement-websocket'));
  assert.equal(ext.valueUri, `${base.replace('http://', 'ws://')}/fhir/websocket`);
  const sub = await activeSubscription({ criteria: 'Observation?code=8867-4', channel: { type: 'websocket' } });

  const socket = new WebSocket(ext.valueUri);
  const messages = [];
  socket.addEventListener('message', (e) => messages.push({ text: e.data, at: Date.now() }));
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve);
    socket.addEventListener('error', reject);
  });
  socket.send('bind nobody');
  socket.send(`bind ${sub.id}`);
  await until('bound', () => messages.find((m) => m.text === `bound ${sub.id}`));
  assert.match(messages[0].text, /^error nobody/);

  await medplum.createResource(heartRate('p3', 60, '9279-1'));  // no match
  const written = Date.now();
  await medplum.createResource(heartRate('p3', 61));
  const ping = await until('ping', () => messages.find((m) => m.text === `ping ${sub.id}`));
  console.log(`websocket: ping ${ping.at - written} ms after the write was answered`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(messages.filter((m) => m.text.startsWith('ping')).length, 1);
  socket.close();
});

test('a failing endpoint sets the Subscription to error; bad criteria are refused', async () => {
  const dead = http.createServer();
  await new Promise((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const deadUrl = `http://127.0.0.1:${dead.address().port}/hook`;
  dead.close();
  const sub = await activeSubscription({ criteria: 'Observation?code=8867-4', channel: { type: 'rest-hook', endpoint: deadUrl } });
  await medplum.createResource(heartRate('p4', 70));
  const failed = await until(
    'status error',
    async () => {
      const s = await medplum.readResource('Subscription', sub.id, { cache: 'no-cache' });
      return s.status === 'error' ? s : null;
    },
    15000,
  );
  assert.match(failed.error, /did not answer/);

  // The metrics count what was sent and what failed.
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const value = (series) => Number((metrics.match(new RegExp(`^${series} (\\S+)$`, 'm')) || [])[1]);
  assert.ok(value('iomt_fhir_subscription_notifications_total\\{outcome="sent"\\}') >= 3, metrics);
  assert.equal(value('iomt_fhir_subscription_notifications_total\\{outcome="failed"\\}'), 3);
  assert.equal(value('iomt_fhir_subscription_notifications_total\\{outcome="dropped"\\}'), 0);
  assert.ok(value('iomt_fhir_subscriptions_active') >= 1);

  for (const [criteria, channel, why] of [
    ['Observation?_sort=date', { type: 'websocket' }, /criteria/],
    ['Observation?colour=red', { type: 'websocket' }, /colour/],
    ['Observation?code=1', { type: 'email', endpoint: 'mailto:a@b' }, /rest-hook, websocket/],
    ['Observation?code=1', { type: 'rest-hook', endpoint: 'file:///etc/passwd' }, /http/],
  ]) {
    const answer = await fetch(`${base}/fhir/Subscription`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Subscription', status: 'requested', reason: 'x', criteria, channel }),
    });
    assert.equal(answer.status, 400, criteria);
    const outcome = await answer.json();
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.match(outcome.issue[0].diagnostics, why);
  }
});

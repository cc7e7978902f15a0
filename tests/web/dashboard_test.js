// The Connectors dashboard and the Dead letters view in a real browser:
//  1. with no connectors, both say so and point to Provisioning;
//  2. a connector from the flags: its state, readiness and sources; its
//     counters move as messages are posted (read from the page, not the
//     API); the charts draw the throughput and latency of the last minutes;
//     one connector's page has resources saved by outcome, errors by name,
//     type, severity and stage, and the recent errors; polling stops while
//     the page is hidden and starts again when it is shown;
//  3. Dead letters: filtered by error name, the events on the page and not
//     in the URL; after the mapping file is fixed and reloaded, Replay (with
//     its confirmation) carries the message through and its dead letter is
//     gone;
//  4. the three views at 420 px wide: nothing wider than the screen;
//  5. the page's parsers (metrics text, percentiles, the provisioning API's
//     validation messages) on their own.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startConsole, root, waitFor } = require('./harness');

const deviceMapping = path.join(root, 'examples/mappings/devicecontent.json');
const fhirMapping = path.join(root, 'examples/mappings/fhirmapping.json');
const goodEvents = fs.readFileSync(path.join(root, 'examples/events/ward.ndjson'), 'utf8').split('\n')
  .filter((line) => { try { JSON.parse(line); return true; } catch { return false; } });
const pulse = { deviceId: 'watch-05', patientId: 'patient-005', metric: 'pulse', value: 66, time: '2023-10-09T20:00:00Z' };

const number = (text) => Number(String(text).replace(/,/g, ''));

async function withConsole(options, name, body) {
  const h = await startConsole(options);
  try {
    await body(h);
  } catch (e) {
    await h.screenshot(`${name}-failure`).catch(() => {});
    throw e;
  } finally {
    await h.stop();
  }
}

test('no connectors: the dashboard and Dead letters say so and link to Provisioning', async () => {
  await withConsole({ path: '/#/connectors' }, 'dashboard-empty', async (h) => {
    const empty = h.page.locator('main[data-view="connectors"] .empty');
    await empty.waitFor();
    assert.match(await empty.textContent(), /^No connectors yet: create one/);
    assert.strictEqual(await empty.getByRole('link', { name: 'create one' }).getAttribute('href'), '#/provisioning');
    await h.screenshot('connectors-empty');
    await h.page.goto(`${h.base}/#/deadletters`);
    const dlEmpty = h.page.locator('main[data-view="deadletters"] .empty');
    await dlEmpty.waitFor();
    assert.match(await dlEmpty.textContent(), /No connectors yet: create one/);
    await h.page.getByRole('link', { name: 'create one' }).click();
    await h.page.waitForSelector('main[data-view="provisioning"]');
  });
});

test('a connector: counters that move, charts, details, errors; polling pauses while hidden', async () => {
  const args = ['--connector', 'w1', '--device-mapping', deviceMapping, '--fhir-mapping', fhirMapping];
  await withConsole({ args, path: '/#/connectors' }, 'connectors', async (h) => {
    const { page } = h;
    const card = page.locator('section.dash-card[data-connector="w1"]');
    await card.waitFor();
    const counter = async (key) => number(await card.locator(`[data-counter="${key}"] .dash-value`).textContent());
    await waitFor('the first poll', async () => (await card.locator('.dash-badges').textContent()).includes('ready'));
    assert.match(await card.locator('.dash-badges').textContent(), /Running\s+ready/);
    assert.match(await card.locator('.dash-meta').textContent(), /Sources: HTTP · FHIR: the embedded store/);
    assert.strictEqual(await counter('incoming'), 0);

    // Messages posted a few times, a poll apart: the numbers on the page grow.
    const seen = [];
    for (let round = 1; round <= 4; round++) {
      const r = await h.request('POST', '/connectors/w1/messages', goodEvents.join('\n'), { 'Content-Type': 'application/x-ndjson' });
      assert.strictEqual(r.status, 202, r.text);
      await waitFor(`round ${round} on the page`, async () => (await counter('incoming')) === round * goodEvents.length);
      seen.push(await counter('incoming'));
    }
    assert.deepStrictEqual(seen, [1, 2, 3, 4].map((n) => n * goodEvents.length));
    await waitFor('everything processed', async () => (await counter('queue')) === 0 && (await counter('normalized')) > 0);
    assert.ok(await counter('saved') > 0, 'resources saved');
    assert.ok(await counter('errors') > 0, 'the bad lines of the example count as errors');
    assert.ok(await counter('deadLetters') > 0, 'and as dead letters');
    // A rate next to a moving counter (it may read 0/s by now: it is there).
    assert.match(await card.locator('[data-counter="incoming"] .dash-rate').textContent(), /\/s$/);

    // The charts: uPlot canvases with a description in words.
    assert.strictEqual(await card.locator('.dash-chart canvas').count(), 2);
    await waitFor('the throughput chart described', async () =>
      /Throughput, messages\/s, last 5 minutes; latest: incoming \d/.test(await card.locator('.dash-chart-plot').first().getAttribute('aria-label')));
    await waitFor('an end-to-end p95 from the histogram', async () =>
      /p95 \d[\d.]* m?s/.test(await card.locator('.dash-chart-plot').nth(1).getAttribute('aria-label')));
    assert.match(await card.locator('.dash-last-error').textContent(), /Last error/);
    await h.screenshot('connectors');

    // Hidden: no more polls; shown again: polls again.
    const polls = [];
    page.on('request', (r) => { if (r.url().endsWith('/metrics')) polls.push(Date.now()); });
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await page.waitForTimeout(300); // (a poll already under way may finish)
    const hiddenFrom = polls.length;
    await page.waitForTimeout(4500);
    assert.strictEqual(polls.length, hiddenFrom, 'no poll while hidden');
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await waitFor('a poll once shown', async () => polls.length > hiddenFrom, 3000);

    // One connector's page.
    await card.getByRole('link', { name: 'Details' }).click();
    const detail = page.locator('section.dash-card[data-connector="w1"]');
    await detail.locator('.dash-errors tbody tr').first().waitFor();
    const saved = await detail.locator('table.dash-saved').textContent();
    assert.match(saved, /ObservationCreated\d/);
    assert.match(saved, /PatientCreated\d/);
    const errors = await detail.locator('.dash-errors tbody').textContent();
    assert.match(errors, /UnmatchedDeviceMessageDeviceMessageErrorWarningNormalization\d/);
    assert.match(errors, /DeviceIdentityNotDefinedExceptionDeviceTemplateErrorCriticalNormalization\d/);
    assert.ok(await detail.locator('.dash-recent li').count() > 0, 'recent errors');
    assert.match(await detail.locator('.dash-recent').textContent(), /No template of the device mapping matched the message/);
    const deadLink = detail.getByRole('link', { name: /^Dead letters/ });
    await waitFor('the dead letters waiting', async () => /^Dead letters \(12 waiting\)$/.test(await deadLink.textContent()));
    assert.strictEqual(await deadLink.getAttribute('href'), '#/deadletters/w1');
    await h.screenshot('connector-detail');
  });
});

test('dead letters: filter by error name, fix the mapping, replay', async () => {
  // The connector's device mapping is a copy, fixed later and reloaded.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iomt-web-mapping-'));
  const mappingCopy = path.join(dir, 'devicecontent.json');
  fs.copyFileSync(deviceMapping, mappingCopy);
  try {
    const args = ['--connector', 'w2', '--device-mapping', mappingCopy, '--fhir-mapping', fhirMapping];
    await withConsole({ args, path: '/#/deadletters' }, 'deadletters', (h) => deadLetters(h, mappingCopy));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function deadLetters(h, mappingCopy) {
  const { page } = h;
  assert.strictEqual((await h.request('POST', '/connectors/w2/messages', goodEvents.join('\n'), { 'Content-Type': 'application/x-ndjson' })).status, 202);
  assert.strictEqual((await h.request('POST', '/connectors/w2/messages', pulse)).status, 202);
  await waitFor('the dead letters written', async () => (await h.request('GET', '/connectors/w2/deadletters')).json.total === 4);

  // One connector: Dead letters shows it straight away (it was opened
  // before the messages came: Refresh reads them).
  await page.waitForURL(/#\/deadletters\/w2$/);
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page.waitForSelector('main[data-view="deadletters"] .dl-record');
  assert.strictEqual(await page.getByLabel('Connector').inputValue(), 'w2');
  assert.strictEqual(await page.locator('.dl-record').count(), 4);
  assert.match(await page.locator('.dl-summary').textContent(), /^4 dead letters in all/);

  const options = await page.getByLabel('Error name').locator('option').allTextContents();
  assert.deepStrictEqual(options, ['All (4)', 'DeviceIdentityNotDefinedException (1)', 'PatientIdentityNotDefinedException (1)',
    'UnmatchedDeviceMessage (2)']);
  await page.getByLabel('Error name').selectOption('UnmatchedDeviceMessage');
  const records = page.locator('.dl-record');
  assert.strictEqual(await records.count(), 2);
  assert.deepStrictEqual(await records.evaluateAll((n) => [...new Set(n.map((x) => x.dataset.errorName))]), ['UnmatchedDeviceMessage']);
  // The newest first: the pulse reading, its error and its event.
  const first = records.first();
  assert.match(await first.textContent(), /No template of the device mapping matched the message\./);
  await first.locator('summary').click();
  const event = JSON.parse(await first.locator('.dl-event-text').textContent());
  assert.deepStrictEqual(event.Body, pulse);
  assert.doesNotMatch(page.url(), /watch-05|patient-005|Unmatched/, 'no message content or filter in the URL');
  await h.screenshot('deadletters');

  // The fix: a template for the pulse readings, reloaded.
  const m = JSON.parse(fs.readFileSync(mappingCopy, 'utf8'));
  const heartRate = m.template.find((t) => t.templateType === 'JsonPathContent' && t.template.typeName === 'heartrate');
  const fix = JSON.parse(JSON.stringify(heartRate));
  fix.template.typeMatchExpression = "$..[?(@metric == 'pulse')]";
  m.template.push(fix);
  fs.writeFileSync(mappingCopy, JSON.stringify(m, null, 2));
  assert.strictEqual((await h.request('POST', '/connectors/w2/mappings/reload')).status, 200);
  const observations = async () => (await h.request('GET', '/fhir/Observation?_count=1')).json.total;
  const before = await observations();

  // Replay: asked first (Cancel does nothing), then done.
  await page.getByRole('button', { name: 'Replay…' }).click();
  let dialog = page.getByRole('dialog');
  assert.match(await dialog.textContent(), /All 4 dead letters of w2 are queued again.*not only the UnmatchedDeviceMessage ones shown/);
  assert.strictEqual(await page.evaluate(() => document.activeElement.textContent), 'Cancel', 'the safe choice has the focus');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.strictEqual((await h.request('GET', '/connectors/w2/deadletters')).json.total, 4, 'nothing replayed');
  await page.getByRole('button', { name: 'Replay…' }).click();
  dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Replay' }).click();
  await waitFor('the result', async () => /^Replayed 4 dead letters/.test(await page.locator('.dl-result').textContent()));
  // Those that still fail come back; the pulse reading does not.
  await waitFor('the three others back, the pulse gone', async () =>
    /^3 dead letters in all/.test(await page.locator('.dl-summary').textContent()) &&
    !/watch-05/.test(await page.locator('.dl-list').textContent()));
  assert.strictEqual(await page.getByLabel('Error name').inputValue(), 'UnmatchedDeviceMessage', 'the filter stays');
  assert.strictEqual(await page.locator('.dl-record').count(), 1);
  await waitFor('its Observation written', async () => (await observations()) > before);
  const patient = (await h.request('GET', '/fhir/Patient?identifier=patient-005')).json;
  assert.strictEqual(patient.total, 1);
}

test('420 px wide: the three views fit the screen', async () => {
  const args = ['--connector', 'w1', '--device-mapping', deviceMapping, '--fhir-mapping', fhirMapping];
  await withConsole({ args, viewport: { width: 420, height: 800 }, path: '/#/connectors' }, 'narrow', async (h) => {
    const { page } = h;
    await h.request('POST', '/connectors/w1/messages', goodEvents.join('\n'), { 'Content-Type': 'application/x-ndjson' });
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    await page.locator('.dash-card canvas').first().waitFor();
    await page.waitForTimeout(2500);
    assert.ok(await fits(), 'connectors');
    await h.screenshot('connectors-narrow');
    await page.goto(`${h.base}/#/connectors/w1`);
    await page.locator('.dash-recent li').first().waitFor();
    assert.ok(await fits(), 'connector detail');
    await page.goto(`${h.base}/#/deadletters/w1`);
    await page.locator('.dl-record').first().waitFor();
    await page.locator('.dl-record summary').first().click();
    assert.ok(await fits(), 'dead letters');
    await page.goto(`${h.base}/#/provisioning`);
    await page.locator('.pv-list[aria-busy="false"]').waitFor();
    await page.getByRole('button', { name: 'New workspace' }).click();
    assert.ok(await fits(), 'provisioning');
    await h.screenshot('provisioning-narrow');
  });
});

// The page's parsers on their own (plain modules without imports, loaded as
// they are): Prometheus text, histogram percentiles, the provisioning API's
// "Line Number: L, Position: C" lists, and a member's text read as sent.
async function pageModule(file) {
  const source = fs.readFileSync(path.join(root, 'web/src/views', file), 'utf8');
  return import(`data:text/javascript,${encodeURIComponent(source)}`);
}

test('parsers: metrics text, percentiles, validation messages, raw members', async () => {
  const prom = await pageModule('dash-prom.js');
  const samples = prom.parsePrometheus([
    '# HELP iomt_incoming_messages_total x',
    'iomt_incoming_messages_total{connector="a,b",source="http"} 3',
    'iomt_incoming_messages_total{connector="a,b",source="kafka"} 4 1700000000000',
    'iomt_errors_total{ErrorSeverity="Warning",ErrorType="DeviceMessageError",Name="UnmatchedDeviceMessage",Operation="Normalization",connector="q\\"x"} 2',
    'iomt_fhir_resources_saved_total{connector="a,b",outcome="NoOperation",resource_type="Observation"} 9',
    'iomt_fhir_resources_saved_total{connector="a,b",outcome="Created",resource_type="Observation"} 5',
    ...[['0.01', 0], ['0.1', 50], ['1', 100], ['+Inf', 100]].map(([le, n]) =>
      `iomt_end_to_end_latency_seconds_bucket{connector="a,b",le="${le}"} ${n}`),
    'iomt_end_to_end_latency_seconds_count{connector="a,b"} 100',
    'iomt_end_to_end_latency_seconds_sum{connector="a,b"} 20',
  ].join('\n'));
  const snaps = prom.snapshotsByConnector(samples);
  const ab = snaps.get('a,b');
  assert.strictEqual(ab.incoming, 7);
  assert.deepStrictEqual(ab.incomingBySource, { http: 3, kafka: 4 });
  assert.strictEqual(ab.saved, 5, 'NoOperation is not a resource saved');
  assert.strictEqual(snaps.get('q"x').errors[0].name, 'UnmatchedDeviceMessage');
  // Half the observations are at or below 0.1 s; the 95th is 90 % of the way
  // into the (0.1, 1] bucket.
  assert.strictEqual(prom.quantileBetween(null, ab.e2e, 0.5), 0.1);
  assert.ok(Math.abs(prom.quantileBetween(null, ab.e2e, 0.95) - 0.91) < 1e-9);
  assert.strictEqual(prom.quantileBetween(ab.e2e, ab.e2e, 0.5), null, 'nothing observed in between');
  assert.strictEqual(prom.meanBetween(null, ab.e2e), 0.2);

  const arm = await pageModule('dash-arm.js');
  assert.deepStrictEqual(arm.validationErrors('Invalid deviceMapping mapping. Validation errors: ' +
    "Line Number: 4, Position: 53. Required property 'TypeMatchExpression' not found in JSON.; " +
    'Line Number: 7, Position: 2. A; b.'), [
    { line: 4, column: 53, message: "Required property 'TypeMatchExpression' not found in JSON." },
    { line: 7, column: 2, message: 'A; b.' },
  ]);
  assert.deepStrictEqual(arm.validationErrors('Invalid fhirMapping mapping. Validation errors: properties.fhirMapping.content is required.'),
    [{ line: 1, column: 1, message: 'properties.fhirMapping.content is required.' }]);
  const text = '{"id": "x", "properties": {"s": "}\\"{", "deviceMapping": {"content": {\n  "a": [1, "]"]\n}\n}}}';
  assert.strictEqual(arm.rawMember(text, ['properties', 'deviceMapping', 'content']), '{\n  "a": [1, "]"]\n}');
  assert.strictEqual(arm.rawMember(text, ['properties', 'nope']), null);
  const token = arm.newToken();
  assert.strictEqual(arm.spliceBody({ p: { content: token } }, { [token]: '{ "x": "$&" }' }), '{"p":{"content":{ "x": "$&" }}}');
  const problem = arm.jsonProblem('{\n  "a": 1,\n  "b" 2\n}');
  assert.deepStrictEqual([problem.line, problem.column], [3, 7]);
  assert.strictEqual(arm.jsonProblem('{"a": 1}'), null);
  assert.strictEqual(arm.fieldOfError({ code: 'InvalidRequestContent', message: "The property 'properties.url' must be ..." }), 'url');
  assert.strictEqual(arm.fieldOfError({ code: 'InvalidDeviceMapping', message: '' }), 'deviceMapping');
});

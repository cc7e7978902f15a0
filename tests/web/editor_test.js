// The mapping editor (GET /, #/editor) in a real browser against a real
// `iomt serve`: problems marked at their line as you type and gone when
// fixed, a pasted message's measurement and Observation, a message that
// matches nothing and why, CalculatedContent (JMESPath), import and export
// byte for byte, "Save as test case" (a tar `iomt test` reads), keyboard
// use, and the narrow layout.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { startConsole, root, iomt } = require('./harness');

const node = process.execPath;
const exampleDevice = fs.readFileSync(path.join(root, 'examples/mappings/devicecontent.json'));
const exampleFhir = fs.readFileSync(path.join(root, 'examples/mappings/fhirmapping.json'));
const ward = fs.readFileSync(path.join(root, 'examples/events/ward.ndjson'), 'utf8').split('\n').filter(Boolean);

let h;
let page;

// Where a problem shows up: the editor of a file, its lines, the list.
const pane = (which) => `.editor-cm[data-mapping="${which}"]`;
const problemsStatus = '.editor-problems-status';
const resultStatus = '.editor-result-status';

async function waitText(selector, pattern, timeout = 10000) {
  await page.waitForFunction(([s, source, flags]) => {
    const node = document.querySelector(s);
    return node && new RegExp(source, flags).test(node.textContent);
  }, [selector, pattern.source, pattern.flags], { timeout }).catch(async (e) => {
    const text = await page.locator(selector).first().textContent().catch(() => '(none)');
    throw new Error(`${selector} never matched ${pattern}: it says ${JSON.stringify(text)} (${e.message})`);
  });
}

// The line number shown in the gutter beside the line holding `locator`.
async function lineNumberOf(locator) {
  return locator.evaluate((node) => {
    const top = node.closest('.cm-line').getBoundingClientRect().top;
    const editor = node.closest('.cm-editor');
    const numbers = [...editor.querySelectorAll('.cm-lineNumbers .cm-gutterElement')];
    const beside = numbers.find((n) => Math.abs(n.getBoundingClientRect().top - top) < 2);
    return beside ? Number(beside.textContent) : -1;
  });
}

async function loadExampleMappings() {
  await page.getByRole('button', { name: 'Load the example mappings' }).click();
  await waitText(problemsStatus, /No problems in the mappings/);
}

async function addPasted(text) {
  await page.getByLabel('Paste a message, or NDJSON (one message a line)').fill(text);
  await page.getByRole('button', { name: 'Add pasted messages' }).click();
}

async function addExample(label) {
  const select = page.getByLabel('Example messages');
  const value = await select.evaluate((s, want) => [...s.options].find((o) => o.textContent.includes(want))?.value, label);
  assert.ok(value, `an example labelled ${label}`);
  await select.selectOption(value);
  await page.getByRole('button', { name: 'Add example' }).click();
}

// The bytes of the download that `action` starts.
async function downloadOf(action) {
  const [download] = await Promise.all([page.waitForEvent('download'), action()]);
  return { name: download.suggestedFilename(), bytes: fs.readFileSync(await download.path()) };
}

// The members of an uncompressed ustar archive: {name: text}; checks each
// header's checksum and magic on the way.
function untar(bytes) {
  const files = {};
  for (let at = 0; at + 512 <= bytes.length;) {
    const header = bytes.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const field = (from, length) => header.subarray(from, from + length).toString('latin1').replace(/\0.*$/s, '');
    const stored = parseInt(field(148, 8).trim(), 8);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
    assert.strictEqual(sum, stored, `checksum of ${field(0, 100)}`);
    assert.strictEqual(field(257, 6), 'ustar');
    const size = parseInt(field(124, 12), 8);
    files[field(0, 100)] = bytes.subarray(at + 512, at + 512 + size).toString('utf8');
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

before(async () => {
  h = await startConsole();
  page = h.page;
  await page.waitForSelector(`${pane('device')} .cm-content`);
});

after(async () => {
  if (h) await h.stop();
});

test('loads with no connectors: empty editors, clear empty states, CodeMirror styled under the CSP', async () => {
  assert.strictEqual(await page.getAttribute('main', 'data-view'), 'editor');
  const connectorOptions = await page.getByLabel('Connector').locator('option').allTextContents();
  assert.deepStrictEqual(connectorOptions, ['None (the mappings alone)']);
  await waitText(problemsStatus, /Nothing to check yet/);
  await waitText('.editor-result', /Paste a device message or pick an example/);
  assert.match(await page.locator('.editor-message-list').textContent(), /paste a device message or pick an example/);
  // Both editors have line numbers and their styles (a constructable
  // stylesheet in their shadow roots: the gutter is laid out beside the text).
  for (const which of ['device', 'fhir']) {
    await page.locator(`${pane(which)} .cm-lineNumbers`).waitFor();
    const gutter = await page.locator(`${pane(which)} .cm-gutters`).boundingBox();
    const content = await page.locator(`${pane(which)} .cm-content`).boundingBox();
    assert.ok(gutter.x + gutter.width <= content.x + 1, 'the gutter is left of the text');
  }
  // Labelled for screen readers.
  assert.match(await page.locator(`${pane('device')} .cm-content`).getAttribute('aria-label'), /devicecontent\.json/);
  await h.screenshot('editor-empty');
});

test('a broken mapping is marked at its line as you type, with a suggested fix; fixing it clears it', async () => {
  await loadExampleMappings();
  // Delete the closing quote of the first "typeName" (line 7).
  const line = page.locator(`${pane('device')} .cm-line`, { hasText: '"typeName": "heartrate"' }).first();
  await line.click();
  await page.keyboard.press('End');
  await page.keyboard.press('Home');
  for (let i = 0; i < '"typeName'.length; i++) await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Delete');

  await waitText(problemsStatus, /1 error/);
  const problem = page.locator('.editor-problem').first();
  assert.match(await problem.textContent(), /devicecontent\.json:7:\d+ error Invalid character after parsing property name\. Expected ':' but got: h/);
  assert.match(await problem.textContent(), /Suggested fix: .*quote or the ':' is missing/);
  assert.strictEqual(await page.locator('[data-count="device"]').textContent(), '1 error');
  // The mark in the text is on line 7, with a marker in the gutter.
  const marked = page.locator(`${pane('device')} .cm-lintRange-error`);
  await marked.first().waitFor();
  assert.strictEqual(await lineNumberOf(marked.first()), 7, 'the mark is on line 7');
  assert.match(await marked.first().evaluate((n) => n.closest('.cm-line').textContent), /"typeName: "heartrate"/);
  await page.locator(`${pane('device')} .cm-lint-marker-error`).first().waitFor();
  // Hovering the mark shows the message and the fix.
  await marked.first().hover();
  const tooltip = page.locator(`${pane('device')} .cm-tooltip-lint`);
  await tooltip.waitFor();
  assert.match(await tooltip.textContent(), /Expected ':' but got: h.*Suggested fix:/s);
  await h.screenshot('editor-error');

  // Clicking the problem puts the cursor there, in the editor.
  await page.mouse.move(0, 0);
  await problem.locator('button').click();
  assert.strictEqual(await page.evaluate(() => document.activeElement.dataset.mapping), 'device');
  assert.match(await page.locator(`${pane('device')} .cm-activeLine`).textContent(), /"typeName: "heartrate"/);

  // Fix it: type the quote back.
  await page.locator(`${pane('device')} .cm-line`, { hasText: '"typeName: "heartrate"' }).first().click();
  await page.keyboard.press('End');
  await page.keyboard.press('Home');
  for (let i = 0; i < '"typeName'.length; i++) await page.keyboard.press('ArrowRight');
  await page.keyboard.type('"');
  await waitText(problemsStatus, /No problems in the mappings/);
  assert.strictEqual(await page.locator(`${pane('device')} .cm-lintRange-error`).count(), 0);
  assert.strictEqual(await page.locator('.editor-problem').count(), 0);
  assert.strictEqual(await page.locator('[data-count="device"]').textContent(), 'valid');
});

test('an unknown template type lists the valid ones and offers them as fixes', async () => {
  const line = page.locator(`${pane('fhir')} .cm-line`, { hasText: '"templateType": "CodeValueFhir"' }).first();
  await line.click();
  await page.keyboard.press('End');
  // Before the closing quote and comma: make it "CodeValueFhirX".
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.type('X');
  await waitText(problemsStatus, /1 error/);
  const text = await page.locator('.editor-problem').first().textContent();
  assert.match(text, /fhirmapping\.json:5:\d+ error No match found for template type CodeValueFhirX\./);
  assert.match(text, /Suggested fix: Use one of the template types of a FHIR mapping: CodeValueFhir, CollectionFhirTemplate \(did you mean CodeValueFhir\?\)/);
  // The mark covers the value, and the tooltip's action replaces it.
  const marked = page.locator(`${pane('fhir')} .cm-lintRange-error`).first();
  assert.strictEqual(await marked.textContent(), '"CodeValueFhirX"');
  await marked.hover();
  await page.locator(`${pane('fhir')} .cm-tooltip-lint button`, { hasText: 'CodeValueFhir' }).first().click();
  await waitText(problemsStatus, /No problems in the mappings/);
  assert.match(await line.textContent(), /"templateType": "CodeValueFhir",/);
});

test('a pasted message shows its measurement and the Observation it becomes', async () => {
  await addPasted('{"deviceId":"watch-09","patientId":"patient-009","metric":"heart_rate","value":72,"time":"2023-10-09T19:05:00Z"}');
  await waitText(resultStatus, /1 measurement, 1 FHIR resource/);
  const row = page.locator('.editor-measurements tbody tr');
  assert.strictEqual(await row.count(), 1);
  assert.deepStrictEqual(await row.locator('td').allTextContents(),
    ['heartrate', '2023-10-09T19:05:00Z', 'watch-09', 'patient-009', 'hr = 72']);
  const observation = JSON.parse(await page.locator('.editor-resource pre').first().textContent());
  assert.strictEqual(observation.resourceType, 'Observation');
  assert.strictEqual(observation.code.coding[0].system, 'http://loinc.org');
  assert.strictEqual(observation.code.coding[0].code, '8867-4');
  assert.match(observation.valueSampledData.data, /^(E )*72( E)*$/);
  assert.match(await page.locator('.editor-resource h4').first().textContent(), /Observation 8867-4 Heart rate/);
  // The result follows the mapping as it is edited: another LOINC code.
  const code = page.locator(`${pane('fhir')} .cm-line`, { hasText: '"code": "8867-4"' }).first();
  await code.click();
  await page.keyboard.press('End');
  for (let i = 0; i < 2; i++) await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('Backspace');
  await page.keyboard.type('5');
  await page.waitForFunction(() => /"code": "8867-5"/.test(document.querySelector('.editor-resource pre')?.textContent || ''));
  await page.keyboard.press('Backspace');
  await page.keyboard.type('4');
  await page.waitForFunction(() => /"code": "8867-4"/.test(document.querySelector('.editor-resource pre')?.textContent || ''));
  await h.screenshot('editor');
});

test('a message that matches no template shows why it becomes nothing', async () => {
  const battery = ward.find((l) => l.includes('"battery"'));
  assert.ok(battery);
  await addPasted(battery);
  await waitText(resultStatus, /becomes nothing/);
  assert.match(await page.locator('.editor-why').textContent(), /no measurement and no FHIR resource/);
  assert.match(await page.locator('.editor-warnings').textContent(), /No measurements were produced/);
  const explanation = await page.locator('.editor-explanation li').allTextContents();
  assert.ok(explanation.length >= 1);
  assert.match(explanation.join('\n'), /template 'heartrate' \(JsonPathContent\): typeMatchExpression .* matched nothing/);
});

test('a message that is not JSON names the stage and the error', async () => {
  const cut = ward.find((l) => !l.trim().endsWith('}'));
  await addPasted(cut);
  await waitText(resultStatus, /becomes nothing: NotSupportedException \(Normalization\)/);
  const cells = await page.locator('.editor-errors tbody tr').first().locator('td').allTextContents();
  assert.strictEqual(cells[0], 'Normalization');
  assert.strictEqual(cells[1], 'NotSupportedException');
  assert.strictEqual(cells[2], 'DeviceMessageError');
});

test('CalculatedContent with JMESPath: the patch readings become steps and a Celsius temperature', async () => {
  await addExample('patch-readings.json');
  await waitText(resultStatus, /4 measurements/);
  const rows = await page.locator('.editor-measurements tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const values = rows.map((r) => `${r[0]} ${r[4]}`);
  assert.ok(values.includes('steps steps = 212'), values.join('; '));
  assert.ok(values.includes('steps steps = 530'));
  assert.ok(values.includes('bodytemperature temperature = 37'), values.join('; '));
  // fromUnixTimestampMs(1696878000000)
  assert.ok(rows.some((r) => r[1].startsWith('2023-10-09T19:00:00')), rows.map((r) => r[1]).join('; '));
  const codes = await page.locator('.editor-resource h4').allTextContents();
  assert.ok(codes.some((c) => /55423-8/.test(c)), codes.join('; '));
  assert.ok(codes.some((c) => /8310-5/.test(c)), codes.join('; '));
});

test('export then import gives the same file back, byte for byte', async () => {
  // An imported file with CRLF line ends and a byte order mark, to be sure
  // they survive the editor (which works in \n).
  const crlf = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(exampleFhir.toString('utf8').replace(/\n/g, '\r\n'))]);
  for (const [which, name, bytes] of [['device', 'devicecontent.json', exampleDevice], ['fhir', 'fhirmapping.json', crlf]]) {
    await page.setInputFiles(`input[data-open="${which}"]`, { name, mimeType: 'application/json', buffer: bytes });
    await waitText(problemsStatus, /No problems in the mappings/);
    const out = await downloadOf(() => page.locator(`button[data-download="${which}"]`).click());
    assert.strictEqual(out.name, name);
    assert.ok(out.bytes.equals(bytes), `${name}: the download is the imported file (${out.bytes.length} vs ${bytes.length} bytes)`);
    // And once more, through the editor again.
    await page.setInputFiles(`input[data-open="${which}"]`, { name, mimeType: 'application/json', buffer: out.bytes });
    const again = await downloadOf(() => page.locator(`button[data-download="${which}"]`).click());
    assert.ok(again.bytes.equals(bytes));
  }
});

test('save as test case downloads a tar holding the folder iomt test reads', async () => {
  await addPasted('{"deviceId":"watch-09","patientId":"patient-009","metric":"heart_rate","value":72,"time":"2023-10-09T19:05:00Z"}');
  await waitText(resultStatus, /1 measurement, 1 FHIR resource/);
  await page.getByLabel('Test case name').fill('watch hr/72');
  await page.getByLabel('Envelope').selectOption('wrap');
  await waitText(resultStatus, /1 measurement, 1 FHIR resource/);
  const out = await downloadOf(() => page.getByRole('button', { name: 'Save as test case' }).click());
  assert.strictEqual(out.name, 'watch-hr-72.tar');
  const files = untar(out.bytes);
  assert.deepStrictEqual(Object.keys(files).sort(), [
    'watch-hr-72/case.json',
    'watch-hr-72/devicecontent.json',
    'watch-hr-72/expected/measurements.ndjson',
    'watch-hr-72/expected/resources.ndjson',
    'watch-hr-72/fhirmapping.json',
    'watch-hr-72/input.ndjson',
  ]);
  assert.strictEqual(files['watch-hr-72/devicecontent.json'], exampleDevice.toString('utf8'));
  assert.strictEqual(files['watch-hr-72/input.ndjson'],
    '{"deviceId":"watch-09","patientId":"patient-009","metric":"heart_rate","value":72,"time":"2023-10-09T19:05:00Z"}\n');
  const measurement = JSON.parse(files['watch-hr-72/expected/measurements.ndjson']);
  assert.strictEqual(measurement.Type, 'heartrate');
  assert.deepStrictEqual(measurement.Properties, [{ Name: 'hr', Value: '72' }]);
  assert.ok(!('IngestionTimeUtc' in measurement));
  const resource = JSON.parse(files['watch-hr-72/expected/resources.ndjson']);
  assert.strictEqual(resource.code.coding[0].code, '8867-4');
  const caseJson = JSON.parse(files['watch-hr-72/case.json']);
  assert.strictEqual(caseJson.resolution, 'Create');
  assert.strictEqual(caseJson.envelope, 'wrap');
  assert.match(caseJson.description, /watch-09/);

  // A message with an error: expected/errors.ndjson, without the time.
  await page.getByLabel('Envelope').selectOption('auto');
  await addPasted(ward.find((l) => !l.trim().endsWith('}')));
  await waitText(resultStatus, /NotSupportedException/);
  await page.getByLabel('Test case name').fill('cut-off');
  const bad = untar((await downloadOf(() => page.getByRole('button', { name: 'Save as test case' }).click())).bytes);
  assert.deepStrictEqual(Object.keys(bad).sort(), [
    'cut-off/case.json', 'cut-off/devicecontent.json', 'cut-off/expected/errors.ndjson',
    'cut-off/expected/measurements.ndjson', 'cut-off/fhirmapping.json', 'cut-off/input.ndjson',
  ]);
  const error = JSON.parse(bad['cut-off/expected/errors.ndjson']);
  assert.strictEqual(error.errorName, 'NotSupportedException');
  assert.ok(!('time' in error));
  assert.strictEqual(bad['cut-off/expected/measurements.ndjson'], '');

  // Real tar reads it, and `iomt test` runs it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iomt-editor-case-'));
  try {
    fs.writeFileSync(path.join(dir, 'case.tar'), out.bytes);
    execFileSync('tar', ['xf', 'case.tar'], { cwd: dir });
    assert.ok(fs.statSync(path.join(dir, 'watch-hr-72/expected/measurements.ndjson')).isFile());
    // The folder, and the tar itself, pass `iomt test`.
    for (const target of [path.join(dir, 'watch-hr-72'), path.join(dir, 'case.tar')]) {
      const run = spawnSync(iomt, ['test', target], { encoding: 'utf8' });
      assert.strictEqual(run.status, 0, `iomt test ${target}: ${run.stdout}${run.stderr}`);
      assert.match(run.stdout, /1 passed, 0 failed\s*$/);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the keyboard is never trapped in an editor, and the work survives switching views', async () => {
  await page.locator(`${pane('device')} .cm-content`).click();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => ({ mapping: document.activeElement.dataset.mapping, text: document.activeElement.textContent }));
  assert.notStrictEqual(focused.mapping, 'device', 'Tab left the device editor');
  assert.strictEqual(focused.text, 'Open fhirmapping.json');

  // The editor shows only the lines in view: compare its whole text by downloading it.
  const text = async () => (await downloadOf(() => page.locator('button[data-download="device"]').click())).bytes;
  const before = await text();
  const messages = await page.locator('.editor-message').count();
  await page.goto(`${h.base}/#/connectors`);
  await page.waitForSelector('main[data-view="connectors"]');
  await page.goto(`${h.base}/#/editor`);
  await page.waitForSelector(`${pane('device')} .cm-content`);
  assert.ok((await text()).equals(before));
  assert.strictEqual(await page.locator('.editor-message').count(), messages);
  await waitText(resultStatus, /NotSupportedException/);
  // Nothing of the messages went into the URL or the browser's storage.
  assert.strictEqual(page.url(), `${h.base}/#/editor`);
  assert.deepStrictEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0]);
});

test('at 420 px the panes stack and nothing overflows sideways', async () => {
  await page.setViewportSize({ width: 420, height: 800 });
  await page.waitForTimeout(200);
  const device = await page.locator(pane('device')).boundingBox();
  const fhir = await page.locator(pane('fhir')).boundingBox();
  assert.ok(fhir.y > device.y + device.height - 1, 'the FHIR editor is below the device editor');
  assert.ok(device.width <= 420 && fhir.width <= 420);
  const messages = await page.locator('.editor-messages').boundingBox();
  const results = await page.locator('.editor-results').boundingBox();
  assert.ok(results.y > messages.y + messages.height - 1, 'the results are below the messages');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 420, `the page is ${overflow} px wide`);
  // The toasts of the steps before have gone by (they would hide the page).
  await page.waitForFunction(() => document.getElementById('toasts').children.length === 0, null, { timeout: 15000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await h.screenshot('editor-narrow');
  await page.setViewportSize({ width: 1280, height: 800 });
});

test("with a connector: its name in the selector, and Lookup names the missing Device with the fix", async () => {
  const c = await startConsole({
    args: ['--connector', 'w1', '--device-mapping', 'examples/mappings/devicecontent.json',
      '--fhir-mapping', 'examples/mappings/fhirmapping.json', '--resolution', 'Lookup'],
  });
  try {
    const p = c.page;
    await p.waitForSelector(`${pane('device')} .cm-content`);
    await p.getByLabel('Connector').locator('option', { hasText: 'w1' }).waitFor({ state: 'attached' });
    await p.getByRole('button', { name: 'Load the example mappings' }).click();
    await p.getByLabel('Paste a message, or NDJSON (one message a line)').fill(ward[0]);
    await p.getByRole('button', { name: 'Add pasted messages' }).click();
    await p.getByLabel('Connector').selectOption('w1');
    await p.getByLabel('Resolution').selectOption('Lookup');
    await p.waitForFunction(() => /would not be written: DeviceNotFoundException \(identity, Lookup\)/.test(document.querySelector('.editor-result-status').textContent));
    const why = await p.locator('.editor-identity').first().textContent();
    assert.match(why, /No Device has the identifier monitor-01/);
    assert.match(why, /Fix.*Create a Device resource in the FHIR service of connector w1/);
    await p.locator('.editor-results').scrollIntoViewIfNeeded();
    await c.screenshot('editor-connector-lookup');
  } finally {
    await c.stop();
  }
});

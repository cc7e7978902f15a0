// The Provisioning view end to end, as a person would use it: a workspace,
// its FHIR service, an IoT connector and its FHIR destination created
// through the page's forms (with the example mappings), the API's refusals
// shown under the field they are about (a name ARM refuses, a device mapping
// that is not JSON, one that does not validate: "Line 4, column 53"); then
// the connector takes messages (posted from here) and its counters move on
// the dashboard; a message no template matches is dead-lettered, found in
// Dead letters by its error name, the device mapping is fixed through the
// connector's edit form, the dead letters are replayed, and the message's
// Observation is written. Last, the mapping editor's save button (the hook
// this view gives it) saves the FHIR mapping back to the destination, and
// shows the API's refusal of a broken one at its line; and the workspace is
// deleted, with all it holds.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { startConsole, root, waitFor } = require('./harness');

const deviceMappingText = fs.readFileSync(path.join(root, 'examples/mappings/devicecontent.json'), 'utf8');
const fhirMappingText = fs.readFileSync(path.join(root, 'examples/mappings/fhirmapping.json'), 'utf8');
// The example events that are JSON (one line of the file is cut short on
// purpose, and a request with it is refused whole).
const goodEvents = fs.readFileSync(path.join(root, 'examples/events/ward.ndjson'), 'utf8').split('\n')
  .filter((line) => { try { JSON.parse(line); return true; } catch { return false; } });
// A reading of a shape no template of the example mapping matches.
const pulse = { deviceId: 'watch-05', patientId: 'patient-005', metric: 'pulse', value: 66, time: '2023-10-09T20:00:00Z' };

// The example device mapping with a template for the pulse readings: the fix.
function fixedDeviceMapping() {
  const m = JSON.parse(deviceMappingText);
  const heartRate = m.template.find((t) => t.templateType === 'JsonPathContent' && t.template.typeName === 'heartrate');
  const pulseTemplate = JSON.parse(JSON.stringify(heartRate));
  pulseTemplate.template.typeMatchExpression = "$..[?(@metric == 'pulse')]";
  m.template.push(pulseTemplate);
  return `${JSON.stringify(m, null, 2)}\n`;
}

test('provision a running connector through the page, watch it, fix and replay its dead letters', async () => {
  const h = await startConsole({ path: '/#/provisioning' });
  const { page } = h;
  try {
    await page.waitForSelector('main[data-view="provisioning"] .pv-list[aria-busy="false"]');
    assert.match(await page.textContent('.pv-list'), /No workspaces in resource group iomt/);

    // ---- a workspace: a name ARM refuses, then a good one ----------------------------
    await page.getByRole('button', { name: 'New workspace' }).click();
    const wsForm = page.locator('form[data-kind="workspace"]');
    assert.strictEqual(await wsForm.getByLabel('Location', { exact: true }).inputValue(), 'westus2');
    await wsForm.getByLabel('Name', { exact: true }).fill('Ward_A');
    await wsForm.getByRole('button', { name: 'Create workspace' }).click();
    const nameError = wsForm.locator('[data-field="name"] .field-error');
    await waitFor('the name error', async () => /Ward_A' is invalid/.test(await nameError.textContent()));
    // The refused field has the focus and says it is invalid.
    assert.strictEqual(await page.evaluate(() => document.activeElement.name), 'name');
    assert.strictEqual(await wsForm.getByLabel('Name', { exact: true }).getAttribute('aria-invalid'), 'true');
    await wsForm.getByLabel('Name', { exact: true }).fill('ward-a');
    await wsForm.getByLabel('Tags (optional)').fill('team=cardio');
    await wsForm.getByRole('button', { name: 'Create workspace' }).click();
    const ws = page.locator('section.pv-ws[data-workspace="ward-a"]');
    await ws.waitFor();
    assert.strictEqual(await ws.locator('.pv-head .pv-state').textContent(), 'Succeeded');
    assert.match(await ws.textContent(), /team=cardio/);

    // ---- its FHIR service: the embedded store ------------------------------------------------
    await ws.getByRole('button', { name: 'Add a FHIR service' }).click();
    const fhirForm = page.locator('form[data-kind="fhirservice"]');
    assert.strictEqual(await fhirForm.getByLabel('Location', { exact: true }).inputValue(), 'westus2');
    await fhirForm.getByLabel('Name', { exact: true }).fill('fhir1');
    await fhirForm.getByRole('button', { name: 'Create FHIR service' }).click();
    await ws.locator('li[data-fhirservice="fhir1"]').waitFor();

    // ---- an IoT connector: a mapping that is not JSON, one that does not validate, the example --
    await ws.getByRole('button', { name: 'Add an IoT connector' }).click();
    const cForm = page.locator('form[data-kind="iotconnector"]');
    await cForm.getByLabel('Name', { exact: true }).fill('ward1');
    const dm = cForm.getByLabel('Device mapping (JSON)');
    const dmError = cForm.locator('[data-field="deviceMapping"] .field-error');
    await dm.fill('{\n  "templateType": "CollectionContent",\n  "template": [\n');
    await cForm.getByRole('button', { name: 'Create IoT connector' }).click();
    await waitFor('the not-JSON error', async () => /Not JSON/.test(await dmError.textContent()));
    await dm.fill('{\n  "templateType": "CollectionContent",\n  "template": [\n    {"templateType": "JsonPathContent", "template": {"typeName": "hr"}}\n  ]\n}\n');
    await cForm.getByRole('button', { name: 'Create IoT connector' }).click();
    await waitFor('the device mapping errors', async () => /Line 4, column 53/.test(await dmError.textContent()));
    const dmErrors = await dmError.textContent();
    assert.match(dmErrors, /3 problems in the mapping/);
    assert.match(dmErrors, /Required property 'TypeMatchExpression' not found in JSON\./);
    assert.match(await cForm.locator('.pv-form-error').textContent(), /InvalidDeviceMapping/);
    assert.strictEqual(await dm.getAttribute('aria-invalid'), 'true');
    // A position's button puts the caret there.
    await dmError.getByRole('button').first().click();
    const caret = await dm.evaluate((t) => [document.activeElement === t, t.selectionStart]);
    const wanted = dm.evaluate((t) => t.value.split('\n').slice(0, 3).join('\n').length + 1 + 52);
    assert.deepStrictEqual(caret, [true, await wanted]);
    await h.screenshot('provisioning-error');
    await dm.fill(deviceMappingText);
    await cForm.getByRole('button', { name: 'Create IoT connector' }).click();

    // ---- its FHIR destination: the form comes next ------------------------------------------
    const dForm = page.locator('form[data-kind="fhirdestination"]');
    await dForm.waitFor();
    assert.match(await dForm.textContent(), /IoT connector ward1 is saved\. It runs once its FHIR destination is saved/);
    assert.match(await dForm.getByLabel('FHIR service').inputValue(), /\/fhirservices\/fhir1$/);
    await dForm.getByLabel('FHIR mapping (JSON)').fill(fhirMappingText);
    await dForm.getByRole('button', { name: 'Create FHIR destination' }).click();
    const conn = ws.locator('li[data-connector="ward1"]');
    await conn.locator('.pv-destination .pv-state').waitFor();
    await waitFor('the destination Succeeded', async () => (await conn.locator('.pv-destination .pv-state').textContent()) === 'Succeeded');
    assert.match(await conn.textContent(), /POST \/connectors\/ward1\/messages/);
    await h.screenshot('provisioning');

    // The mappings were sent as typed: the API gives them back byte for byte.
    const armConnector = await h.request('GET',
      '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/iomt/providers/Microsoft.HealthcareApis/workspaces/ward-a/iotconnectors/ward1');
    assert.ok(armConnector.text.includes(deviceMappingText), 'the device mapping is stored as typed');

    // ---- it runs: messages move its counters on the dashboard -------------------------------
    await page.goto(`${h.base}/#/connectors`);
    const card = page.locator('section.dash-card[data-connector="ward1"]');
    await card.waitFor();
    const counter = (key) => card.locator(`[data-counter="${key}"] .dash-value`).textContent();
    await waitFor('the first poll', async () => (await counter('incoming')) === '0');
    const posted = await h.request('POST', '/connectors/ward1/messages', goodEvents.join('\n'), { 'Content-Type': 'application/x-ndjson' });
    assert.strictEqual(posted.status, 202, posted.text);
    await waitFor('incoming to reach the messages posted', async () => (await counter('incoming')) === String(goodEvents.length));
    await waitFor('resources saved', async () => Number((await counter('saved')).replace(/,/g, '')) > 0);
    assert.match(await card.locator('.dash-badges').textContent(), /Running\s+ready/);

    // ---- a message no template matches: in Dead letters, by its error name ------------------
    const deadBefore = Number(await counter('deadLetters'));
    assert.strictEqual((await h.request('POST', '/connectors/ward1/messages', pulse)).status, 202);
    await waitFor('the dead letter counted', async () => Number(await counter('deadLetters')) === deadBefore + 1);
    await card.getByRole('link', { name: /Dead letters/ }).click();
    await page.waitForSelector('main[data-view="deadletters"] .dl-record');
    await page.getByLabel('Error name').selectOption('UnmatchedDeviceMessage');
    const shown = page.locator('.dl-record');
    const names = await shown.evaluateAll((nodes) => nodes.map((n) => n.dataset.errorName));
    assert.ok(names.length >= 1 && names.every((n) => n === 'UnmatchedDeviceMessage'), names.join());
    assert.match(await page.locator('.dl-list').textContent(), /watch-05/);
    assert.doesNotMatch(page.url(), /watch-05|patient-005|Unmatched/, 'no message content in the URL');

    // ---- the fix: the connector's device mapping, through its edit form --------------------------
    await page.getByRole('link', { name: 'Provisioning' }).click();
    await page.getByRole('button', { name: 'Edit IoT connector ward1' }).click();
    const editForm = page.locator('form[data-kind="iotconnector"]');
    // (The value's text: the line end after it is not part of it.)
    assert.strictEqual(await editForm.getByLabel('Device mapping (JSON)').inputValue(), deviceMappingText.replace(/\n$/, ''),
      'the form shows the mapping as it was sent');
    await editForm.getByLabel('Device mapping (JSON)').fill(fixedDeviceMapping());
    await editForm.getByRole('button', { name: 'Save IoT connector' }).click();
    await editForm.waitFor({ state: 'detached' });
    const running = await h.request('GET', '/connectors/ward1/mappings');
    assert.ok(running.json.deviceMapping.template.some((t) => /pulse/.test(t.template.typeMatchExpression)), 'the fix runs');

    // ---- replay: the dead letter is gone, its Observation written ------------------------------
    const observationsBefore = (await h.request('GET', '/fhir/Observation?_count=1')).json.total;
    await page.getByRole('link', { name: 'Dead letters' }).first().click();
    await page.waitForSelector('main[data-view="deadletters"] .dl-record');
    // The filter is remembered (in memory) for the connector.
    assert.strictEqual(await page.getByLabel('Error name').inputValue(), 'UnmatchedDeviceMessage');
    await page.getByRole('button', { name: 'Replay…' }).click();
    const dialog = page.getByRole('dialog');
    assert.match(await dialog.textContent(), /current mappings/);
    await dialog.getByRole('button', { name: 'Replay' }).click();
    await waitFor('the replay result', async () => /Replayed \d+ dead letters?/.test(await page.locator('.dl-result').textContent()));
    await waitFor('the pulse dead letter gone', async () => !/watch-05/.test(await page.locator('.dl-list').textContent()));
    const patient = await waitFor('the Patient of the replayed message', async () => {
      const r = await h.request('GET', '/fhir/Patient?identifier=patient-005');
      return r.json && r.json.total > 0 ? r.json : null;
    });
    assert.strictEqual(patient.total, 1);
    const observationsAfter = (await h.request('GET', '/fhir/Observation?_count=1')).json.total;
    assert.ok(observationsAfter > observationsBefore, `Observations ${observationsBefore} → ${observationsAfter}`);

    // ---- the mapping editor saves back through the provisioning API -----------------------------
    await page.getByRole('link', { name: 'Provisioning' }).click();
    await page.getByRole('button', { name: 'Open the mappings of ward1 in the mapping editor' }).click();
    await page.waitForSelector('main[data-view="editor"] .editor-cm[data-mapping="fhir"] .cm-content');
    const save = page.getByRole('button', { name: 'Save to connector ward1' });
    await save.waitFor();
    const replaceFhir = async (text) => {
      await page.locator('.editor-cm[data-mapping="fhir"] .cm-content').click();
      await page.keyboard.press('Control+A');
      await page.keyboard.insertText(text);
    };
    // A FHIR mapping the API refuses: its error comes back at its line.
    await replaceFhir('{\n  "templateType": "CollectionFhir",\n  "template": [\n    {"templateType": "CodeValueFhir", "template": {"typeName": "x"}}\n  ]\n}');
    await save.click();
    await waitFor('the refusal at its line in the editor', async () =>
      (await page.locator('.editor-problem-go[data-file="fhirmapping.json"][data-line="4"]').count()) > 0);
    const destinationPath = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/iomt/providers/' +
      'Microsoft.HealthcareApis/workspaces/ward-a/iotconnectors/ward1/fhirdestinations/fhirdestination';
    assert.ok((await h.request('GET', destinationPath)).text.includes(fhirMappingText.replace(/\n$/, '')), 'the refused mapping is not saved');
    // A good one (re-indented: a change) is saved as it is in the editor.
    const reindented = JSON.stringify(JSON.parse(fhirMappingText), null, 4);
    await replaceFhir(reindented);
    await save.click();
    await waitFor('the destination saved from the editor', async () => (await h.request('GET', destinationPath)).text.includes(reindented));
    await waitFor('the editor says so', async () => /Saved the FHIR mapping \(destination fhirdestination\)/.test(await page.locator('#toasts').textContent()));

    // ---- deleting: the workspace takes everything with it ----------------------------------------
    await page.getByRole('link', { name: 'Provisioning' }).click();
    await page.getByRole('button', { name: 'Delete workspace ward-a' }).click();
    const confirm = page.getByRole('dialog');
    assert.match(await confirm.textContent(), /also deletes its FHIR services, IoT connectors and FHIR destinations/);
    await confirm.getByRole('button', { name: 'Delete' }).click();
    // It reads Deleting while the connector drains, then it is gone; the
    // page follows it without being asked.
    await waitFor('the empty list', async () => /No workspaces in resource group iomt/.test(await page.locator('.pv-list').textContent()), 40000);
    assert.strictEqual((await h.request('GET', '/connectors/ward1')).status, 404);
    // Announced too (gathered for 100 ms first: it may come just after the list).
    await waitFor('the deletion announced', async () => /deleted|Deleting/.test(await page.locator('main .dash-sr').textContent()));
  } catch (e) {
    // What the page showed when it went wrong.
    await h.screenshot('provisioning-failure').catch(() => {});
    throw e;
  } finally {
    await h.stop();
  }
});

// The FHIR API of `iomt serve` through two FHIR client libraries nobody here
// wrote, as apps use them: Medplum's (@medplum/core) and fhir-kit-client.
// A fresh `iomt serve` (its own store, a free port) per run; each client
// does the daily work of an app on device data: create, conditional create
// and update, read, patch, search with paging both ways, includes, counts,
// "the latest reading", value thresholds, history, batches, delete.
//
// IOMT names the binary (ctest sets it; default build/bin/iomt; serve.js).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { MedplumClient } = require('@medplum/core');

const { startServe } = require('./serve');
let stopServe;
let base;

before(async () => {
  ({ base, stop: stopServe } = await startServe('iomt-clients-'));
});

after(() => {
  stopServe();
});

const loinc = 'http://loinc.org';
function heartRate(patient, minute, bpm) {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: loinc, code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patient}` },
    device: { reference: 'Device/watch-1' },
    effectiveDateTime: `2024-05-01T10:${String(minute).padStart(2, '0')}:00Z`,
    valueQuantity: { value: bpm, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

test("Medplum's client", async () => {
  const medplum = new MedplumClient({ baseUrl: `${base}/`, fhirUrlPath: 'fhir', fetch });
  const patient = await medplum.createResource({
    resourceType: 'Patient',
    identifier: [{ system: 'urn:mrn', value: 'm-1' }],
    name: [{ family: 'Okafor', given: ['Ada'] }],
  });
  assert.equal(patient.meta.versionId, '1');
  // Conditional create finds it; upsert (conditional update) updates it.
  const again = await medplum.createResourceIfNoneExist(
    { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'm-1' }] },
    'identifier=urn:mrn|m-1',
  );
  assert.equal(again.id, patient.id);
  const upserted = await medplum.upsertResource(
    { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'm-1' }], name: [{ family: 'Okafor', given: ['Adaeze'] }] },
    'identifier=urn:mrn|m-1',
  );
  assert.equal(upserted.id, patient.id);
  assert.equal(upserted.meta.versionId, '2');
  await medplum.updateResource({ resourceType: 'Device', id: 'watch-1', patient: { reference: `Patient/${patient.id}` } });
  for (let i = 0; i < 12; i++) await medplum.createResource(heartRate(patient.id, i, 100 + 3 * i));

  // "The latest reading" and "above 120".
  const latest = await medplum.searchOne('Observation', { patient: `Patient/${patient.id}`, code: `${loinc}|8867-4`, _sort: '-date' });
  assert.equal(latest.valueQuantity.value, 133);
  const high = await medplum.searchResources('Observation', { patient: patient.id, 'value-quantity': 'gt120', _count: '100' });
  assert.deepEqual(high.map((o) => o.valueQuantity.value).sort(), [121, 124, 127, 130, 133]);
  const counted = await medplum.search('Observation', { code: '8867-4', _summary: 'count' });
  assert.equal(counted.total, 12);
  assert.equal((counted.entry ?? []).length, 0);

  // Every page, followed by the client.
  const seen = [];
  for await (const page of medplum.searchResourcePages('Observation', { patient: patient.id, _count: '5' })) {
    seen.push(...page.map((o) => o.id));
  }
  assert.equal(new Set(seen).size, 12);

  // Includes: the Observations with their Patient and Device.
  const bundle = await medplum.search('Observation', {
    code: '8867-4',
    _count: '3',
    _include: 'Observation:subject',
  });
  const modes = bundle.entry.map((e) => `${e.search.mode} ${e.resource.resourceType}`);
  assert.deepEqual(modes, ['match Observation', 'match Observation', 'match Observation', 'include Patient']);
  const rev = await medplum.search('Patient', `_id=${patient.id}&_revinclude=Device:patient`);
  assert.deepEqual(
    rev.entry.map((e) => e.resource.resourceType),
    ['Patient', 'Device'],
  );

  // Patch (JSON Patch), history, delete.
  const patched = await medplum.patchResource('Observation', latest.id, [
    { op: 'test', path: '/status', value: 'final' },
    { op: 'replace', path: '/status', value: 'amended' },
  ]);
  assert.equal(patched.status, 'amended');
  const history = await medplum.readHistory('Observation', latest.id);
  assert.deepEqual(history.entry.map((e) => e.resource.status), ['amended', 'final']);
  await assert.rejects(
    medplum.patchResource('Observation', latest.id, [{ op: 'test', path: '/status', value: 'final' }]),
    (e) => /failed/.test(e.message),
  );
  await medplum.deleteResource('Observation', latest.id);
  await assert.rejects(medplum.readResource('Observation', latest.id), (e) => /deleted|gone/i.test(e.message));

  // A transaction.
  const tx = await medplum.executeBatch({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] }, request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'GET', url: `Patient/${patient.id}` } },
    ],
  });
  assert.deepEqual(tx.entry.map((e) => e.response.status.slice(0, 3)), ['201', '200']);
});

test('fhir-kit-client', async () => {
  const { Client } = await import('fhir-kit-client');  // an ES module only
  const client = new Client({ baseUrl: `${base}/fhir` });
  const statement = await client.capabilityStatement();
  assert.equal(statement.fhirVersion, '4.0.1');
  const observation = statement.rest[0].resource.find((r) => r.type === 'Observation');
  assert.ok(observation.searchParam.some((p) => p.name === 'value-quantity'));
  assert.ok(observation.interaction.some((i) => i.code === 'patch'));

  const patient = await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Kit' }] } });
  for (let i = 0; i < 7; i++) await client.create({ resourceType: 'Observation', body: heartRate(patient.id, 20 + i, 60 + i) });
  const read = await client.read({ resourceType: 'Patient', id: patient.id });
  assert.equal(read.name[0].family, 'Kit');

  // Paging both ways with the client's own link-following.
  const first = await client.search({ resourceType: 'Observation', searchParams: { subject: `Patient/${patient.id}`, _count: 3, _sort: 'date' } });
  assert.equal(first.total, 7);
  const second = await client.nextPage({ bundle: first });
  assert.deepEqual(second.entry.map((e) => e.resource.valueQuantity.value), [63, 64, 65]);
  const back = await client.prevPage({ bundle: second });
  assert.deepEqual(back.entry.map((e) => e.resource.valueQuantity.value), [60, 61, 62]);
  const elements = await client.search({ resourceType: 'Observation', searchParams: { subject: patient.id, _elements: 'value', _count: 1 } });
  assert.deepEqual(Object.keys(elements.entry[0].resource).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);

  // Update, conditional update, patch, history at three levels, delete.
  const updated = await client.update({ resourceType: 'Patient', id: patient.id, body: { ...read, active: true } });
  assert.equal(updated.meta.versionId, '2');
  const conditional = await client.update({
    resourceType: 'Patient',
    searchParams: { _id: patient.id },
    body: { resourceType: 'Patient', name: [{ family: 'Kit' }], active: false },
  });
  assert.equal(conditional.meta.versionId, '3');
  const patched = await client.patch({ resourceType: 'Patient', id: patient.id, jsonPatch: [{ op: 'add', path: '/gender', value: 'female' }] });
  assert.equal(patched.gender, 'female');
  const instance = await client.history({ resourceType: 'Patient', id: patient.id });
  assert.equal(instance.entry.length, 4);
  const type = await client.typeHistory({ resourceType: 'Patient' });
  assert.ok(type.entry.length >= 4);
  const system = await client.systemHistory();
  assert.ok(system.entry.some((e) => e.request.url.startsWith('Observation/')));
  assert.ok(system.entry.some((e) => e.request.url === `Patient/${patient.id}`));
  await client.delete({ resourceType: 'Patient', id: patient.id });
  await assert.rejects(client.read({ resourceType: 'Patient', id: patient.id }), (e) => e.response?.status === 410);

  // Errors are OperationOutcomes the client hands over.
  await assert.rejects(client.search({ resourceType: 'Observation', searchParams: { colour: 'red' } }), (e) => {
    assert.equal(e.response.status, 400);
    assert.equal(e.response.data.resourceType, 'OperationOutcome');
    return true;
  });
});

// Seeded workload generator for the normalization benchmarks.
//   node bench/gen.js w1 COUNT [SEED]   flat wearable messages (~130 B), iomt-fhir's sample/templates/basic
//   node bench/gen.js w2 COUNT [SEED]   IoT Hub envelopes (~700 B), six vitals in Body
//   node bench/gen.js mapping N         an IotJsonPathContent device mapping for W2 with N templates
//                                       (six that match, N - 6 that never do)
//   node bench/gen.js mq COUNT [SEED] [DEVICES]
//                                       normalized measurements (the wire format iomt transform reads):
//                                       COUNT "heartrate" readings over DEVICES devices (default 100), each
//                                       device one every second, for bench/mappings/fhir (Quantity)
//   node bench/gen.js ms SECONDS [SEED] [DEVICES]
//                                       the same, type "hrstream" (SampledData, hourly): each of DEVICES
//                                       devices one reading a second for SECONDS seconds, in time order
// Output is NDJSON on stdout. The same seed gives the same bytes.
'use strict';

function rng(seed) {  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const [kind, countArg, seedArg, devicesArg] = process.argv.slice(2);
const count = Number(countArg || 0);
const rand = rng(Number(seedArg || 42));
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pad = (n, w) => String(n).padStart(w, '0');
const start = Date.UTC(2023, 9, 9, 0, 0, 0);
const devices = 10000;

const out = [];
const flush = () => {
  if (out.length) process.stdout.write(out.join('\n') + '\n');
  out.length = 0;
};

if (kind === 'w1') {
  for (let i = 0; i < count; i++) {
    const d = int(0, devices - 1);
    const t = new Date(start + i * 100).toISOString().replace('Z', '+00:00');
    const r = rand();
    let reading;
    if (r < 0.4) reading = `"heartrate":${int(50, 120)}`;
    else if (r < 0.6) reading = `"steps":${int(0, 200)}`;
    else if (r < 0.75) reading = `"systolic":${int(100, 140)},"diastolic":${int(60, 90)}`;
    else if (r < 0.85) reading = `"hrv":${(20 + rand() * 60).toFixed(1)}`;
    else if (r < 0.95) reading = `"deviceWorn":${rand() < 0.9}`;
    else reading = `"deviceRemoved":true`;
    out.push(`{${reading},"deviceid":"device-${pad(d, 6)}","patientid":"patient-${pad(d, 6)}","measurementdatetime":"${t}"}`);
    if (out.length === 10000) flush();
  }
} else if (kind === 'w2') {
  for (let i = 0; i < count; i++) {
    const d = int(0, devices - 1);
    const created = new Date(start + i * 100);
    const enqueued = new Date(start + i * 100 + int(50, 900));
    const body = `{"heartRate":${int(50, 120)},"respiratoryRate":${int(10, 24)},"spo2":${(90 + rand() * 10).toFixed(1)},` +
      `"temperature":${(36 + rand() * 2).toFixed(1)},"systolic":${int(100, 140)},"diastolic":${int(60, 90)},` +
      `"patientId":"patient-${pad(d, 6)}","measuredAt":"${created.toISOString()}"}`;
    out.push(`{"Body":${body},"Properties":{"iothub-creation-time-utc":"${created.toISOString()}",` +
      `"batchid":"${pad(int(0, 99999999), 8)}-9c83-4264-a0dd-3567afd633d6"},"SystemProperties":{` +
      `"iothub-connection-device-id":"monitor-${pad(d, 6)}","iothub-connection-auth-method":` +
      `"{\\"scope\\":\\"device\\",\\"type\\":\\"sas\\",\\"issuer\\":\\"iothub\\",\\"acceptingIpFilterRule\\":null}",` +
      `"iothub-connection-auth-generation-id":"636845741198574895","iothub-enqueuedtime":"${enqueued.toISOString()}",` +
      `"iothub-message-source":"Telemetry","x-opt-enqueued-time":"${enqueued.toISOString()}"}}`);
    if (out.length === 10000) flush();
  }
} else if (kind === 'mapping') {
  const vitals = [['heartrate', 'heartRate'], ['respiratoryrate', 'respiratoryRate'], ['spo2', 'spo2'],
    ['temperature', 'temperature'], ['systolic', 'systolic'], ['diastolic', 'diastolic']];
  const templates = [];
  for (let i = 0; i < count; i++) {
    const [type, field] = i < vitals.length ? vitals[i] : [`vital${i}`, `unusedVital${i}`];
    templates.push({templateType: 'IotJsonPathContent', template: {
      typeName: type, typeMatchExpression: `$..[?(@Body.${field})]`, patientIdExpression: '$.Body.patientId',
      values: [{required: true, valueExpression: `$.Body.${field}`, valueName: type}]}});
  }
  process.stdout.write(JSON.stringify({templateType: 'CollectionContent', template: templates}, null, 2) + '\n');
} else if (kind === 'mq' || kind === 'ms') {
  const n = Number(devicesArg || 100);
  const total = kind === 'mq' ? count : count * n;
  const type = kind === 'mq' ? 'heartrate' : 'hrstream';
  for (let i = 0; i < total; i++) {
    const d = i % n;
    // Device d reads at d ms past each second: distinct times per device.
    const at = start + Math.floor(i / n) * 1000 + d;
    out.push(`{"Type":"${type}","OccurrenceTimeUtc":"${new Date(at).toISOString()}",` +
      `"IngestionTimeUtc":"${new Date(at + int(200, 900)).toISOString()}","DeviceId":"device-${pad(d, 6)}",` +
      `"PatientId":"patient-${pad(d, 6)}","EncounterId":null,"CorrelationId":null,` +
      `"Properties":[{"Name":"hr","Value":"${int(50, 120)}"}]}`);
    if (out.length === 10000) flush();
  }
} else {
  console.error('usage: gen.js w1|w2 COUNT [SEED] | gen.js mapping N | gen.js mq|ms COUNT [SEED] [DEVICES]');
  process.exit(2);
}
flush();

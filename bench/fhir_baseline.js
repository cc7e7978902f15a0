// Baseline for bench/fhir_bench: the same FHIR conversion work done the way a
// straightforward Node.js implementation would, on the same workloads (see
// the top of fhir_bench.cc):
// - QuantityInstance: measurement -> observation group -> the Observation
//   object (same members, same identifier, SHA-256 id with node:crypto),
//   JSON.stringify.
// - SampledDataHourlyMerge: observation group of 10 new readings,
//   JSON.parse of the existing Observation, decode the stream into
//   time/value pairs, merge, rebuild the 3600-slot stream, JSON.stringify.
//
// Fairness: `node fhir_baseline.js --check DIR` compares what this program
// produces with what iomt produced for the same inputs (`fhir_bench
// --dump=DIR`): three Quantity Observations, the existing SampledData
// Observation and two merges, as JSON values (member order ignored, numbers
// by value). bench/run.sh runs the check before timing, so the two sides are
// known to build the same Observations.
//
// Prints JSON: [{name, ns, runs: [ns, ns, ns]}], ns per operation, the
// median of three timed runs.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const mapping = JSON.parse(fs.readFileSync(path.join(__dirname, 'mappings', 'fhir', 'fhirmapping.json'), 'utf8'));
const template = (name) => mapping.template.find((t) => t.template.typeName === name).template;
const QUANTITY = template('heartrate');
const SAMPLED = template('hrstream');

const SYSTEM = 'https://azure.microsoft.com/en-us/services/iomt-fhir-connector/';
const BASE = Date.UTC(2023, 0, 1);  // ms
const HOUR = 3600 * 1000;
const VALUES = Array.from({ length: 60 }, (_, i) => String(60 + i));
const MERGE_READINGS = 10;
const MERGE_CYCLE = 1800 / MERGE_READINGS;

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const pad6 = (n) => String(n).padStart(6, '0');
const refs = (d) => ({ patient: sha256('_patient-' + pad6(d)), device: sha256('_device-' + pad6(d)) });

// .NET round-trip format ("o"): 7 fractional digits. Times are ms; a period
// end is the last tick of its last ms (".9999999").
const roundTrip = (ms, lastTick) => new Date(ms).toISOString().slice(0, 23) + (lastTick ? '9999Z' : '0000Z');
const compact = (ms) => new Date(ms).toISOString().slice(0, 19).replace(/[-:T]/g, '') + 'Z';

// iomt-fhir's observation groups: by period start, values per property
// sorted by time (first of equal times kept).
function observationGroups(measurements, periodMs) {
  const groups = new Map();
  for (const m of measurements) {
    const start = periodMs === 0 ? m.time : m.time - (m.time % periodMs);
    let g = groups.get(start);
    if (!g) {
      const end = periodMs === 0 ? start : start + periodMs - 1;
      g = { start, end, endIsLastTick: periodMs !== 0, segment: compact(start) + '.' + compact(end), values: new Map() };
      groups.set(start, g);
    }
    for (const p of m.properties) {
      if (!g.values.has(p.name)) g.values.set(p.name, []);
      g.values.get(p.name).push([m.time, p.value]);
    }
  }
  for (const g of groups.values()) {
    for (const [name, list] of g.values) {
      list.sort((a, b) => a[0] - b[0]);
      g.values.set(name, list.filter((v, i) => i === 0 || v[0] !== list[i - 1][0]));
    }
  }
  return [...groups.values()];
}

function concept(codes, name, text) {
  const coding = codes.map((c) => ({ system: c.system, code: c.code, display: c.display }));
  if (name) coding.push({ system: SYSTEM, code: name, display: name });
  const out = {};
  if (coding.length) out.coding = coding;
  if (text) out.text = text;
  return out;
}

function sampledStream(values, start, end, period) {
  const tokens = [];
  let next = 0;
  for (let slot = start; slot <= end; slot += period) {
    let value = 'E';
    while (next < values.length && values[next][0] >= slot && values[next][0] < slot + period) value = values[next++][1];
    tokens.push(value);
  }
  return tokens.join(' ');
}

function valueOf(t, values, group) {
  const v = t.value;
  if (v.valueType === 'Quantity') {
    return ['valueQuantity', { value: Number(values[0][1]), unit: v.unit, system: v.system, code: v.code }];
  }
  const sampled = { origin: { value: 0, unit: v.unit }, period: v.defaultPeriod, dimensions: 1 };
  sampled.data = sampledStream(values, group.start, group.end, v.defaultPeriod);
  return ['valueSampledData', sampled];
}

function createObservation(t, group, type, r, issuedMs) {
  const value = `${r.patient}.${r.device}.${type}.${group.segment}`;
  const id = sha256(SYSTEM + '_' + value);
  const obs = { resourceType: 'Observation', id, identifier: [{ system: SYSTEM, value }], status: 'final' };
  if (t.category && t.category.length) obs.category = t.category.map((c) => concept(c.codes || [], null, c.text));
  obs.code = concept(t.codes, type, type);
  obs.subject = { reference: 'Patient/' + r.patient };
  obs.effectivePeriod = { start: roundTrip(group.start), end: roundTrip(group.end, group.endIsLastTick) };
  obs.issued = roundTrip(issuedMs);
  const values = group.values.get(t.value.valueName);
  if (values) {
    const [key, v] = valueOf(t, values, group);
    obs[key] = v;
  }
  obs.device = { reference: 'Device/' + r.device };
  return { id, json: JSON.stringify(obs) };
}

function decodeStream(stream, start, period) {
  const out = [];
  const tokens = stream.split(' ');
  for (let k = 0; k < tokens.length; k++) if (tokens[k] !== 'E') out.push([start + k * period, tokens[k]]);
  return out;
}

function mergeValues(older, newer) {
  const out = [];
  let i = 0, j = 0;
  while (i < older.length || j < newer.length) {
    if (j === newer.length || (i < older.length && older[i][0] < newer[j][0])) out.push(older[i++]);
    else if (i === older.length || newer[j][0] < older[i][0]) out.push(newer[j++]);
    else { out.push(newer[j++]); i++; }
  }
  return out;
}

function mergeSampled(t, group, existingJson) {
  const obs = JSON.parse(existingJson);
  if (t.category && t.category.length) obs.category = t.category.map((c) => concept(c.codes || [], null, c.text));
  else delete obs.category;
  // Round-trip strings of one format order as their times do.
  const oldStart = obs.effectivePeriod.start;
  const oldEnd = obs.effectivePeriod.end;
  const groupStart = roundTrip(group.start);
  const groupEnd = roundTrip(group.end, group.endIsLastTick);
  const start = groupStart < oldStart ? groupStart : oldStart;
  const end = groupEnd > oldEnd ? groupEnd : oldEnd;
  const sampled = obs.valueSampledData;
  const oldData = sampled.data;
  const period = t.value.defaultPeriod;
  const merged = mergeValues(decodeStream(oldData, Date.parse(oldStart), period), group.values.get(t.value.valueName));
  sampled.data = sampledStream(merged, Date.parse(start), Date.parse(end), period);
  obs.effectivePeriod = { start, end };
  const changed = sampled.data !== oldData || start !== oldStart || end !== oldEnd;
  if (changed) obs.status = 'amended';
  return { changed, json: JSON.stringify(obs) };
}

// ---- The workloads (as in fhir_bench.cc) ---------------------------------------

const reading = (type, d, time, value) => ({
  type, time, ingestion: time + 1000, deviceId: 'device-' + pad6(d), patientId: 'patient-' + pad6(d),
  properties: [{ name: 'hr', value }],
});

function quantity(i, m, r) {
  m.time = BASE + i * 1000;
  m.ingestion = m.time + 1000;
  m.properties[0].value = VALUES[i % 60];
  const group = observationGroups([m], 0)[0];
  return createObservation(QUANTITY, group, m.type, r, BASE);
}

function existingSampled() {
  const ms = [];
  for (let s = 0; s < 3600; s += 2) ms.push(reading('hrstream', 0, BASE + s * 1000, VALUES[(s / 2) % 60]));
  return createObservation(SAMPLED, observationGroups(ms, HOUR)[0], 'hrstream', refs(0), BASE).json;
}

const mergeGroups = Array.from({ length: MERGE_CYCLE }, (_, k) => {
  const ms = [];
  for (let j = 0; j < MERGE_READINGS; j++) {
    ms.push(reading('hrstream', 0, BASE + (2 * (k * MERGE_READINGS + j) + 1) * 1000, VALUES[(k + j) % 60]));
  }
  return ms;
});

function merge(i, existing) {
  const group = observationGroups(mergeGroups[i % MERGE_CYCLE], HOUR)[0];
  return mergeSampled(SAMPLED, group, existing);
}

// ---- --check DIR ---------------------------------------------------------------

function sameJson(a, b) {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson(a[k], b[k]));
  }
  return a === b;
}

function check(dir) {
  const r = refs(0);
  const m = reading('heartrate', 0, BASE, VALUES[0]);
  const existing = existingSampled();
  const cases = [
    ...[0, 1, 3661].map((i) => [`quantity-${i}.json`, quantity(i, m, r).json]),
    ['sampled-existing.json', existing],
    ...[0, 7].map((i) => [`sampled-merged-${i}.json`, merge(i, fs.readFileSync(path.join(dir, 'sampled-existing.json'), 'utf8')).json]),
  ];
  let ok = true;
  for (const [file, ours] of cases) {
    const theirs = fs.readFileSync(path.join(dir, file), 'utf8');
    if (!sameJson(JSON.parse(ours), JSON.parse(theirs))) {
      ok = false;
      console.error(`fhir_baseline: ${file}: Node's Observation differs from iomt's\n  node: ${ours}\n  iomt: ${theirs.trim()}`);
    }
  }
  if (!ok) process.exit(1);
  console.error(`fhir_baseline: Node and iomt build the same Observations (${cases.length} compared)`);
}

// ---- Timing --------------------------------------------------------------------

// ns per call of fn(i): warm-up, then three runs of at least `seconds`;
// the median run.
function time(fn, seconds) {
  let i = 0;
  const deadline = (s) => process.hrtime.bigint() + BigInt(Math.round(s * 1e9));
  for (const stop = deadline(seconds / 2); process.hrtime.bigint() < stop;) for (let k = 0; k < 100; k++) fn(i++);
  const runs = [];
  for (let run = 0; run < 3; run++) {
    let n = 0;
    const start = process.hrtime.bigint();
    const stop = start + BigInt(Math.round(seconds * 1e9));
    let now = start;
    while (now < stop) {
      for (let k = 0; k < 100; k++) fn(i++);
      n += 100;
      now = process.hrtime.bigint();
    }
    runs.push(Number(now - start) / n);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  return { ns: sorted[1], runs };
}

function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf('--check');
  if (at >= 0) {
    check(args[at + 1]);
    return;
  }
  const seconds = Number(process.env.FHIR_BASELINE_SECONDS || 1);
  const r = refs(0);
  const m = reading('heartrate', 0, BASE, VALUES[0]);
  const existing = existingSampled();
  let sink = 0;
  const results = [];
  results.push({ name: 'QuantityInstance', ...time((i) => { sink += quantity(i, m, r).json.length; }, seconds) });
  results.push({ name: 'SampledDataHourlyMerge', ...time((i) => { sink += merge(i, existing).json.length; }, seconds) });
  if (sink === 0) console.error('nothing built');
  process.stdout.write(JSON.stringify(results) + '\n');
}

main();

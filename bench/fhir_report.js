// Prints bench/run.sh's FHIR conversion table: fhir_bench (Google Benchmark
// JSON; the median of its repetitions when it ran with
// --benchmark_repetitions) against fhir_baseline.js measured in the same run,
// with ratios and the targets.
//   node bench/fhir_report.js fhir.json fhir_node.json
'use strict';
const fs = require('fs');
const [, , iomtFile, nodeFile] = process.argv;
const all = JSON.parse(fs.readFileSync(iomtFile, 'utf8')).benchmarks;
const node = nodeFile && fs.existsSync(nodeFile) ? JSON.parse(fs.readFileSync(nodeFile, 'utf8')) : [];

const toNs = (b) => b.real_time * ({ ns: 1, us: 1e3, ms: 1e6, s: 1e9 }[b.time_unit] || 1);
// The median aggregate of a benchmark, or its only run.
function find(name) {
  const runs = all.filter((b) => (b.run_name || b.name) === name);
  const median = runs.find((b) => b.run_type === 'aggregate' && b.aggregate_name === 'median');
  if (median) return median;
  return runs.find((b) => b.run_type !== 'aggregate');
}
// ns per item (an Observation or a merge) and items/s.
function measure(name) {
  const b = find(name);
  if (!b || b.error_occurred) return null;
  const perSecond = b.items_per_second || 1e9 / toNs(b);
  return { ns: 1e9 / perSecond, perSecond, label: b.label };
}

const fmtNs = (x) => (x >= 1e6 ? (x / 1e6).toFixed(2) + ' ms' : x >= 1e4 ? (x / 1e3).toFixed(1) + ' us' : x.toFixed(0) + ' ns');
const fmtRate = (x) => (x >= 1e6 ? (x / 1e6).toFixed(2) + ' M/s' : (x / 1e3).toFixed(1) + ' k/s');

const QUANTITY_TARGET = 500000;
const SAMPLED_TARGET = 50000;
// [title, fhir_bench name, baseline name, target]
const rows = [
  ['QuantityInstance (build the Observation JSON)', 'BM_QuantityInstance', 'QuantityInstance', QUANTITY_TARGET],
  ['QuantityInstanceSaved (+ Save into MemoryFhirClient)', 'BM_QuantityInstanceSaved', null, QUANTITY_TARGET],
  ['GroupConverterQuantity, 1 measurement/group', 'BM_GroupConverterQuantity/1', null, QUANTITY_TARGET],
  ['GroupConverterQuantity, 100 measurements/group', 'BM_GroupConverterQuantity/100', null, QUANTITY_TARGET],
  ['SampledDataHourlyMerge (parse + merge + JSON)', 'BM_SampledDataHourlyMerge', 'SampledDataHourlyMerge', SAMPLED_TARGET],
  ['SampledDataHourlySaved (+ PUT into MemoryFhirClient)', 'BM_SampledDataHourlySaved', null, SAMPLED_TARGET],
];
const parts = [
  ['Quantity: observation groups only', 'BM_QuantityObservationGroupsOnly'],
  ['Quantity: CreateObservation only', 'BM_QuantityCreateOnly'],
  ['Quantity: identifier + SHA-256 id only', 'BM_QuantityIdOnly'],
  ['SampledData: json::ParseNode of the 10.6 KB Observation', 'BM_SampledDataParseOnly'],
  ['SampledData: MergeObservation on the parsed Observation', 'BM_SampledDataMergeOnly'],
  ['SampledData: decode + merge + rebuild the 3600-slot stream', 'BM_SampledDataStreamOnly'],
  ['SampledData: json::Node::ToJson', 'BM_SampledDataSerializeOnly'],
];

const reps = all.find((b) => b.run_type === 'aggregate') ? ' (median of the repetitions)' : '';
console.log(`\nFHIR conversion, one core, in memory${reps}; baseline: Node.js ${process.version} doing the same work (bench/fhir_baseline.js, same output):`);
const header = ['benchmark', 'iomt ns/op', 'ops/s', 'baseline ns/op', 'ratio', 'target'];
const table = [header];
for (const [title, name, baseline, target] of rows) {
  const m = measure(name);
  if (!m) {
    table.push([title, 'missing', '', '', '', '']);
    continue;
  }
  const n = baseline && node.find((r) => r.name === baseline);
  const check = `${m.perSecond >= target ? 'met' : 'MISSED'} (>= ${fmtRate(target)})`;
  table.push([title, fmtNs(m.ns), fmtRate(m.perSecond), n ? fmtNs(n.ns) : '-', n ? `x${(n.ns / m.ns).toFixed(1)}` : '-', check]);
}
const widths = header.map((_, c) => Math.max(...table.map((r) => r[c].length)));
for (const [i, r] of table.entries()) {
  console.log(('  ' + r.map((cell, c) => (c === 0 || c === 5 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).trimEnd());
  if (i === 0) console.log('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
}
console.log('  ratio: baseline ns/op / iomt ns/op. The issue\'s targets are for the path with the map-backed FhirClient (the Saved rows).');

console.log('\nWhere the time goes (each step alone):');
for (const [title, name] of parts) {
  const m = measure(name);
  if (m) console.log(`  ${title.padEnd(60)} ${fmtNs(m.ns).padStart(9)}  ${fmtRate(m.perSecond).padStart(10)}`);
}

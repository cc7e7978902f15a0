// Prints bench/run.sh's comparison: iomt (Google Benchmark JSON) against
// the Node and jq baselines measured in the same run, with ratios.
'use strict';
const fs = require('fs');
const [, , iomtFile, nodeFile, jqFile] = process.argv;
const iomt = JSON.parse(fs.readFileSync(iomtFile, 'utf8')).benchmarks;
const node = nodeFile && fs.existsSync(nodeFile) ? JSON.parse(fs.readFileSync(nodeFile, 'utf8')) : [];
const jq = jqFile && fs.existsSync(jqFile) ? JSON.parse(fs.readFileSync(jqFile, 'utf8')) : [];

const ns = (b) => (b.time_unit === 'ns' ? b.real_time : b.time_unit === 'us' ? b.real_time * 1e3 : b.real_time * 1e6);
const find = (prefix, label) => iomt.find((b) => b.name.startsWith(prefix) && (!label || b.label === label));
const fmt = (x) => (x >= 1000 ? (x / 1000).toFixed(2) + ' us' : x.toFixed(1) + ' ns');

console.log('\nParsing (simdjson DOM into json::Document):');
for (const b of iomt.filter((b) => b.name.startsWith('BM_Parse'))) {
  console.log(`  ${(b.label || '1 MiB document').padEnd(16)} ${fmt(ns(b)).padStart(10)}  ${(b.bytes_per_second / 1e9).toFixed(2)} GB/s`);
}

const rows = [
  ['JSONPath $..[?(@heartrate)]', 'JsonPathSelectTokens/recursive_filter', 'recursive_filter'],
  ['JSONPath $.Body.heartRate', 'JsonPathSelectToken/body_heartrate', 'body_heartrate'],
  ['JSONPath $.SystemProperties.iothub-connection-device-id', 'JsonPathSelectToken/iothub_device_id', 'iothub_device_id'],
  ['JMESPath fromUnixTimestampMs(matchedToken.ts)', 'JmesPathOnMatchedToken/from_unix_timestamp_ms', 'from_unix_timestamp_ms'],
  ['JMESPath Body.heartRate', 'JmesPathOnMatchedToken/body_heartrate', 'jmespath_body_heartrate'],
];
console.log('\nEvaluation on a parsed message (target: well under 200 ns), against Node.js (jsonpath-plus / jmespath):');
for (const label of ['flat 130 B', 'iothub 689 B']) {
  console.log(`  ${label}`);
  for (const [title, prefix, nodeName] of rows) {
    const b = find(prefix, label);
    if (!b) continue;
    const n = node.find((r) => r.name === nodeName && r.message === label);
    const ratio = n ? `  node ${fmt(n.ns).padStart(9)}  x${(n.ns / ns(b)).toFixed(0)}` : '';
    console.log(`    ${title.padEnd(58)} ${fmt(ns(b)).padStart(9)}${ratio}`);
  }
}

if (jq.length) {
  console.log('\nParse + evaluate one message, iomt against jq 1.6 (whole NDJSON file through jq, per message):');
  for (const r of jq) {
    const parse = find('BM_Parse/', r.message);
    const evalb = find(r.iomt, r.message);
    if (!parse || !evalb) continue;
    const total = ns(parse) + ns(evalb);
    console.log(`  ${r.message.padEnd(13)} ${r.name.padEnd(18)} iomt ${fmt(total).padStart(9)}  jq ${fmt(r.ns).padStart(9)}  x${(r.ns / total).toFixed(0)}`);
  }
}

// Baseline for bench/expr_bench: the same expressions, evaluated in Node.js
// with the jmespath package (JMESPath) and jsonpath-plus (JSONPath), on the
// already-parsed message. Prints JSON: [{name, message, ns}] per evaluation.
'use strict';
const fs = require('fs');
const path = require('path');
const jmespath = require('jmespath');
const { JSONPath } = require('jsonpath-plus');

const data = (f) => JSON.parse(fs.readFileSync(path.join(__dirname, 'data', f), 'utf8'));
const messages = { 'flat 130 B': data('flat.json'), 'iothub 689 B': data('iothub.json') };

function time(fn) {
  for (let i = 0; i < 20000; i++) fn();  // warm up the JIT
  let n = 50000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - start) / n;
}

const results = [];
for (const [label, msg] of Object.entries(messages)) {
  // jsonpath-plus spells Json.NET's `@heartrate` as `@.heartrate`.
  const jp = [
    ['recursive_filter', '$..[?(@.heartrate)]'],
    ['body_heartrate', '$.Body.heartRate'],
    ['iothub_device_id', "$.SystemProperties['iothub-connection-device-id']"],
  ];
  for (const [name, expr] of jp) {
    results.push({ name, message: label, engine: 'jsonpath-plus', ns: time(() => JSONPath({ path: expr, json: msg, wrap: true })) });
  }
  const wrapped = Object.assign({}, msg, { matchedToken: { ts: 1626799080000, heartRate: 78 } });
  // jmespath.js has no custom functions: the nearest equivalent of
  // fromUnixTimestampMs(matchedToken.ts) is the lookup plus a Date.
  results.push({ name: 'from_unix_timestamp_ms', message: label, engine: 'jmespath',
    ns: time(() => new Date(jmespath.search(wrapped, 'matchedToken.ts'))) });
  results.push({ name: 'jmespath_body_heartrate', message: label, engine: 'jmespath',
    ns: time(() => jmespath.search(wrapped, 'Body.heartRate')) });
}
process.stdout.write(JSON.stringify(results) + '\n');

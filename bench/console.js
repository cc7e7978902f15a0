// The mapping tools as the console's editor uses them (bench/console.sh):
// time per POST /api/mappings/validate and /api/mappings/test over one
// keep-alive connection, as a browser sends them while the user types, with
// the example mappings and each example event in turn; and, as the baseline
// measured in the same run, the command a mapping author ran before the
// console: `iomt validate --device-mapping --fhir-mapping --sample` on one
// message (a process per check). Prints one JSON object.
//   node bench/console.js IOMT BASE_URL [ROUNDS]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const [iomt, base, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg || 200);
const root = path.resolve(__dirname, '..');
const device = fs.readFileSync(path.join(root, 'examples/mappings/devicecontent.json'), 'utf8');
const fhir = fs.readFileSync(path.join(root, 'examples/mappings/fhirmapping.json'), 'utf8');
const events = fs.readFileSync(path.join(root, 'examples/events/ward.ndjson'), 'utf8').split('\n').filter(Boolean);

function percentiles(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, p50: at(0.5), p95: at(0.95), max: s[s.length - 1] };
}

async function timed(fn) {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function post(route, body) {
  const r = await fetch(base + route, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  if (r.status !== 200) throw new Error(`${route}: ${r.status} ${await r.text()}`);
  await r.arrayBuffer();
}

(async () => {
  const validate = [];
  const test = [];
  const validateBody = JSON.stringify({ deviceMapping: device, fhirMapping: fhir });
  for (let i = 0; i < 20; i++) await post('/api/mappings/test', JSON.stringify({ deviceMapping: device, fhirMapping: fhir, message: events[0] }));
  for (let i = 0; i < rounds; i++) {
    validate.push(await timed(() => post('/api/mappings/validate', validateBody)));
    const message = events[i % events.length];
    test.push(await timed(() => post('/api/mappings/test', JSON.stringify({ deviceMapping: device, fhirMapping: fhir, message }))));
  }
  // The baseline: one process per check, as a script or a person ran it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iomt-console-bench-'));
  const cli = [];
  const dm = path.join(root, 'examples/mappings/devicecontent.json');
  const fm = path.join(root, 'examples/mappings/fhirmapping.json');
  for (let i = 0; i < Math.min(rounds, 100); i++) {
    const sample = path.join(dir, 'sample.ndjson');
    fs.writeFileSync(sample, events[i % events.length] + '\n');
    cli.push(await timed(async () => {
      try {
        execFileSync(iomt, ['validate', '--device-mapping', dm, '--fhir-mapping', fm, '--sample', sample, '--json'], { stdio: 'pipe' });
      } catch (e) {
        if (e.status !== 1) throw e; // 1: a sample with errors, still a full check
      }
    }));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const v = percentiles(validate);
  const t = percentiles(test);
  const c = percentiles(cli);
  console.log(JSON.stringify({
    validate_ms: v,
    test_ms: t,
    cli_validate_sample_ms: c,
    ratio_cli_over_test_p50: +(c.p50 / t.p50).toFixed(1),
  }));
})().catch((e) => { console.error(e); process.exit(1); });

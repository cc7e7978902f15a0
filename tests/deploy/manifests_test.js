// The Kubernetes manifests of docs/deploy.md (deploy/kubernetes/iomt.yaml):
// valid for Kubernetes 1.30 (check_manifests.js, which is shown to catch a
// misspelt field and a wrong type), and consistent with iomt itself: the
// ConfigMap's configuration is one `iomt serve` accepts with the Secret's
// variables, the probes ask /healthz and /readyz on the port it listens on,
// the pod runs as the image's user, the grace period covers the drain, and
// each pod has its own volume where the store is.
//
// IOMT names the binary (ctest sets it; default build/bin/iomt).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const yaml = require('js-yaml');

const root = path.resolve(__dirname, '..', '..');
const manifests = path.join(root, 'deploy', 'kubernetes', 'iomt.yaml');
const iomt = process.env.IOMT || path.join(root, 'build', 'bin', 'iomt');
const docs = yaml.loadAll(fs.readFileSync(manifests, 'utf8')).filter(Boolean);
const find = (kind, name) => docs.find((d) => d.kind === kind && (!name || d.metadata.name === name));

function check(file) {
  return spawnSync(process.execPath, [path.join(__dirname, 'check_manifests.js'), file], { encoding: 'utf8' });
}

test('the manifests have the fields and types of Kubernetes 1.30', () => {
  const r = check(manifests);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^6 documents/);
});

test('the check catches a misspelt field, a wrong type and an unknown kind', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iomt-k8s-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const text = fs.readFileSync(manifests, 'utf8');
  const cases = [
    ['  replicas: 2', '  replica: 2', /spec\.replica: .*'"?replica"?'/],
    ['containerPort: 8080', 'containerPort: "8080"', /containerPort: Type 'string' is not assignable/],
    ['kind: PodDisruptionBudget', 'kind: PodDisruptionBudgets', /unknown apiVersion\/kind/],
  ];
  for (const [from, to, want] of cases) {
    assert.ok(text.includes(from), from);
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, text.replace(from, to));
    const r = check(file);
    assert.equal(r.status, 1, `${to}: ${r.stdout}`);
    assert.match(r.stdout, want);
  }
});

test("the ConfigMap's configuration is one iomt serve takes, with the Secret's variables", (t) => {
  const config = find('ConfigMap', 'iomt-config').data['iomt.json'];
  const secret = find('Secret', 'iomt-secrets').stringData;
  const names = [...config.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]);
  assert.ok(names.length >= 3);
  for (const name of names) assert.ok(name in secret, `${name} is used by the configuration and not in the Secret`);

  // Run it here: the mappings from the examples, a free port, a scratch
  // store, the Secret's variables with a real key line. It passes every
  // check of the configuration and stops at the first outside system (the
  // FHIR service's placeholder host), exit 3; a configuration error would be
  // exit 1 or 2.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iomt-k8s-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'iomt.json');
  fs.writeFileSync(file, config.replaceAll('/etc/iomt/mappings', path.join(root, 'examples', 'mappings')));
  const key = spawnSync(iomt, ['auth', 'new-key', '--name', 'admin', '--roles', 'admin'], { encoding: 'utf8' });
  const line = key.stdout.match(/"admin": "(admin sha256[^"]+)"/)[1];
  const env = { ...process.env, ...secret, IOMT_ADMIN_KEY: line };
  const r = spawnSync(iomt, ['serve', '--config', file, '--listen', '127.0.0.1:0', '--store', path.join(dir, 'store')], {
    encoding: 'utf8',
    env,
    timeout: 60000,
  });
  assert.equal(r.status, 3, `exit ${r.status}: ${r.stderr}`);
  const last = JSON.parse(r.stderr.trim().split('\n').pop());
  assert.equal(last.message, 'did not start');
  assert.match(last.reason, /FHIR service host .* does not resolve/);
});

test('probes, port, user, grace period and volume agree with iomt', () => {
  const set = find('StatefulSet', 'iomt');
  const pod = set.spec.template.spec;
  const [container] = pod.containers;
  const config = JSON.parse(find('ConfigMap', 'iomt-config').data['iomt.json']);
  const port = Number(config.listen.split(':').pop());
  assert.equal(config.listen.split(':')[0], '0.0.0.0', 'a pod must listen beyond loopback');
  assert.ok(config.auth.apiKeys, 'listening beyond loopback needs credentials');
  assert.equal(container.ports[0].containerPort, port);
  assert.equal(container.ports[0].name, 'http');
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  assert.equal(container.startupProbe.httpGet.path, '/healthz');
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe])
    assert.equal(probe.httpGet.port, 'http');
  // The image's user (Containerfile: USER 10001:10001).
  const containerfile = fs.readFileSync(path.join(root, 'Containerfile'), 'utf8');
  const [, uid, gid] = containerfile.match(/^USER (\d+):(\d+)$/m);
  assert.equal(pod.securityContext.runAsUser, Number(uid));
  assert.equal(pod.securityContext.runAsGroup, Number(gid));
  assert.equal(pod.securityContext.fsGroup, Number(gid));
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.terminationGracePeriodSeconds > config.drainSeconds, 'the grace period must cover the drain');
  // Each pod's queue on its own volume, where the configuration's store is.
  const data = container.volumeMounts.find((m) => m.name === 'data');
  assert.equal(data.mountPath, config.store);
  assert.equal(set.spec.volumeClaimTemplates[0].metadata.name, 'data');
  assert.deepEqual(set.spec.volumeClaimTemplates[0].spec.accessModes, ['ReadWriteOnce']);
  // Every connector reads Kafka in one group: the pods share its partitions.
  for (const c of config.connectors) assert.ok(c.kafka && c.kafka.group, `${c.name} has no consumer group`);
  assert.equal(set.spec.selector.matchLabels['app.kubernetes.io/name'], set.spec.template.metadata.labels['app.kubernetes.io/name']);
  for (const kind of ['Service', 'PodDisruptionBudget']) {
    const selector = find(kind).spec.selector;
    const labels = selector.matchLabels || selector;
    assert.equal(labels['app.kubernetes.io/name'], 'iomt', kind);
  }
});

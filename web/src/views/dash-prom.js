// Reading iomt serve's GET /metrics (Prometheus text format 0.0.4) into
// per-connector snapshots the dashboard can subtract from one another.
// Only what the dashboard shows is kept; every series iomt exports carries a
// `connector` label (docs/metrics.md), so snapshots are keyed by it.

// One sample line: NAME{LABELS} VALUE [TIMESTAMP]. Label values are quoted
// with \\, \" and \n escapes, so they are scanned character by character
// rather than split on commas (a value may contain one).
function parseLine(line) {
  let i = 0;
  while (i < line.length && /[A-Za-z0-9_:]/.test(line[i])) i++;
  const name = line.slice(0, i);
  if (!name) return null;
  const labels = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') { i++; break; }
      const eq = line.indexOf('=', i);
      if (eq < 0 || line[eq + 1] !== '"') return null;
      const key = line.slice(i, eq).trim();
      let value = '';
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) {
          j++;
          value += line[j] === 'n' ? '\n' : line[j];
        } else {
          value += line[j];
        }
      }
      if (j >= line.length) return null;
      labels[key] = value;
      i = j + 1;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const value = parseValue(rest[0]);
  if (value === undefined) return null;
  return { name, labels, value };
}

function parseValue(text) {
  if (text === undefined || text === '') return undefined;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const v = Number(text);
  return Number.isNaN(v) ? undefined : v;
}

// Every sample of the text, comments and blank lines skipped.
export function parsePrometheus(text) {
  const samples = [];
  for (const raw of String(text).split('\n')) {
    const line = raw.trim();
    if (!line || line[0] === '#') continue;
    const s = parseLine(line);
    if (s) samples.push(s);
  }
  return samples;
}

function emptyHistogram() {
  return { buckets: new Map(), sum: 0, count: 0 };
}

function emptySnapshot() {
  return {
    incoming: 0,
    incomingBySource: {},
    normalized: 0,
    measurements: 0,
    groups: 0,
    // Resources written: every outcome but NoOperation (merged, nothing
    // changed), as docs/metrics.md counts Azure's FhirResourceSaved.
    saved: 0,
    savedBy: {}, // "Observation Created" → n, NoOperation included
    errors: [], // {name, stage, type, severity, value}
    errorsTotal: 0,
    deadLetters: 0,
    rejected: 0,
    retries: 0,
    queue: 0,
    healthy: null,
    e2e: emptyHistogram(),
    normalize: emptyHistogram(),
    write: emptyHistogram(),
  };
}

const histograms = {
  iomt_end_to_end_latency_seconds: 'e2e',
  iomt_normalize_latency_seconds: 'normalize',
  iomt_fhir_write_latency_seconds: 'write',
};

// Map of connector name → snapshot of its counters, gauges and histograms.
export function snapshotsByConnector(samples) {
  const out = new Map();
  const of = (name) => {
    if (!out.has(name)) out.set(name, emptySnapshot());
    return out.get(name);
  };
  for (const { name, labels, value } of samples) {
    if (labels.connector === undefined) continue;
    const s = of(labels.connector);
    switch (name) {
      case 'iomt_incoming_messages_total':
        s.incoming += value;
        s.incomingBySource[labels.source || '?'] = (s.incomingBySource[labels.source || '?'] || 0) + value;
        break;
      case 'iomt_normalized_messages_total': s.normalized += value; break;
      case 'iomt_measurements_total': s.measurements += value; break;
      case 'iomt_message_groups_total': s.groups += value; break;
      case 'iomt_fhir_resources_saved_total': {
        const key = `${labels.resource_type} ${labels.outcome}`;
        s.savedBy[key] = (s.savedBy[key] || 0) + value;
        if (labels.outcome !== 'NoOperation') s.saved += value;
        break;
      }
      case 'iomt_errors_total':
        s.errors.push({
          name: labels.Name, stage: labels.Operation, type: labels.ErrorType, severity: labels.ErrorSeverity, value,
        });
        s.errorsTotal += value;
        break;
      case 'iomt_dead_letters_total': s.deadLetters += value; break;
      case 'iomt_ingestion_rejected_total': s.rejected += value; break;
      case 'iomt_retries_total': s.retries += value; break;
      case 'iomt_queue_events': s.queue = value; break;
      case 'iomt_connector_healthy': s.healthy = value; break;
      default: {
        const m = /^(.*)_(bucket|sum|count)$/.exec(name);
        if (!m || !histograms[m[1]]) break;
        const h = s[histograms[m[1]]];
        if (m[2] === 'bucket') h.buckets.set(parseValue(labels.le), value);
        else h[m[2]] = value;
      }
    }
  }
  return out;
}

// The q-quantile (0..1) of the observations between two snapshots of one
// histogram (its bucket counts subtracted), interpolating linearly inside the
// bucket the rank falls in, as Prometheus' histogram_quantile does. null when
// nothing was observed in between (or the counters restarted).
export function quantileBetween(before, after, q) {
  const les = [...after.buckets.keys()].sort((a, b) => a - b);
  if (les.length === 0) return null;
  const deltas = les.map((le) => after.buckets.get(le) - (before ? before.buckets.get(le) || 0 : 0));
  const total = deltas[deltas.length - 1];
  if (!(total > 0) || deltas.some((d) => d < 0)) return null;
  const rank = q * total;
  for (let i = 0; i < les.length; i++) {
    if (deltas[i] >= rank) {
      // The +Inf bucket has no upper bound: answer the highest finite one.
      if (les[i] === Infinity) return i > 0 ? les[i - 1] : null;
      const lower = i > 0 ? les[i - 1] : 0;
      const below = i > 0 ? deltas[i - 1] : 0;
      const inBucket = deltas[i] - below;
      if (inBucket <= 0) return les[i];
      return lower + (les[i] - lower) * ((rank - below) / inBucket);
    }
  }
  return null;
}

// The mean observation between two snapshots of a histogram, or null.
export function meanBetween(before, after) {
  const count = after.count - (before ? before.count : 0);
  const sum = after.sum - (before ? before.sum : 0);
  return count > 0 && sum >= 0 ? sum / count : null;
}

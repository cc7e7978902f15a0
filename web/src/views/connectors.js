// The Connectors view (the dashboard): every connector of iomt serve with its
// state, sources and readiness, its counters as they change, charts of the
// last minutes (throughput; end-to-end latency), its recent errors and a link
// to its dead letters. #/connectors lists them all; #/connectors/NAME shows
// one in full (resources saved by outcome, errors by name / type / severity /
// stage, recent errors, mapping warnings).
//
// It polls GET /connectors (or /connectors/NAME) and GET /metrics every two
// seconds while the page is visible; the status gives state and readiness,
// the metrics the counters and histograms (docs/metrics.md).
import './connectors.css';
import { parsePrometheus, snapshotsByConnector } from './dash-prom.js';
import * as history from './dash-history.js';
import { timeChart } from './dash-chart.js';
import {
  el, announcer, formatCount, formatRate, formatSeconds, formatTime, severityClass,
} from './dash-ui.js';

const POLL_MS = 2000;

// What each connector looked like at the last poll, to announce changes of
// state and readiness (not of numbers) once. Module level: a change that
// happened while another view was shown is still told on return.
const lastSeen = new Map();

export function mount(root, ctx) {
  const detailName = ctx.params[0] || null;
  const announce = announcer(root);
  const cards = new Map(); // name → card
  let timer = null;
  let stopped = false;
  let paused = false;
  let polling = false;
  let contactLost = false;
  let seenOnce = false; // (the first poll announces nothing)

  const updated = el('span', { class: 'muted dash-updated', text: 'Loading…' });
  // (Its label says what it does next; no aria-pressed with a changing label.)
  const pauseButton = el('button', { type: 'button', text: 'Pause updates' });
  const errorBox = el('p', { class: 'error-text', hidden: true });
  const list = el('div', { class: 'dash-cards' });

  if (detailName) {
    root.append(
      el('p', { class: 'dash-crumbs' }, el('a', { href: '#/connectors', text: '← All connectors' })),
      el('h1', {}, 'Connector ', el('span', { class: 'mono', text: detailName })),
    );
  } else {
    root.append(el('h1', { text: 'Connectors' }));
  }
  root.append(el('div', { class: 'toolbar' }, pauseButton, updated), errorBox, list);

  pauseButton.addEventListener('click', () => {
    paused = !paused;
    pauseButton.textContent = paused ? 'Resume updates' : 'Pause updates';
    announce(paused ? 'Updates paused.' : 'Updates resumed.');
    schedule(paused ? null : 0);
  });

  function schedule(delay) {
    clearTimeout(timer);
    timer = null;
    // Hidden tabs do not poll: nobody looks, and the server is spared.
    if (stopped || paused || document.hidden || delay === null) return;
    timer = setTimeout(poll, delay);
  }

  function onVisibility() {
    if (document.hidden) schedule(null);
    else schedule(0);
  }
  document.addEventListener('visibilitychange', onVisibility);

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const path = detailName ? `/connectors/${encodeURIComponent(detailName)}` : '/connectors';
      const [status, metrics, dead] = await Promise.all([
        ctx.api.get(path),
        ctx.api.get('/metrics', { Accept: 'text/plain' }),
        // One connector's page also says how many dead letters wait now.
        detailName ? ctx.api.get(`${path}/deadletters?limit=0`) : null,
      ]);
      if (stopped) return;
      if (dead && dead.ok && status.ok) status.body.deadLettersWaiting = dead.body.total;
      render(status, metrics);
    } catch (e) {
      // A bug here must not stop the polling for good.
      console.error(e);
    } finally {
      polling = false;
      schedule(POLL_MS);
    }
  }

  function render(status, metrics) {
    if (status.status === 0) {
      errorBox.hidden = false;
      errorBox.textContent = ctx.errorMessage(status);
      if (!contactLost) announce('Lost contact with iomt serve.');
      contactLost = true;
      updated.textContent = 'Not updated: iomt serve does not answer';
      return;
    }
    if (contactLost) announce('Back in contact with iomt serve.');
    contactLost = false;

    if (detailName && status.status === 404) {
      errorBox.hidden = true;
      for (const card of cards.values()) card.destroy();
      cards.clear();
      list.replaceChildren(el('div', { class: 'empty' },
        `There is no connector named ${detailName}. `,
        el('a', { href: '#/connectors', text: 'See all connectors' }), ' or ',
        el('a', { href: '#/provisioning', text: 'create one' }), '.'));
      updated.textContent = '';
      return;
    }
    if (!status.ok) {
      errorBox.hidden = false;
      errorBox.textContent = `Cannot read the connectors: ${ctx.errorMessage(status)}`;
      return;
    }
    const connectors = detailName ? [status.body] : (status.body.connectors || []);
    connectors.sort((a, b) => a.name.localeCompare(b.name));

    let metricsProblem = null;
    const now = Date.now() / 1000;
    if (metrics.ok && typeof metrics.body === 'string') {
      const snaps = snapshotsByConnector(parsePrometheus(metrics.body));
      for (const c of connectors) {
        if (snaps.has(c.name)) history.record(c.name, now, snaps.get(c.name));
      }
      if (!detailName) history.forget(new Set(connectors.map((c) => c.name)));
    } else {
      metricsProblem = `Cannot read /metrics: ${ctx.errorMessage(metrics)}`;
    }
    errorBox.hidden = !metricsProblem;
    errorBox.textContent = metricsProblem || '';

    tellChanges(connectors);

    if (connectors.length === 0) {
      for (const card of cards.values()) card.destroy();
      cards.clear();
      if (!list.querySelector('.empty')) {
        list.replaceChildren(el('div', { class: 'empty dash-empty' },
          'No connectors yet: ', el('a', { href: '#/provisioning', text: 'create one' }),
          el('span', { class: 'dash-empty-more', text: ' (in Provisioning), or start iomt serve with --connector or a configuration file.' })));
      }
    } else {
      list.querySelector('.empty')?.remove();
      const names = new Set(connectors.map((c) => c.name));
      for (const [name, card] of cards) {
        if (!names.has(name)) { card.destroy(); card.node.remove(); cards.delete(name); }
      }
      for (const c of connectors) {
        let card = cards.get(c.name);
        if (!card) {
          card = connectorCard(c.name, { detail: Boolean(detailName), ctx });
          cards.set(c.name, card);
        }
        list.append(card.node); // (in name order; a node already there just moves)
        card.update(c, now);
      }
    }
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${POLL_MS / 1000} s`;
  }

  // Announces what changed in words: a connector that came or went, its
  // state, its readiness, a held queue. The first sight says nothing.
  function tellChanges(connectors) {
    const names = new Set();
    for (const c of connectors) {
      names.add(c.name);
      const now = { state: c.state, ready: c.ready, held: c.held };
      const before = lastSeen.get(c.name);
      lastSeen.set(c.name, now);
      if (!before) {
        if (seenOnce) announce(`Connector ${c.name} appeared.`);
        continue;
      }
      if (before.state !== now.state) announce(`Connector ${c.name} is now ${now.state}.`);
      if (before.ready !== now.ready) {
        announce(`Connector ${c.name} is ${now.ready ? 'ready' : `not ready${c.problem ? `: ${c.problem}` : ''}`}.`);
      }
      if (before.held !== now.held && now.held) announce(`Connector ${c.name} holds its queue: the FHIR service is away.`);
    }
    if (!detailName) {
      for (const name of [...lastSeen.keys()]) {
        if (!names.has(name)) { lastSeen.delete(name); announce(`Connector ${name} is gone.`); }
      }
    }
    seenOnce = true;
  }

  schedule(0);

  return {
    unmount() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
      for (const card of cards.values()) card.destroy();
      cards.clear();
    },
  };
}

const STATE_CLASS = { Running: 'ok', Paused: 'err', Stopping: 'warn' };

function sourcesText(sources) {
  const parts = ['HTTP'];
  if (sources && sources.kafka) {
    parts.push(`Kafka topic ${sources.kafka.topic} (group ${sources.kafka.group})`);
  }
  if (sources && sources.mqtt) {
    parts.push(`MQTT ${sources.mqtt.topic} (${sources.mqtt.connected ? 'connected' : 'not connected'})`);
  }
  return parts.join(' · ');
}

// One connector's panel. In the list it has the essentials and the charts;
// in detail (#/connectors/NAME) also the tables and the recent errors.
function connectorCard(name, { detail, ctx }) {
  const encoded = encodeURIComponent(name);
  const headingId = `conn-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const stateBadge = el('span', { class: 'badge' });
  const readyBadge = el('span', { class: 'badge' });
  const heldBadge = el('span', { class: 'badge warn', hidden: true, text: 'holding its queue' });
  const problem = el('p', { class: 'error-text dash-problem', hidden: true });
  const warning = el('p', { class: 'warn-text dash-problem', hidden: true });
  const sources = el('span');
  const fhir = el('span', { class: 'mono' });

  // name, label, what to show, optional rate (per second)
  const facts = [
    ['incoming', 'Incoming messages', (s) => s.incoming, true],
    ['normalized', 'Normalized', (s) => s.normalized, true],
    ['measurements', 'Measurements', (s) => s.measurements, false],
    ['groups', 'Message groups', (s) => s.groups, false],
    ['saved', 'Resources saved', (s) => s.saved, true],
    ['errors', 'Errors', (s) => s.errorsTotal, false],
    // Every event dead-lettered since the start (a replayed one that fails
    // again counts again): not the number waiting now, which the link says.
    ['deadLetters', 'Dead-lettered', (s) => s.deadLetters, false],
    ['queue', 'Queued', (s) => s.queue, false],
  ];
  const factNodes = {};
  const factList = el('dl', { class: 'dash-facts' }, facts.map(([key, label]) => {
    const value = el('span', { class: 'dash-value', text: '–' });
    const rateNode = el('span', { class: 'dash-rate' });
    factNodes[key] = { value, rateNode };
    return el('div', { dataset: { counter: key } }, el('dt', { text: label }), el('dd', {}, value, rateNode));
  }));

  const throughputChart = timeChart({
    title: 'Throughput, messages/s',
    unit: '/s',
    height: detail ? 180 : 120,
    series: [
      { label: 'incoming', stroke: '#0b5cad', format: (v) => formatRate(v) },
      { label: 'resources saved', stroke: '#1a7f37', dash: [6, 3], format: (v) => formatRate(v) },
    ],
  });
  const latencyChart = timeChart({
    title: 'End-to-end latency, ms (10 s windows)',
    unit: 'ms',
    height: detail ? 180 : 120,
    series: [
      { label: 'p50', stroke: '#0b5cad', format: (v) => formatSeconds(v / 1000) },
      { label: 'p95', stroke: '#9a6700', dash: [6, 3], format: (v) => formatSeconds(v / 1000) },
    ],
  });

  const deadLink = el('a', { href: `#/deadletters/${encoded}`, text: 'Dead letters' });
  const lastError = el('p', { class: 'dash-last-error', hidden: true });
  const links = el('p', { class: 'dash-links' },
    detail ? null : el('a', { href: `#/connectors/${encoded}`, text: 'Details' }),
    detail ? null : ' · ', deadLink);

  const node = el('section', { class: 'panel dash-card', 'aria-labelledby': headingId, dataset: { connector: name } },
    el('div', { class: 'dash-card-head' },
      detail
        ? el('h2', { id: headingId, class: 'mono', text: name })
        : el('h2', { id: headingId }, el('a', { href: `#/connectors/${encoded}`, class: 'mono', text: name })),
      el('span', { class: 'dash-badges' }, stateBadge, ' ', readyBadge, ' ', heldBadge)),
    problem, warning,
    el('p', { class: 'dash-meta' }, el('span', { class: 'muted', text: 'Sources: ' }), sources,
      el('span', { class: 'muted', text: ' · FHIR: ' }), fhir),
    factList,
    el('div', { class: 'dash-charts' }, throughputChart.node, latencyChart.node),
    detail ? null : lastError,
    links);

  // Detail-only parts.
  let detailParts = null;
  if (detail) detailParts = detailSections(name, node, ctx);

  let lastStatusKey = '';
  return {
    node,
    update(status, now) {
      const stateClass = STATE_CLASS[status.state] || '';
      stateBadge.className = `badge ${stateClass}`;
      stateBadge.textContent = status.state;
      readyBadge.className = `badge ${status.ready ? 'ok' : 'err'}`;
      readyBadge.textContent = status.ready ? 'ready' : 'not ready';
      heldBadge.hidden = !status.held;
      problem.hidden = !status.problem;
      problem.textContent = status.problem ? `Not ready: ${status.problem}` : '';
      warning.hidden = !status.sourceWarning;
      warning.textContent = status.sourceWarning || '';
      sources.textContent = sourcesText(status.sources);
      fhir.textContent = status.fhir === 'embedded' ? 'the embedded store (/fhir)' : status.fhir;

      const h = history.samples(name);
      const snap = h.length ? h[h.length - 1].snap : null;
      for (const [key, , pick, withRate] of facts) {
        const { value, rateNode } = factNodes[key];
        value.textContent = formatCount(snap ? pick(snap) : fallback(status, key));
        if (withRate) {
          const r = history.latestRate(name, pick);
          rateNode.textContent = r === null ? '' : `${formatRate(r)}/s`;
        }
      }
      if (typeof status.deadLettersWaiting === 'number') {
        deadLink.textContent = `Dead letters (${formatCount(status.deadLettersWaiting)} waiting)`;
      }

      const t = history.throughput(name);
      throughputChart.update(t.times, [t.incoming, t.saved], now);
      const l = history.latency(name);
      latencyChart.update(l.times, [l.p50, l.p95], now);

      if (!detail) {
        const recent = status.recentErrors || [];
        const last = recent[recent.length - 1];
        lastError.hidden = !last;
        if (last) {
          const key = JSON.stringify(last);
          if (key !== lastStatusKey) {
            lastStatusKey = key;
            lastError.replaceChildren(el('span', { class: 'muted', text: `Last error, ${formatTime(last.time)}: ` }),
              el('span', { class: `badge ${severityClass(last.severity)}`, text: last.errorName }), ' ', last.message);
          }
        }
      }
      if (detailParts) detailParts.update(status, snap);
    },
    destroy() {
      throughputChart.destroy();
      latencyChart.destroy();
    },
  };
}

// Counters from the status when /metrics could not be read.
function fallback(status, key) {
  const c = status.counters || {};
  switch (key) {
    case 'incoming': return c.incoming;
    case 'measurements': return c.measurements;
    case 'deadLetters': return c.deadLettered;
    case 'queue': return status.queue?.events;
    case 'saved': return c.observations ? c.observations.created + c.observations.updated : null;
    default: return null;
  }
}

// The tables and lists of #/connectors/NAME.
function detailSections(name, card, ctx) {
  const savedBody = el('tbody');
  const errorsBody = el('tbody');
  const noErrors = el('p', { class: 'muted', text: 'No errors counted since the server started.' });
  const latencyBody = el('tbody');
  const recentList = el('ol', { class: 'dash-recent', reversed: true });
  const noRecent = el('p', { class: 'muted', text: 'No recent errors.' });
  const warnings = el('ul', { class: 'warn-text' });
  const warningsBox = el('div', { hidden: true }, el('h3', { text: 'Mapping warnings' }), warnings);
  const editorButton = el('button', { type: 'button', text: 'Open its mappings in the editor' });

  editorButton.addEventListener('click', async () => {
    editorButton.disabled = true;
    const answer = await ctx.api.get(`/connectors/${encodeURIComponent(name)}/mappings`);
    editorButton.disabled = false;
    if (!answer.ok) {
      ctx.toast(`Cannot read the mappings of ${name}: ${ctx.errorMessage(answer)}`, 'error');
      return;
    }
    // The running mappings, to read and try out; changes are saved where the
    // connector comes from (its files, or Provisioning for a provisioned one).
    ctx.openInEditor({
      deviceMapping: JSON.stringify(answer.body.deviceMapping, null, 2),
      fhirMapping: JSON.stringify(answer.body.fhirMapping, null, 2),
      label: `connector ${name} (running mappings)`,
    });
  });

  card.append(
    el('div', { class: 'dash-detail-grid' },
      el('section', { 'aria-label': 'Resources saved' },
        el('h3', { text: 'FHIR resources saved' }),
        el('div', { class: 'dash-scroll' }, el('table', { class: 'dash-saved' },
          el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Resource' }), el('th', { scope: 'col', text: 'Outcome' }),
            el('th', { scope: 'col', class: 'dash-num', text: 'Count' }))),
          savedBody)),
        el('p', { class: 'muted dash-note', text: 'NoOperation: a reading merged into an Observation that did not change; nothing was written.' })),
      el('section', { 'aria-label': 'Latency' },
        el('h3', { text: 'Latency, mean of the last minute' }),
        el('div', { class: 'dash-scroll' }, el('table', {},
          el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Stage' }), el('th', { scope: 'col', class: 'dash-num', text: 'Mean' }),
            el('th', { scope: 'col', class: 'dash-num', text: 'Observed' }))),
          latencyBody)))),
    el('section', { 'aria-label': 'Errors by name' },
      el('h3', { text: 'Errors by name, type, severity and stage' }),
      noErrors,
      el('div', { class: 'dash-scroll' }, el('table', { class: 'dash-errors' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Name' }), el('th', { scope: 'col', text: 'Type' }),
          el('th', { scope: 'col', text: 'Severity' }), el('th', { scope: 'col', text: 'Stage' }),
          el('th', { scope: 'col', class: 'dash-num', text: 'Count' }))),
        errorsBody))),
    el('section', { 'aria-label': 'Recent errors' },
      el('h3', { text: 'Recent errors' }), noRecent, recentList),
    warningsBox,
    el('div', { class: 'toolbar' }, editorButton));

  let recentKey = '';
  let warningsKey = '';
  let savedKey = '';
  let errorsKey = '';
  return {
    update(status, snap) {
      if (snap) {
        const saved = Object.entries(snap.savedBy).sort((a, b) => a[0].localeCompare(b[0]));
        const sk = JSON.stringify(saved);
        if (sk !== savedKey) {
          savedKey = sk;
          savedBody.replaceChildren(...saved.map(([key, n]) => {
            const [type, outcome] = key.split(' ');
            return el('tr', {}, el('td', { text: type }), el('td', { text: outcome }), el('td', { class: 'dash-num', text: formatCount(n) }));
          }));
        }
        const errors = snap.errors.filter((e) => e.value > 0).sort((a, b) => b.value - a.value || a.name.localeCompare(b.name));
        const ek = JSON.stringify(errors);
        if (ek !== errorsKey) {
          errorsKey = ek;
          noErrors.hidden = errors.length > 0;
          errorsBody.parentElement.hidden = errors.length === 0;
          errorsBody.replaceChildren(...errors.map((e) => el('tr', {},
            el('td', { class: 'mono', text: e.name }), el('td', { text: e.type }),
            el('td', {}, el('span', { class: `badge ${severityClass(e.severity)}`, text: e.severity })),
            el('td', { text: e.stage }), el('td', { class: 'dash-num', text: formatCount(e.value) }))));
        }
        latencyBody.replaceChildren(...[
          ['Ingestion to normalization', 'normalize'],
          ['End to end (to the FHIR write)', 'e2e'],
          ['FHIR write of a batch', 'write'],
        ].map(([label, key]) => {
          const m = history.recentMean(name, key, 60);
          return el('tr', {}, el('td', { text: label }), el('td', { class: 'dash-num', text: formatSeconds(m.mean) }),
            el('td', { class: 'dash-num', text: m.count > 0 ? `${formatCount(m.count)} in ${m.seconds} s` : 'none' }));
        }));
      }
      const recent = status.recentErrors || [];
      const rk = JSON.stringify(recent);
      if (rk !== recentKey) {
        recentKey = rk;
        noRecent.hidden = recent.length > 0;
        // Newest first.
        recentList.replaceChildren(...recent.slice().reverse().map((e) => el('li', {},
          el('span', { class: 'muted', text: `${formatTime(e.time)} · ${e.stage} · ` }),
          el('span', { class: `badge ${severityClass(e.severity)}`, text: e.severity }), ' ',
          el('span', { class: 'mono', text: e.errorName }), ': ', e.message,
          e.template ? el('span', { class: 'muted', text: ` (template ${e.template})` }) : null,
          e.input ? el('span', { class: 'muted', text: ` — ${inputText(e.input)}` }) : null)));
      }
      const w = status.mappingWarnings || [];
      const wk = JSON.stringify(w);
      if (wk !== warningsKey) {
        warningsKey = wk;
        warningsBox.hidden = w.length === 0;
        warnings.replaceChildren(...w.map((text) => el('li', { text })));
      }
    },
  };
}

// Where an error's event came from: request id, line, source (no content).
export function inputText(input) {
  return Object.entries(input).map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
}

// The Dead letters view: a connector's events that were not carried through
// (GET /connectors/NAME/deadletters: each the error record and the event),
// filtered by error name, and replayed (POST .../deadletters/replay) once the
// cause is fixed. The route holds only the connector's name: device messages
// are patient data, so the filter and the events stay on the page and in
// memory, never in the URL or the browser's storage.
import './deadletters.css';
import { el, uid, announcer, confirmDialog, closeDialogs, formatCount, formatTime, severityClass } from './dash-ui.js';
import { inputText } from './connectors.js';

const LIMITS = [100, 500, 1000];
// The filter of each connector, while the page is open.
const filters = new Map(); // connector → {errorName, limit}

export function mount(root, ctx) {
  const name = ctx.params[0] || null;
  const announce = announcer(root);
  const filter = filters.get(name) || { errorName: '', limit: 100 };
  if (name) filters.set(name, filter);
  let stopped = false;
  let records = [];
  let total = 0;
  const timers = [];

  const connectorId = uid('dl-connector');
  const nameId = uid('dl-name');
  const limitId = uid('dl-limit');
  const connectorSelect = el('select', { id: connectorId },
    el('option', { value: '', text: 'Choose a connector…' }));
  const nameSelect = el('select', { id: nameId, disabled: true }, el('option', { value: '', text: 'All' }));
  const limitSelect = el('select', { id: limitId },
    LIMITS.map((n) => el('option', { value: String(n), text: `newest ${n}` })));
  limitSelect.value = String(filter.limit);
  const refreshButton = el('button', { type: 'button', text: 'Refresh', disabled: !name });
  const replayButton = el('button', { type: 'button', class: 'primary', text: 'Replay…', disabled: true });
  const result = el('p', { class: 'dl-result', role: 'status', 'aria-live': 'polite' });
  const summary = el('p', { class: 'muted dl-summary' });
  const errorBox = el('p', { class: 'error-text', hidden: true });
  const list = el('div', { class: 'dl-list', 'aria-label': 'Dead letters', role: 'region' });

  root.append(
    el('h1', { text: name ? `Dead letters of ${name}` : 'Dead letters' }),
    el('p', { class: 'muted dl-intro' },
      'Events the connector could not carry through, each with its error. ',
      'Fix the cause (the mapping, a missing Device or Patient), then replay: ',
      'every dead letter of the connector goes through its current mappings again, and those that still fail come back here.'),
    el('div', { class: 'toolbar dl-toolbar' },
      el('span', { class: 'dl-field' }, el('label', { for: connectorId, text: 'Connector' }), connectorSelect),
      el('span', { class: 'dl-field' }, el('label', { for: nameId, text: 'Error name' }), nameSelect),
      el('span', { class: 'dl-field' }, el('label', { for: limitId, text: 'Show' }), limitSelect),
      el('span', { class: 'dl-actions' }, refreshButton, replayButton)),
    result, errorBox, summary, list);

  connectorSelect.addEventListener('change', () => {
    if (connectorSelect.value) ctx.navigate(`#/deadletters/${encodeURIComponent(connectorSelect.value)}`);
  });
  nameSelect.addEventListener('change', () => {
    filter.errorName = nameSelect.value;
    renderList();
  });
  limitSelect.addEventListener('change', () => {
    filter.limit = Number(limitSelect.value);
    load();
  });
  refreshButton.addEventListener('click', () => load(true));
  replayButton.addEventListener('click', replay);

  async function loadConnectors() {
    const answer = await ctx.api.get('/connectors');
    if (stopped) return;
    if (!answer.ok) {
      errorBox.hidden = false;
      errorBox.textContent = `Cannot list the connectors: ${ctx.errorMessage(answer)}`;
      return;
    }
    const names = (answer.body.connectors || []).map((c) => c.name).sort((a, b) => a.localeCompare(b));
    for (const n of names) connectorSelect.append(el('option', { value: n, text: n }));
    if (name && !names.includes(name)) connectorSelect.append(el('option', { value: name, text: `${name} (not running)` }));
    connectorSelect.value = name || '';
    if (!name) {
      if (names.length === 0) {
        list.replaceChildren(el('div', { class: 'empty' }, 'No connectors yet: ',
          el('a', { href: '#/provisioning', text: 'create one' }), '.'));
      } else if (names.length === 1) {
        // One connector: show it (replacing the history entry, so Back
        // does not come here and jump forward again).
        location.replace(`#/deadletters/${encodeURIComponent(names[0])}`);
      } else {
        list.replaceChildren(el('div', { class: 'empty', text: 'Choose a connector to see its dead letters.' }));
      }
    }
  }

  async function load(userAsked = false) {
    if (!name) return;
    refreshButton.disabled = true;
    const answer = await ctx.api.get(`/connectors/${encodeURIComponent(name)}/deadletters?limit=${filter.limit}`);
    if (stopped) return;
    refreshButton.disabled = false;
    if (!answer.ok) {
      errorBox.hidden = false;
      errorBox.textContent = answer.status === 404
        ? `There is no connector named ${name}.`
        : `Cannot read the dead letters: ${ctx.errorMessage(answer)}`;
      records = [];
      total = 0;
      replayButton.disabled = true;
      renderList();
      return;
    }
    errorBox.hidden = true;
    total = answer.body.total || 0;
    // The server gives the newest `limit` oldest first; the page shows the
    // newest first.
    records = (answer.body.deadLetters || []).slice().reverse();
    replayButton.disabled = total === 0;
    renderNames();
    renderList();
    if (userAsked) announce(`${formatCount(total)} dead letters.`);
  }

  function renderNames() {
    const counts = new Map();
    for (const r of records) counts.set(r.errorName, (counts.get(r.errorName) || 0) + 1);
    const names = [...counts.keys()].sort((a, b) => a.localeCompare(b));
    // A filter whose name has no record left is kept (showing none), so that
    // a refresh after a replay says "none left" rather than switching to all.
    if (filter.errorName && !counts.has(filter.errorName)) counts.set(filter.errorName, 0), names.push(filter.errorName);
    nameSelect.replaceChildren(el('option', { value: '', text: `All (${records.length})` }),
      ...names.map((n) => el('option', { value: n, text: `${n} (${counts.get(n)})` })));
    nameSelect.value = filter.errorName;
    nameSelect.disabled = records.length === 0 && !filter.errorName;
  }

  function renderList() {
    if (!name) return;
    const shown = filter.errorName ? records.filter((r) => r.errorName === filter.errorName) : records;
    summary.textContent = total === 0
      ? ''
      : `${formatCount(total)} dead letters in all; the newest ${formatCount(records.length)} read` +
        (filter.errorName ? `, ${formatCount(shown.length)} of them ${filter.errorName}.` : '.');
    if (total === 0) {
      list.replaceChildren(el('div', { class: 'empty dl-none', text: `No dead letters for ${name}.` }));
      return;
    }
    if (shown.length === 0) {
      list.replaceChildren(el('div', { class: 'empty', text: `None of the dead letters read is ${filter.errorName}.` }));
      return;
    }
    list.replaceChildren(...shown.map(recordCard));
  }

  async function replay() {
    const ok = await confirmDialog({
      title: `Replay the dead letters of ${name}?`,
      message: `All ${formatCount(total)} dead letters of ${name} are queued again and go through the connector's ` +
        'current mappings' + (filter.errorName ? ` (all of them, not only the ${filter.errorName} ones shown)` : '') +
        '. Those that still fail come back here.',
      confirmLabel: 'Replay',
    });
    if (!ok || stopped) return;
    replayButton.disabled = true;
    const answer = await ctx.api.post(`/connectors/${encodeURIComponent(name)}/deadletters/replay`);
    if (stopped) return;
    if (!answer.ok) {
      result.className = 'dl-result error-text';
      result.textContent = `Replay failed: ${ctx.errorMessage(answer)}`;
      replayButton.disabled = false;
      return;
    }
    const n = answer.body.replayed;
    result.className = 'dl-result';
    result.textContent = `Replayed ${formatCount(n)} dead ${n === 1 ? 'letter' : 'letters'}: ` +
      'queued again through the current mappings. The list refreshes as they are processed.';
    ctx.toast(`Replayed ${formatCount(n)} dead letters of ${name}`, 'ok');
    // The events are queued, not yet processed: look again as the connector
    // works through them (those that fail again return here).
    await load();
    for (const delay of [1000, 3000, 6000]) timers.push(setTimeout(() => { if (!stopped) load(); }, delay));
  }

  loadConnectors().then(() => load());

  return {
    unmount() {
      stopped = true;
      closeDialogs();
      for (const t of timers) clearTimeout(t);
    },
  };
}

// One dead letter: the error record, and the event (collapsed: a page of
// them stays readable; it is in the page, for the person looking into it).
function recordCard(r) {
  const event = r.event === undefined ? null : JSON.stringify(r.event, null, 2);
  return el('article', { class: 'panel dl-record', dataset: { errorName: r.errorName || '' } },
    el('div', { class: 'dl-head' },
      el('span', { class: `badge ${severityClass(r.severity)}`, text: r.severity || '?' }),
      el('strong', { class: 'mono dl-name', text: r.errorName }),
      el('span', { class: 'muted', text: [r.stage, r.errorType, formatTime(r.time)].filter(Boolean).join(' · ') })),
    el('p', { class: 'dl-message', text: r.message }),
    r.template || r.input
      ? el('p', { class: 'muted dl-where' },
        r.template ? `Template ${r.template}. ` : '',
        r.input ? `From ${inputText(r.input)}.` : '')
      : null,
    event === null
      ? el('p', { class: 'muted', text: 'No event kept.' })
      : el('details', { class: 'dl-event' },
        el('summary', {}, 'Event ', el('span', { class: 'mono muted dl-preview', text: preview(r.event) })),
        el('pre', { class: 'dl-event-text', tabindex: '0', text: event })));
}

function preview(event) {
  const text = JSON.stringify(event && event.Body !== undefined ? event.Body : event);
  return text.length > 90 ? `${text.slice(0, 90)}…` : text;
}

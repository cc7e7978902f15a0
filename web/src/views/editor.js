// The mapping editor and debugger (GET /, #/editor): devicecontent.json and
// fhirmapping.json side by side, their problems marked as you type
// (POST /api/mappings/validate), sample messages, and what the selected one
// becomes (POST /api/mappings/test): measurements, FHIR resources, or why
// nothing, re-run as you edit.
//
// The work (texts, messages, choices) is kept in ctx.shared.editor so that
// switching views and back keeps it; in memory only, never in the
// browser's storage or the URL, because sample messages are patient data.
import './editor.css';
import { placeholder } from '@codemirror/view';
import { StateEffect } from '@codemirror/state';
import { createMappingEditor, setText, showProblems, goTo } from './editor-cm.js';
import { suggestFix } from './editor-hints.js';
import { renderResult, summarize } from './editor-results.js';
import { tarArchive } from './editor-tar.js';
import { el, uid, download, readFile } from './editor-dom.js';
import { exampleMappings, exampleMessages, describeMessage } from '../samples.js';

const DEBOUNCE_MS = 300;

const FILES = {
  device: { file: 'devicecontent.json', title: 'Device mapping', api: 'deviceMapping', hint: 'Write devicecontent.json here, open the file, or load the example mappings' },
  fhir: { file: 'fhirmapping.json', title: 'FHIR destination mapping', api: 'fhirMapping', hint: 'Write fhirmapping.json here (optional: without it only measurements are shown)' },
};

function freshState() {
  return {
    device: { text: '', eol: '\n', bom: false },
    fhir: { text: '', eol: '\n', bom: false },
    messages: [], // [{text, label}]
    selected: -1,
    resolution: 'Create',
    envelope: 'auto',
    connector: '',
    target: null, // {label, save} when opened from a connector
    caseName: '',
    caseDescription: '',
  };
}

// A file's text as it is saved: the editor's text with the line endings
// and byte order mark the file was opened with.
function fileText(mapping, text) {
  const body = mapping.eol === '\r\n' ? text.replace(/\n/g, '\r\n') : text;
  return (mapping.bom ? '\uFEFF' : '') + body;
}

// Messages from pasted or uploaded text: one JSON document (which may be
// pretty-printed over many lines), or NDJSON, one message a line.
export function splitMessages(text) {
  const trimmed = text.trim();
  if (!trimmed) return [];
  try {
    JSON.parse(trimmed);
    return [trimmed];
  } catch {
    return trimmed.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  }
}

// The message as one NDJSON line. A valid JSON document has no line break
// inside a string, so joining its lines changes nothing but layout (and
// keeps numbers exactly as written, which parsing and printing would not).
function oneLine(text) {
  return text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' ');
}

function caseFileName(name) {
  const clean = name.trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 60);
  return clean || 'case';
}

// What a test case expects: the answer without what changes from run to run.
function expectedFiles(answer) {
  const ndjson = (items) => items.map((x) => JSON.stringify(x) + '\n').join('');
  const measurements = (answer.measurements || []).map(({ IngestionTimeUtc, ...m }) => m);
  // `issued` is the ingestion time and `meta` the store's version stamp; a
  // member left out of an expected object matches anything (iomt test).
  const resources = (answer.resources || []).map(({ issued, meta, ...r }) => r);
  const errors = (answer.errors || []).map(({ time, ...e }) => e);
  return { measurements: ndjson(measurements), resources: resources.length ? ndjson(resources) : null, errors: errors.length ? ndjson(errors) : null };
}

export function mount(root, ctx) {
  const { api, errorMessage, toast, shared } = ctx;
  if (!shared.editor) shared.editor = freshState();
  const state = shared.editor;

  // Mappings opened from another view (a connector's live mappings).
  if (shared.pendingOpen) {
    const p = shared.pendingOpen;
    shared.pendingOpen = null;
    const asText = (v) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v, null, 2));
    state.device = { text: asText(p.deviceMapping).replace(/\r\n/g, '\n'), eol: '\n', bom: false };
    state.fhir = { text: asText(p.fhirMapping).replace(/\r\n/g, '\n'), eol: '\n', bom: false };
    state.target = p.save ? { label: p.label || 'the connector', save: p.save } : null;
  }

  const timers = new Set();
  let unmounted = false;
  const later = (fn, ms) => {
    const t = setTimeout(() => { timers.delete(t); if (!unmounted) fn(); }, ms);
    timers.add(t);
    return t;
  };

  // Problems from the server (validate) and from the last save, per file.
  const problems = { device: [], fhir: [] };
  const saveProblems = { device: [], fhir: [] };
  let lastAnswer = null; // the last test answer for the selected message
  let lastAnswerKey = '';

  // ---- Layout -------------------------------------------------------------
  const saveButton = el('button', { type: 'button', class: 'primary', hidden: !state.target, onclick: () => saveToTarget() });
  const exampleMappingsButton = el('button', { type: 'button', text: 'Load the example mappings', onclick: loadExampleMappings });
  const intro = el('p', { class: 'muted editor-intro' },
    'Problems are marked as you type. Tab moves to the next control; indent with Ctrl+] and Ctrl+[, ',
    'and go to the next problem with F8.');

  const panes = {};
  const paneBoxes = Object.entries(FILES).map(([which, f]) => {
    const headingId = uid(`editor-${which}-title`);
    const fileInput = el('input', { type: 'file', accept: '.json,application/json', hidden: true, 'aria-label': `Open ${f.file}`, 'data-open': which });
    fileInput.addEventListener('change', () => openFile(which, fileInput));
    const host = el('div', { class: 'editor-cm', 'data-mapping': which });
    const status = el('span', { class: 'badge', 'data-count': which });
    const box = el('section', { class: 'editor-pane', 'aria-labelledby': headingId },
      el('div', { class: 'editor-pane-head' },
        el('h2', { id: headingId }, `${f.title} `, el('span', { class: 'mono muted', text: f.file }), ' ', status),
        el('div', { class: 'toolbar' },
          el('button', { type: 'button', text: `Open ${f.file}`, onclick: () => fileInput.click() }),
          fileInput,
          el('button', { type: 'button', text: `Download ${f.file}`, 'data-download': which, onclick: () => downloadMapping(which) }))),
      host);
    panes[which] = { host, status, fileInput };
    return box;
  });

  const problemsStatus = el('p', { class: 'editor-problems-status', role: 'status', 'aria-live': 'polite' });
  const problemsList = el('ul', { class: 'editor-problems-list' });

  // Sample messages.
  const exampleSelect = el('select', { id: uid('editor-example') });
  exampleMessages.forEach((g, gi) => {
    const optgroup = el('optgroup', { label: g.title });
    if (g.messages.length > 1) optgroup.append(el('option', { value: `${gi}:all`, text: `All ${g.messages.length} (${g.title})` }));
    g.messages.forEach((m, mi) => optgroup.append(el('option', { value: `${gi}:${mi}`, text: m.label })));
    exampleSelect.append(optgroup);
  });
  const pasteArea = el('textarea', { id: uid('editor-paste'), rows: '4', spellcheck: 'false', placeholder: '{"deviceId": "...", ...}   or NDJSON, one message a line' });
  const uploadInput = el('input', { type: 'file', id: uid('editor-upload'), accept: '.ndjson,.json,.jsonl,.txt,application/json,application/x-ndjson' });
  uploadInput.addEventListener('change', () => uploadMessages());
  const messageList = el('div', { class: 'editor-message-list', role: 'radiogroup', 'aria-label': 'Messages' });
  const messageLegend = el('legend', {});
  const selectedArea = el('textarea', { id: uid('editor-selected'), rows: '6', spellcheck: 'false' });
  selectedArea.addEventListener('input', () => {
    const m = state.messages[state.selected];
    if (!m) return;
    m.text = selectedArea.value;
    scheduleTest();
  });
  const selectedBox = el('div', { class: 'editor-selected' },
    el('label', { for: selectedArea.id, text: 'The selected message (edit it to try variations)' }), selectedArea);

  // Settings of the run.
  const resolutionSelect = el('select', { id: uid('editor-resolution') },
    ['Create', 'Lookup', 'LookupWithEncounter'].map((v) => el('option', { value: v, text: v })));
  const envelopeSelect = el('select', { id: uid('editor-envelope') },
    [['auto', 'auto (wrap unless already an event)'], ['event', 'event (already an Event Hubs event)'], ['wrap', 'wrap (as the Body of an event)'], ['none', 'none (as it is)']]
      .map(([v, t]) => el('option', { value: v, text: t })));
  const connectorSelect = el('select', { id: uid('editor-connector') }, el('option', { value: '', text: 'None (the mappings alone)' }));
  resolutionSelect.value = state.resolution;
  envelopeSelect.value = state.envelope;
  resolutionSelect.addEventListener('change', () => { state.resolution = resolutionSelect.value; runTest(); });
  envelopeSelect.addEventListener('change', () => { state.envelope = envelopeSelect.value; runTest(); });
  connectorSelect.addEventListener('change', () => { state.connector = connectorSelect.value; runTest(); });

  const resultStatus = el('p', { class: 'editor-result-status', role: 'status', 'aria-live': 'polite' });
  const resultBox = el('div', { class: 'editor-result' });

  const caseNameInput = el('input', { type: 'text', id: uid('editor-case-name'), value: state.caseName, placeholder: 'heartrate-monitor', spellcheck: 'false' });
  const caseDescInput = el('input', { type: 'text', id: uid('editor-case-desc'), value: state.caseDescription });
  caseNameInput.addEventListener('input', () => { state.caseName = caseNameInput.value; });
  caseDescInput.addEventListener('input', () => { state.caseDescription = caseDescInput.value; });
  const caseButton = el('button', { type: 'button', text: 'Save as test case', onclick: () => saveTestCase() });

  root.append(el('div', { class: 'editor-view' },
    el('h1', { text: 'Mappings' }),
    el('div', { class: 'toolbar' }, exampleMappingsButton, saveButton),
    intro,
    el('div', { class: 'editor-panes' }, paneBoxes),
    el('section', { class: 'panel editor-problems', 'aria-label': 'Problems' },
      el('h2', { text: 'Problems' }), problemsStatus, problemsList),
    el('div', { class: 'editor-run' },
      el('section', { class: 'panel editor-messages', 'aria-labelledby': 'editor-messages-title' },
        el('h2', { id: 'editor-messages-title', text: 'Sample messages' }),
        el('label', { for: exampleSelect.id, text: 'Example messages' }),
        el('div', { class: 'editor-row' }, exampleSelect, el('button', { type: 'button', text: 'Add example', onclick: addExample })),
        el('label', { for: pasteArea.id, text: 'Paste a message, or NDJSON (one message a line)' }),
        pasteArea,
        el('div', { class: 'toolbar' }, el('button', { type: 'button', text: 'Add pasted messages', onclick: addPasted })),
        el('label', { for: uploadInput.id, text: 'Or upload an .ndjson or .json file' }),
        uploadInput,
        el('fieldset', { class: 'editor-messages-set' }, messageLegend, messageList,
          el('div', { class: 'toolbar' },
            el('button', { type: 'button', text: 'Remove selected', onclick: removeSelected }),
            el('button', { type: 'button', text: 'Remove all', onclick: removeAll }))),
        selectedBox),
      el('section', { class: 'panel editor-results', 'aria-labelledby': 'editor-results-title' },
        el('h2', { id: 'editor-results-title', text: 'What the selected message becomes' }),
        el('div', { class: 'editor-settings' },
          el('div', {}, el('label', { for: resolutionSelect.id, text: 'Resolution' }), resolutionSelect),
          el('div', {}, el('label', { for: connectorSelect.id, text: 'Connector' }), connectorSelect),
          el('div', {}, el('label', { for: envelopeSelect.id, text: 'Envelope' }), envelopeSelect)),
        resultStatus,
        resultBox,
        el('div', { class: 'editor-case', role: 'group', 'aria-labelledby': 'editor-case-title' },
          el('h3', { id: 'editor-case-title', text: 'Save as test case' }),
          el('p', { class: 'muted', text: 'Downloads NAME.tar: `tar xf NAME.tar` gives the folder NAME that `iomt test NAME` runs (the mappings, this message, and what it gives now as the expected output).' }),
          el('label', { for: caseNameInput.id, text: 'Test case name' }), caseNameInput,
          el('label', { for: caseDescInput.id, text: 'Description (optional)' }), caseDescInput,
          el('div', { class: 'toolbar' }, caseButton)))),
  ));

  // ---- Editors ------------------------------------------------------------
  const views = {};
  for (const which of Object.keys(FILES)) {
    views[which] = createMappingEditor(panes[which].host, {
      text: state[which].text,
      label: `${FILES[which].file}, the ${FILES[which].title.toLowerCase()}`,
      onChange: (text) => {
        state[which].text = text;
        saveProblems[which] = [];
        scheduleAll();
      },
    });
    views[which].dispatch({ effects: StateEffect.appendConfig.of(placeholder(FILES[which].hint)) });
    if (state[which].cursor !== undefined && state[which].cursor <= state[which].text.length) {
      views[which].dispatch({ selection: { anchor: state[which].cursor } });
    }
  }

  function updateSaveButton() {
    saveButton.hidden = !state.target;
    if (state.target) saveButton.textContent = `Save to ${state.target.label}`;
  }
  updateSaveButton();

  // ---- Problems -----------------------------------------------------------
  function allProblems() {
    const list = [];
    for (const which of Object.keys(FILES)) {
      for (const p of [...saveProblems[which], ...problems[which]]) list.push({ ...p, which });
    }
    // Errors first (they stop the mapping from loading), then by file and line.
    const rank = (p) => (p.severity === 'error' ? 0 : 1);
    return list.sort((a, b) => rank(a) - rank(b) || (a.which === b.which ? 0 : a.which === 'device' ? -1 : 1) || a.line - b.line);
  }

  function renderProblems(note) {
    for (const which of Object.keys(FILES)) {
      showProblems(views[which], [...saveProblems[which], ...problems[which]].map((p) => ({ ...p, which })));
      const errors = [...saveProblems[which], ...problems[which]].filter((p) => p.severity === 'error').length;
      const warnings = problems[which].filter((p) => p.severity === 'warning').length;
      const badge = panes[which].status;
      if (!state[which].text.trim()) {
        badge.textContent = 'empty';
        badge.className = 'badge';
      } else if (errors) {
        badge.textContent = `${errors} error${errors === 1 ? '' : 's'}`;
        badge.className = 'badge err';
      } else if (warnings) {
        badge.textContent = `${warnings} warning${warnings === 1 ? '' : 's'}`;
        badge.className = 'badge warn';
      } else {
        badge.textContent = 'valid';
        badge.className = 'badge ok';
      }
    }
    const list = allProblems();
    const errors = list.filter((p) => p.severity === 'error').length;
    const warnings = list.length - errors;
    if (note) problemsStatus.textContent = note;
    else if (!state.device.text.trim() && !state.fhir.text.trim()) problemsStatus.textContent = 'Nothing to check yet: write or open a mapping, or load the example mappings.';
    else if (!list.length) problemsStatus.textContent = 'No problems in the mappings.';
    else problemsStatus.textContent = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}.`;
    problemsList.replaceChildren(...list.map((p) => {
      const view = views[p.which];
      const lineText = p.line >= 1 && p.line <= view.state.doc.lines ? view.state.doc.line(p.line).text : '';
      const fix = suggestFix(p.message, p.which, lineText);
      const where = p.line >= 1 ? `${FILES[p.which].file}:${p.line}:${p.column}` : FILES[p.which].file;
      return el('li', { class: `editor-problem ${p.severity}` },
        el('button', { type: 'button', class: 'editor-problem-go', 'data-line': String(p.line), 'data-file': FILES[p.which].file, onclick: () => goTo(view, p) },
          el('span', { class: 'mono', text: where }), ' ',
          el('span', { class: `badge ${p.severity === 'error' ? 'err' : 'warn'}`, text: p.severity }), ' ',
          el('span', { class: 'editor-problem-message', text: p.message }),
          fix ? el('span', { class: 'editor-problem-fix', text: `Suggested fix: ${fix}` }) : null));
    }));
  }

  function texts() {
    return { device: views.device.state.doc.toString(), fhir: views.fhir.state.doc.toString() };
  }

  // The request's mappings: blank editors are left out (a FHIR mapping is
  // optional; an empty device mapping is "not written yet", not an error).
  function mappingsBody(t) {
    const body = {};
    if (t.device.trim()) body.deviceMapping = t.device;
    if (t.fhir.trim()) body.fhirMapping = t.fhir;
    return body;
  }

  function toProblems(items, severity) {
    const out = { device: [], fhir: [] };
    for (const e of items || []) {
      const which = e.file === 'fhirMapping' ? 'fhir' : 'device';
      out[which].push({ line: e.line || 0, column: e.column || 0, message: e.message, severity, category: e.category });
    }
    return out;
  }

  let validateSeq = 0;
  async function runValidate() {
    const t = texts();
    const body = mappingsBody(t);
    const seq = ++validateSeq;
    if (!body.deviceMapping && !body.fhirMapping) {
      problems.device = [];
      problems.fhir = [];
      renderProblems();
      return;
    }
    const answer = await api.post('/api/mappings/validate', body);
    if (unmounted || seq !== validateSeq) return; // a newer check is on its way
    if (!answer.ok || !answer.body || typeof answer.body !== 'object') {
      renderProblems(`Could not check the mappings: ${errorMessage(answer)}`);
      return;
    }
    const errs = toProblems(answer.body.errors, 'error');
    const warns = toProblems(answer.body.warnings, 'warning');
    problems.device = [...errs.device, ...warns.device];
    problems.fhir = [...errs.fhir, ...warns.fhir];
    renderProblems();
  }

  // ---- Messages -----------------------------------------------------------
  function renderMessages() {
    messageLegend.textContent = `Messages (${state.messages.length})`;
    if (!state.messages.length) {
      messageList.replaceChildren(el('p', { class: 'empty', text: 'No messages yet: paste a device message or pick an example.' }));
    } else {
      const name = uid('editor-message');
      messageList.replaceChildren(...state.messages.map((m, i) => {
        const id = `${name}-${i}`;
        const radio = el('input', { type: 'radio', name, id, value: String(i), checked: i === state.selected });
        radio.addEventListener('change', () => { if (radio.checked) select(i); });
        return el('div', { class: 'editor-message' }, radio, el('label', { for: id, class: 'mono', text: `${i + 1}. ${m.label}` }));
      }));
    }
    const m = state.messages[state.selected];
    selectedBox.hidden = !m;
    if (m && selectedArea.value !== m.text) selectedArea.value = m.text;
  }

  function select(i) {
    state.selected = i;
    renderMessages();
    runTest();
  }

  // Enough for any debugging session; a list of a whole day's events would
  // only slow the page down.
  const MAX_MESSAGES = 1000;
  function addMessages(items) {
    if (!items.length) return;
    const room = MAX_MESSAGES - state.messages.length;
    if (items.length > room) {
      toast(`Only ${MAX_MESSAGES} messages are kept: ${items.length - Math.max(room, 0)} left out`, 'error');
      items = items.slice(0, Math.max(room, 0));
      if (!items.length) return;
    }
    const first = state.messages.length;
    state.messages.push(...items);
    select(first); // the list and the result show it; no toast needed
  }

  function addExample() {
    const [gi, which] = exampleSelect.value.split(':');
    const g = exampleMessages[Number(gi)];
    if (!g) return;
    const picked = which === 'all' ? g.messages : [g.messages[Number(which)]];
    addMessages(picked.map((m) => ({ text: m.text, label: m.label })));
  }

  function addPasted() {
    const items = splitMessages(pasteArea.value).map((text) => ({ text, label: `pasted: ${describeMessage(text)}` }));
    if (!items.length) {
      toast('Nothing to add: paste a JSON message or NDJSON lines first.', 'error');
      pasteArea.focus();
      return;
    }
    pasteArea.value = '';
    addMessages(items);
  }

  async function uploadMessages() {
    const file = uploadInput.files[0];
    if (!file) return;
    const { text } = await readFile(file);
    const items = splitMessages(text).map((t, i, all) => ({ text: t, label: `${file.name}${all.length > 1 ? ` line ${i + 1}` : ''}: ${describeMessage(t)}` }));
    uploadInput.value = '';
    if (!items.length) toast(`${file.name} has no messages`, 'error');
    addMessages(items);
  }

  function removeSelected() {
    if (state.selected < 0) return;
    state.messages.splice(state.selected, 1);
    state.selected = Math.min(state.selected, state.messages.length - 1);
    renderMessages();
    runTest();
  }

  function removeAll() {
    state.messages = [];
    state.selected = -1;
    renderMessages();
    runTest();
  }

  // ---- The test run -------------------------------------------------------
  function emptyResult(text) {
    lastAnswer = null;
    resultStatus.textContent = '';
    resultBox.replaceChildren(el('p', { class: 'empty', text }));
    caseButton.disabled = true;
  }

  function testBody() {
    const t = texts();
    const m = state.messages[state.selected];
    if (!m || !t.device.trim()) return null;
    const body = { ...mappingsBody(t), message: m.text, envelope: state.envelope, resolution: state.resolution };
    if (state.connector) body.connector = state.connector;
    return body;
  }

  let testSeq = 0;
  async function runTest() {
    const seq = ++testSeq;
    const m = state.messages[state.selected];
    if (!m) return emptyResult('Paste a device message or pick an example: what it becomes shows here.');
    const body = testBody();
    if (!body) return emptyResult('Write or open a device mapping (or load the example mappings) to see what this message becomes.');
    resultBox.setAttribute('aria-busy', 'true');
    const answer = await api.post('/api/mappings/test', body);
    if (unmounted || seq !== testSeq) return;
    resultBox.removeAttribute('aria-busy');
    if (!answer.ok || !answer.body || typeof answer.body !== 'object') {
      lastAnswer = null;
      caseButton.disabled = true;
      resultStatus.textContent = `Could not run the message: ${errorMessage(answer)}`;
      resultBox.replaceChildren(el('p', { class: 'error-text', text: `Could not run the message: ${errorMessage(answer)}` }));
      return;
    }
    lastAnswer = answer.body;
    lastAnswerKey = JSON.stringify(body);
    caseButton.disabled = false;
    resultStatus.textContent = summarize(answer.body, state.selected);
    renderResult(resultBox, answer.body, { hasFhir: Boolean(body.fhirMapping) });
  }

  // Debounced: one request ~300 ms after the last keystroke, not one per key.
  let testTimer = null;
  let allTimer = null;
  function scheduleTest() {
    clearTimeout(testTimer);
    timers.delete(testTimer);
    testTimer = later(runTest, DEBOUNCE_MS);
  }

  function scheduleAll() {
    clearTimeout(allTimer);
    timers.delete(allTimer);
    clearTimeout(testTimer);
    timers.delete(testTimer);
    allTimer = later(() => { runValidate(); runTest(); }, DEBOUNCE_MS);
  }

  // ---- Import, export, examples, save -------------------------------------
  async function openFile(which, input) {
    const file = input.files[0];
    if (!file) return;
    const read = await readFile(file);
    input.value = ''; // choosing the same file again is a change too
    if (unmounted) return;
    state[which] = { ...state[which], eol: read.eol, bom: read.bom };
    setText(views[which], read.text);
    toast(`Opened ${file.name} as ${FILES[which].file}`);
  }

  function downloadMapping(which) {
    download(FILES[which].file, fileText(state[which], views[which].state.doc.toString()), 'application/json');
  }

  function loadExampleMappings() {
    // No confirmation dialog: the change is undoable in each editor (Ctrl+Z).
    const hadWork = state.device.text.trim() || state.fhir.text.trim();
    for (const which of Object.keys(FILES)) {
      const text = exampleMappings[FILES[which].api];
      state[which] = { ...state[which], eol: '\n', bom: false };
      setText(views[which], text);
    }
    toast(hadWork ? 'Loaded the example mappings; Ctrl+Z in an editor brings its text back' : 'Loaded the example mappings (examples/mappings/)');
  }

  async function saveToTarget() {
    if (!state.target) return;
    saveButton.disabled = true;
    let answer;
    try {
      const t = texts();
      answer = await state.target.save({ deviceMapping: t.device, fhirMapping: t.fhir });
    } catch (e) {
      answer = { ok: false, message: e.message, errors: [] };
    }
    if (unmounted) return;
    saveButton.disabled = false;
    saveProblems.device = [];
    saveProblems.fhir = [];
    for (const e of answer?.errors || []) {
      const which = e.mapping === 'fhir' ? 'fhir' : 'device';
      saveProblems[which].push({ line: e.line || 0, column: e.column || 0, message: e.message, severity: 'error', source: 'save' });
    }
    renderProblems();
    if (answer?.ok) toast(answer.message || `Saved to ${state.target.label}`, 'ok');
    else toast(answer?.message || `Could not save to ${state.target.label}`, 'error');
  }

  async function saveTestCase() {
    const message = state.messages[state.selected];
    const body = testBody();
    if (!message || !body) return;
    // The expected output must be what these very texts give: run again
    // unless the last answer is for the same request.
    let answer = lastAnswer;
    if (!answer || lastAnswerKey !== JSON.stringify(body)) {
      const fresh = await api.post('/api/mappings/test', body);
      if (!fresh.ok) {
        toast(`Could not run the message: ${errorMessage(fresh)}`, 'error');
        return;
      }
      answer = fresh.body;
    }
    const name = caseFileName(state.caseName || (answer.measurements?.[0]?.Type ? `${answer.measurements[0].Type}-case` : 'no-output-case'));
    const expected = expectedFiles(answer);
    const t = texts();
    const files = [{ name: `${name}/devicecontent.json`, text: fileText(state.device, t.device) }];
    if (t.fhir.trim()) files.push({ name: `${name}/fhirmapping.json`, text: fileText(state.fhir, t.fhir) });
    files.push({ name: `${name}/input.ndjson`, text: oneLine(message.text) + '\n' });
    files.push({ name: `${name}/expected/measurements.ndjson`, text: expected.measurements });
    if (expected.resources) files.push({ name: `${name}/expected/resources.ndjson`, text: expected.resources });
    if (expected.errors) files.push({ name: `${name}/expected/errors.ndjson`, text: expected.errors });
    const caseJson = {
      description: state.caseDescription.trim() || `Saved from the iomt console: ${message.label}`,
      resolution: state.resolution,
      envelope: state.envelope,
    };
    files.push({ name: `${name}/case.json`, text: JSON.stringify(caseJson, null, 2) + '\n' });
    download(`${name}.tar`, tarArchive(files), 'application/x-tar');
    toast(`Saved ${name}.tar: tar xf ${name}.tar, then iomt test ${name}`, 'ok');
  }

  // ---- Connectors ---------------------------------------------------------
  (async () => {
    const answer = await api.get('/connectors');
    if (unmounted) return;
    const names = answer.ok && answer.body && Array.isArray(answer.body.connectors) ? answer.body.connectors.map((c) => c.name).filter(Boolean) : [];
    for (const n of names) connectorSelect.append(el('option', { value: n, text: n }));
    if (state.connector && !names.includes(state.connector)) {
      state.connector = '';
    }
    connectorSelect.value = state.connector;
  })();

  // ---- Start ---------------------------------------------------------------
  renderMessages();
  renderProblems();
  runValidate();
  runTest();

  return {
    unmount() {
      unmounted = true;
      for (const t of timers) clearTimeout(t);
      for (const which of Object.keys(FILES)) {
        state[which].text = views[which].state.doc.toString();
        state[which].cursor = views[which].state.selection.main.head;
        views[which].destroy();
      }
    },
  };
}

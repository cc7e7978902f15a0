// What one message becomes, from the answer of POST /api/mappings/test:
// the measurements, the FHIR resources, or why there are none (the error
// records with their stage and name, the warnings, the explanation of why
// no template matched), and the steps in between.
import { el } from './editor-dom.js';

function valuesText(properties) {
  return (properties || []).map((p) => `${p.Name} = ${p.Value}`).join(', ');
}

// Tables scroll sideways on a narrow screen (focusable, so a keyboard can).
function scrollable(label, table) {
  return el('div', { class: 'editor-table-wrap', role: 'region', 'aria-label': label, tabindex: '0' }, table);
}

function measurementsTable(measurements) {
  return scrollable('Measurements', el('table', { class: 'editor-measurements' },
    el('caption', { class: 'sr-only', text: 'Measurements of the selected message' }),
    el('thead', {}, el('tr', {},
      ['Type', 'Time (UTC)', 'Device', 'Patient', 'Values'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, measurements.map((m) => el('tr', {},
      el('td', { class: 'mono', text: m.Type ?? '' }),
      el('td', { class: 'mono', text: m.OccurrenceTimeUtc ?? '' }),
      el('td', { class: 'mono', text: m.DeviceId ?? '—' }),
      el('td', { class: 'mono', text: m.PatientId ?? '—' }),
      el('td', { class: 'mono', text: valuesText(m.Properties) + (m.EncounterId ? ` (encounter ${m.EncounterId})` : '') }),
    )))));
}

// "8867-4 Heart rate" for a resource's heading.
function resourceTitle(resource, i) {
  const coding = resource?.code?.coding?.[0];
  const code = coding ? ` ${coding.code}${coding.display ? ' ' + coding.display : ''}` : '';
  return `${i + 1}. ${resource?.resourceType || 'Resource'}${code}`;
}

function errorsTable(errors) {
  return scrollable('Errors', el('table', { class: 'editor-errors' },
    el('caption', { class: 'sr-only', text: 'Errors of the selected message' }),
    el('thead', {}, el('tr', {}, ['Stage', 'Error', 'Type', 'Severity', 'Message'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, errors.map((e) => el('tr', {},
      el('td', { text: e.stage ?? '' }),
      el('td', { class: 'mono error-name', text: e.errorName ?? '' }),
      el('td', { class: 'mono', text: e.errorType ?? '' }),
      el('td', { text: e.severity ?? '' }),
      el('td', { class: 'wrap', text: e.message ?? '' }),
    )))));
}

// The measurements whose Patient/Device resolution fails (with a connector:
// against its FHIR service), distinct by error: iomt run would dead-letter
// them, so their Observations would not be written.
function identityFailures(steps) {
  const seen = new Map();
  for (const s of steps || []) {
    const id = s.identity;
    if (id && id.ok === false) {
      const key = `${id.errorName}|${id.message}`;
      if (!seen.has(key)) seen.set(key, id);
    }
  }
  return [...seen.values()];
}

// One sentence for the live region: short, so a screen reader is not
// flooded each time the result is re-run while typing.
export function summarize(answer, index) {
  const n = `Message ${index + 1}`;
  if (!answer) return '';
  const m = answer.measurements?.length || 0;
  const r = answer.resources?.length || 0;
  const plural = (k, word) => `${k} ${word}${k === 1 ? '' : 's'}`;
  if ((answer.mappingErrors || []).length) return `${n}: the mappings have errors; fix them under Problems.`;
  const identity = identityFailures(answer.steps)[0];
  if (identity) return `${n} would not be written: ${identity.errorName} (identity, ${identity.resolution || 'resolution'}).`;
  const stepError = (answer.steps || []).find((s) => s.error);
  if (stepError) return `${n}: ${stepError.error}`;
  if (r > 0) return `${n}: ${plural(m, 'measurement')}, ${plural(r, 'FHIR resource')}.`;
  const first = (answer.errors || [])[0];
  if (first) return `${n} becomes nothing: ${first.errorName} (${first.stage}).`;
  if (m > 0) return `${n}: ${plural(m, 'measurement')}, no FHIR resource.`;
  const warning = (answer.warnings || [])[0];
  return `${n} becomes nothing${warning ? `: ${warning.message}` : '.'}`;
}

// Renders the answer into `box`. hasFhir: whether a FHIR mapping was sent.
export function renderResult(box, answer, { hasFhir }) {
  const measurements = answer.measurements || [];
  const resources = answer.resources || [];
  const errors = answer.errors || [];
  const warnings = answer.warnings || [];
  const explanation = answer.explanation || [];
  const steps = answer.steps || [];
  const parts = [];

  if ((answer.mappingErrors || []).length) {
    parts.push(el('p', { class: 'error-text' },
      `The mappings have ${answer.mappingErrors.length} error${answer.mappingErrors.length === 1 ? '' : 's'} (see Problems): fix them to see what this message becomes.`));
  }

  // Identity problems first: they stop everything else from being written.
  const identity = identityFailures(steps);
  if (identity.length) {
    parts.push(el('div', { class: 'editor-why', role: 'group', 'aria-label': 'Why this message would not be written' },
      el('p', { class: 'editor-why-head', text: 'The Patient or Device cannot be resolved: iomt run would dead-letter this message.' }),
      identity.map((id) => el('dl', { class: 'editor-identity' },
        el('dt', { text: 'Error' }), el('dd', { class: 'mono error-name', text: `${id.errorName}${id.resolution ? ` (${id.resolution})` : ''}` }),
        el('dt', { text: 'Message' }), el('dd', { text: id.message ?? '' }),
        id.cause ? [el('dt', { text: 'Cause' }), el('dd', { text: id.cause })] : null,
        id.fix ? [el('dt', { text: 'Fix' }), el('dd', { text: id.fix })] : null))));
  }

  // Why nothing comes out, first, where it is seen.
  if (resources.length === 0) {
    const why = el('div', { class: 'editor-why', role: 'group', 'aria-label': 'Why this message becomes nothing' });
    let headline;
    if (measurements.length === 0) headline = 'This message becomes no measurement and no FHIR resource.';
    else if (!hasFhir) headline = 'No FHIR mapping: the measurements are shown, nothing is converted to FHIR.';
    else headline = 'These measurements become no FHIR resource.';
    why.append(el('p', { class: 'editor-why-head', text: headline }));
    if (errors.length === 0 && warnings.length === 0 && explanation.length === 0 && hasFhir) {
      why.append(el('p', { class: 'muted', text: 'The server gave no reason.' }));
    }
    parts.push(why);
  }

  parts.push(el('h3', { text: `Measurements (${measurements.length})` }));
  parts.push(measurements.length ? measurementsTable(measurements) : el('p', { class: 'muted', text: 'No measurements.' }));

  if (hasFhir || resources.length) {
    parts.push(el('h3', { text: `FHIR resources (${resources.length})` }));
    if (resources.length === 0) parts.push(el('p', { class: 'muted', text: 'No FHIR resources.' }));
    resources.forEach((resource, i) => {
      parts.push(el('div', { class: 'editor-resource' },
        el('h4', { text: resourceTitle(resource, i) }),
        el('pre', { class: 'editor-json', tabindex: '0', 'aria-label': `${resourceTitle(resource, i)} as JSON`, text: JSON.stringify(resource, null, 2) })));
    });
  }

  if (errors.length) {
    parts.push(el('h3', { text: `Errors (${errors.length})` }));
    parts.push(errorsTable(errors));
  }
  if (warnings.length) {
    parts.push(el('h3', { text: `Warnings (${warnings.length})` }));
    parts.push(el('ul', { class: 'editor-warnings' },
      warnings.map((w) => el('li', { class: 'warn-text' }, w.category ? el('span', { class: 'badge warn', text: w.category }) : null, ' ', w.message ?? ''))));
  }
  if (explanation.length) {
    parts.push(el('h3', { text: 'Explanation' }));
    parts.push(el('ul', { class: 'editor-explanation' }, explanation.map((line) => el('li', { class: 'mono', text: line }))));
  }
  if (steps.length) {
    parts.push(el('h3', { text: 'Steps' }));
    parts.push(el('ol', { class: 'editor-steps' }, steps.map((s) => el('li', {},
      el('span', { text: s.text ?? '' }),
      s.error ? el('div', { class: 'error-text', text: s.error }) : null,
      (s.identityText || []).length
        ? el('ul', { class: s.identity && s.identity.ok === false ? 'error-text' : 'muted' }, s.identityText.map((t) => el('li', { text: t })))
        : null,
    ))));
  }
  box.replaceChildren(...parts);
}

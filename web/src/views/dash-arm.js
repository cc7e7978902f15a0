// What the Provisioning view needs of the ARM-shaped provisioning API
// (docs/provisioning.md) beyond plain calls: resource paths, mapping texts
// sent and read back byte for byte, and the API's validation messages taken
// apart so that each lands under its field.

export const PROVIDER = 'Microsoft.HealthcareApis';

export function groupPath(sub, rg) {
  return `/subscriptions/${encodeURIComponent(sub)}/resourceGroups/${encodeURIComponent(rg)}/providers/${PROVIDER}`;
}

// Provisioning states after which nothing changes by itself.
export function isFinal(state) {
  return !state || state === 'Succeeded' || state === 'Failed' || state === 'Canceled';
}

// The text of the JSON value at `path` (member names) inside `text`, as it is
// written there; null when absent. A small scanner: it skips values without
// building them, so that the span found is the original bytes.
export function rawMember(text, path) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const skipString = () => {
    i++; // the opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipValue = () => {
    ws();
    const start = i;
    if (text[i] === '"') { skipString(); return start; }
    if (text[i] === '{' || text[i] === '[') {
      let depth = 0;
      do {
        if (text[i] === '"') { skipString(); continue; }
        if (text[i] === '{' || text[i] === '[') depth++;
        else if (text[i] === '}' || text[i] === ']') depth--;
        i++;
      } while (depth > 0 && i < text.length);
      return start;
    }
    while (i < text.length && !',}] \t\r\n'.includes(text[i])) i++;
    return start;
  };
  let end = text.length;
  let start = 0;
  for (const key of path) {
    ws();
    if (text[i] !== '{') return null;
    i++;
    let found = false;
    for (;;) {
      ws();
      if (text[i] === '}' || i >= end) return null;
      const keyStart = i;
      skipString();
      let name;
      try { name = JSON.parse(text.slice(keyStart, i)); } catch { return null; }
      ws();
      if (text[i] !== ':') return null;
      i++;
      const valueStart = skipValue();
      if (name === key) {
        start = valueStart;
        end = i;
        i = valueStart;
        found = true;
        break;
      }
      ws();
      if (text[i] === ',') i++;
    }
    if (!found) return null;
  }
  return text.slice(start, end);
}

// A request body with mapping texts put in as they are (not re-serialized:
// the API keeps the bytes, and its error positions are in the text as sent,
// so the positions it answers are those of the textarea). `mappings` maps a
// placeholder value used in `body` to the text that replaces it.
export function spliceBody(body, mappings) {
  let out = JSON.stringify(body);
  for (const [token, text] of Object.entries(mappings)) {
    out = out.split(JSON.stringify(token)).join(text);
  }
  return out;
}

export function newToken() {
  return `@@iomt-mapping-${Math.random().toString(36).slice(2)}-${Date.now()}@@`;
}

// Checks a mapping text is JSON before it is sent (spliced into the body, a
// broken mapping would otherwise be reported at its place in the whole
// body). Answers null, or {line, column, message} in the text.
export function jsonProblem(text) {
  if (!text.trim()) return { line: 1, column: 1, message: 'The mapping is empty: paste or load a mapping (JSON).' };
  try {
    JSON.parse(text);
    return null;
  } catch (e) {
    const message = String(e.message || e);
    const m = /position (\d+)/.exec(message);
    // (A text cut short has no position: its end is where it breaks.)
    const at = m ? Number(m[1]) : (/end of JSON input/i.test(message) ? text.trimEnd().length : null);
    if (at !== null) {
      const { line, column } = lineColumn(text, at);
      const why = message.replace(/\s*\(line \d+ column \d+\)/, '').replace(/\s*in JSON at position \d+/, '');
      return { line, column, message: `Not JSON: ${why}` };
    }
    return { line: 1, column: 1, message: `Not JSON: ${message}` };
  }
}

export function lineColumn(text, offset) {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === '\n') { line++; lineStart = k + 1; }
  }
  return { line, column: offset - lineStart + 1 };
}

export function offsetOf(text, line, column) {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf('\n', offset);
    if (next < 0) return text.length;
    offset = next + 1;
  }
  return Math.min(text.length, offset + Math.max(0, column - 1));
}

// "Invalid deviceMapping mapping. Validation errors: Line Number: 4,
// Position: 53. msg; Line Number: ..." → [{line, column, message}]. An error
// without a position (e.g. "properties.deviceMapping.content is required.")
// is at 1:1.
export function validationErrors(message) {
  const at = message.indexOf('Validation errors: ');
  const list = at >= 0 ? message.slice(at + 'Validation errors: '.length) : message;
  const re = /Line Number: (\d+), Position: (\d+)\. /g;
  const hits = [...list.matchAll(re)];
  if (hits.length === 0) return [{ line: 1, column: 1, message: list }];
  return hits.map((m, k) => {
    const from = m.index + m[0].length;
    // Each message runs to the "; " before the next "Line Number:".
    let to = k + 1 < hits.length ? hits[k + 1].index : list.length;
    let text = list.slice(from, to);
    if (k + 1 < hits.length) text = text.replace(/;\s*$/, '');
    return { line: Number(m[1]), column: Number(m[2]), message: text.trim() };
  });
}

// Which field of the forms an API error belongs under (null: the form's).
const FIELD_BY_CODE = {
  InvalidResourceName: 'name',
  ConnectorNameInUse: 'name',
  LocationRequired: 'location',
  LocationMismatch: 'location',
  InvalidResourceLocation: 'location',
  InvalidEventHubNamespace: 'namespace',
  InvalidDeviceMapping: 'deviceMapping',
  InvalidFhirMapping: 'fhirMapping',
  InvalidFhirServiceResourceId: 'fhirService',
  InvalidFhirServiceKind: 'kind',
};
const FIELD_BY_PROPERTY = [
  [/^location$/, 'location'],
  [/^tags/, 'tags'],
  [/eventHubName$/, 'eventHub'],
  [/consumerGroup$/, 'consumerGroup'],
  [/fullyQualifiedEventHubNamespace$/, 'namespace'],
  [/deviceMapping/, 'deviceMapping'],
  [/fhirMapping/, 'fhirMapping'],
  [/resourceIdentityResolutionType$/, 'resolution'],
  [/fhirServiceResourceId$/, 'fhirService'],
  [/^properties\.url$/, 'url'],
  [/credentials/, 'auth'],
];

export function fieldOfError(error) {
  if (!error) return null;
  if (FIELD_BY_CODE[error.code]) return FIELD_BY_CODE[error.code];
  if (error.code === 'InvalidRequestContent') {
    const m = /'([A-Za-z.]+)'/.exec(error.message || '');
    if (m) {
      for (const [re, field] of FIELD_BY_PROPERTY) if (re.test(m[1])) return field;
    }
    if (/tokenUrl|clientId|clientSecret/.test(error.message || '')) return 'auth';
  }
  return null;
}

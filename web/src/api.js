// Calls to iomt serve's own APIs (same origin). Every call answers
// {status, ok, body, headers}: body is the parsed JSON when the answer is
// JSON, else the text. A network failure answers status 0 with a message,
// so views show it where the data would be instead of throwing.

// The credential the user signed in with (an API key or a bearer token;
// docs/security.md), kept for this tab only and sent as Authorization:
// Bearer. Without one the requests go without credentials, as a server
// with no credentials configured expects.
const CREDENTIAL = 'iomt.credential';
export function credential() {
  try { return sessionStorage.getItem(CREDENTIAL) || ''; } catch { return ''; }
}
export function setCredential(value) {
  try {
    if (value) sessionStorage.setItem(CREDENTIAL, value);
    else sessionStorage.removeItem(CREDENTIAL);
  } catch { /* storage disabled: the credential lasts until the page is left */ }
}
export function authHeaders() {
  const c = credential();
  return c ? { Authorization: `Bearer ${c}` } : {};
}
// A 401 or 403 tells the shell (main.js) to ask for credentials, when the
// request went with the credential the page holds now: the refusal of one
// sent before the user signed in (or out), answered after, says nothing
// about the new credential and must not ask for another.
export function reportRefusal(status, sentWith = credential()) {
  if (sentWith !== credential()) return;
  if (status === 401 || status === 403) window.dispatchEvent(new CustomEvent('iomt-refused', { detail: { status } }));
}

async function call(method, path, body, headers = {}) {
  const sentWith = credential();
  const init = { method, headers: { Accept: 'application/json', ...authHeaders(), ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!init.headers['Content-Type']) init.headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    return { status: 0, ok: false, body: { error: { code: 'NetworkError', message: `iomt serve did not answer: ${e.message}` } }, headers: new Headers() };
  }
  const type = response.headers.get('Content-Type') || '';
  const text = await response.text();
  let parsed = text;
  if (type.includes('json') && text.length > 0) {
    try { parsed = JSON.parse(text); } catch { /* keep the text */ }
  }
  reportRefusal(response.status, sentWith);
  return { status: response.status, ok: response.ok, body: parsed, headers: response.headers };
}

// GET that also keeps the answer's text: a mapping is returned exactly as it
// was sent (indentation included), and the form shows it so, rather than as
// JSON.parse and JSON.stringify would reformat it. Same origin.
export async function getRaw(path) {
  const sentWith = credential();
  let response;
  try {
    response = await fetch(path, { headers: { Accept: 'application/json', ...authHeaders() } });
  } catch (e) {
    return { status: 0, ok: false, text: '', body: { error: { code: 'NetworkError', message: `iomt serve did not answer: ${e.message}` } } };
  }
  const text = await response.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* keep the text */ }
  reportRefusal(response.status, sentWith);
  return { status: response.status, ok: response.ok, text, body, etag: response.headers.get('ETag') };
}

// The message of an error answer, whatever shape the API gave it
// ({"error":{"code","message"}} for provisioning, {"code","message"} for the
// service's own routes, an OperationOutcome for /fhir).
export function errorMessage(answer) {
  const b = answer.body;
  if (b && typeof b === 'object') {
    if (b.error && b.error.message) return `${b.error.code ? b.error.code + ': ' : ''}${b.error.message}`;
    if (b.message) return `${b.code ? b.code + ': ' : ''}${b.message}`;
    if (b.issue && b.issue[0]) return b.issue[0].diagnostics || b.issue[0].code;
  }
  return typeof b === 'string' && b ? b : `HTTP ${answer.status}`;
}

export const api = {
  get: (path, headers) => call('GET', path, undefined, headers),
  post: (path, body, headers) => call('POST', path, body, headers),
  put: (path, body, headers) => call('PUT', path, body, headers),
  del: (path, headers) => call('DELETE', path, undefined, headers),
};

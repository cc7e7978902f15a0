// Calls to iomt serve's own APIs (same origin). Every call answers
// {status, ok, body, headers}: body is the parsed JSON when the answer is
// JSON, else the text. A network failure answers status 0 with a message,
// so views show it where the data would be instead of throwing.

async function call(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
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
  return { status: response.status, ok: response.ok, body: parsed, headers: response.headers };
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

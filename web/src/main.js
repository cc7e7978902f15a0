// The console's shell: a hash router over the views of src/views/, the
// state they share, and the toasts. Each view module exports
// mount(root, ctx) and returns {unmount()}; the router mounts one at a time.
// Routes carry only connector and resource names, never message content
// (device messages are patient data and must not end up in URLs or history).
import './style.css';
import { api, errorMessage, credential, setCredential } from './api.js';
import * as editor from './views/editor.js';
import * as connectors from './views/connectors.js';
import * as deadletters from './views/deadletters.js';
import * as provisioning from './views/provisioning.js';

const views = { editor, connectors, deadletters, provisioning };

// Kept while the page is open (in memory only: sample messages are patient
// data and are not written to the browser's storage).
const shared = {
  editor: null, // the editor's texts and target, set by views/editor.js
  pendingOpen: null, // what openInEditor asked for, taken by the editor on mount
};

function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = document.createElement('div');
  item.className = `toast ${kind}`;
  item.textContent = message;
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// Opens mappings in the editor. `save`, when given, is called with
// {deviceMapping, fhirMapping} (the texts) by the editor's save button and
// answers {ok, message, errors: [{mapping: 'device'|'fhir', line, column, message}]}.
function openInEditor({ deviceMapping, fhirMapping, label, save }) {
  shared.pendingOpen = { deviceMapping, fhirMapping, label, save };
  navigate('#/editor');
}

let current = null;

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const name = views[parts[0]] ? parts[0] : 'editor';
  return { name, params: parts.slice(1) };
}

function route() {
  const { name, params } = parseHash();
  if (current) {
    try { current.unmount(); } catch (e) { console.error(e); }
    current = null;
  }
  const main = document.getElementById('main');
  main.replaceChildren();
  main.dataset.view = name;
  for (const a of document.querySelectorAll('header nav a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const ctx = { api, errorMessage, params, navigate, toast, openInEditor, shared };
  current = views[name].mount(main, ctx) || { unmount() {} };
}

// Sign in: the credential dialog, opened by the button or by the first
// refusal (401/403) while no dialog is open; signing in or out shows the
// current view again with the new credential.
function signInButton() {
  document.getElementById('signin').textContent = credential() ? 'Signed in' : 'Sign in';
}
function openSignIn(why) {
  const dialog = document.getElementById('credential-dialog');
  if (dialog.open) return;
  document.getElementById('credential-why').textContent = why;
  document.getElementById('credential').value = '';
  dialog.showModal();
}
window.addEventListener('DOMContentLoaded', () => {
  const dialog = document.getElementById('credential-dialog');
  signInButton();
  document.getElementById('signin').addEventListener('click', () =>
    openSignIn(credential() ? 'You are signed in. Give another credential, or sign out.' : 'Give an API key or a bearer token.'));
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'save' && document.getElementById('credential').value) {
      setCredential(document.getElementById('credential').value.trim());
    } else if (dialog.returnValue === 'clear') {
      setCredential('');
    } else {
      return;
    }
    document.getElementById('credential').value = '';
    signInButton();
    route();
  });
});
window.addEventListener('iomt-refused', (e) => {
  const refused = e.detail.status === 403;
  // Once while it shows: a view that polls is refused every few seconds,
  // and several calls of one view at once.
  const message = refused ? 'Your credential lacks the role this needs.' : 'This server needs credentials.';
  if (![...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent === message)) toast(message, 'error');
  if (!refused) openSignIn(credential() ? 'The credential was not accepted. Give another.' : 'This server needs credentials for what the page asked.');
});
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', route);

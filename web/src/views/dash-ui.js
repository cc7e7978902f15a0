// Small DOM helpers shared by the Connectors, Dead letters and Provisioning
// views: an element builder (text only, never HTML, so that whatever a
// device or an API sends is shown and not interpreted), a polite announcer
// for status changes, and a confirmation dialog.
import './dash-ui.css';

// el('div', {class: 'x', onclick: f}, child, 'text', [more children])
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (key.startsWith('on') && typeof v === 'function') node.addEventListener(key.slice(2), v);
    else if (key === 'class') node.className = v;
    else if (key === 'text') node.textContent = v;
    else if (key === 'dataset') Object.assign(node.dataset, v);
    else if (key === 'value') value = v; // set last: a select needs its options first, a textarea has no attribute
    else if (key in node && typeof v !== 'string') node[key] = v;
    else node.setAttribute(key, v === true ? '' : String(v));
  }
  append(node, children);
  if (value !== undefined) node.value = value;
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

let idCounter = 0;
// A unique id for label/for and aria-describedby pairs.
export function uid(prefix = 'dash') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// A visually hidden polite live region: status changes (a connector that
// stops being ready, a provisioning state that settles) are announced;
// numbers that tick every two seconds are not put in one (too chatty).
export function announcer(root) {
  const region = el('div', { class: 'dash-sr', role: 'status', 'aria-live': 'polite' });
  root.append(region);
  let pending = [];
  let timer = null;
  return (message) => {
    // Messages of one moment are read together, once.
    pending.push(message);
    clearTimeout(timer);
    timer = setTimeout(() => {
      region.textContent = pending.join(' ');
      pending = [];
    }, 100);
  };
}

const openDialogs = new Set(); // the finish() of each dialog shown

// Closes the dialogs a view left open (as Cancel): a route change (Back)
// must not leave a modal dialog over the next view.
export function closeDialogs() {
  for (const finish of [...openDialogs]) finish(false);
}

// Asks before something that cannot be undone. A modal <dialog>: the
// browser keeps the focus inside, Escape cancels, and the focus goes back to
// what had it. Resolves true when confirmed.
export function confirmDialog({ title, message, confirmLabel = 'OK', danger = false }) {
  return new Promise((resolve) => {
    const returnTo = document.activeElement;
    const titleId = uid('confirm-title');
    const bodyId = uid('confirm-body');
    const cancel = el('button', { type: 'button', text: 'Cancel' });
    const ok = el('button', { type: 'button', class: danger ? 'primary dash-danger-fill' : 'primary', text: confirmLabel });
    const dialog = el('dialog', { class: 'dash-dialog', 'aria-labelledby': titleId, 'aria-describedby': bodyId },
      el('h2', { id: titleId, text: title }),
      el('p', { id: bodyId, class: 'dash-dialog-body', text: message }),
      el('div', { class: 'toolbar dash-dialog-buttons' }, ok, cancel));
    const finish = (answer) => {
      openDialogs.delete(finish);
      if (dialog.open) dialog.close();
      dialog.remove();
      if (returnTo && typeof returnTo.focus === 'function' && document.contains(returnTo)) returnTo.focus();
      resolve(answer);
    };
    ok.addEventListener('click', () => finish(true));
    cancel.addEventListener('click', () => finish(false));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); finish(false); });
    document.body.append(dialog);
    openDialogs.add(finish);
    dialog.showModal();
    // The safe choice has the focus: Enter on a reflex does not delete.
    cancel.focus();
  });
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function formatCount(n) {
  return n === null || n === undefined || Number.isNaN(n) ? '–' : integer.format(n);
}

export function formatRate(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return n >= 100 ? integer.format(n) : decimal.format(n);
}

// Seconds as a latency a person reads: "34 ms", "1.2 s".
export function formatSeconds(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  if (s < 1) return `${decimal.format(s * 1000)} ms`;
  return `${decimal.format(s)} s`;
}

// An ISO time as the local time of day (with the date when not today).
export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso || '');
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

// A badge class for an ErrorSeverity / state word.
export function severityClass(severity) {
  if (severity === 'Critical' || severity === 'Error' || severity === 'Failed') return 'err';
  if (severity === 'Warning' || severity === 'Deleting' || severity === 'Creating' || severity === 'Updating') return 'warn';
  if (severity === 'Succeeded' || severity === 'Running') return 'ok';
  return '';
}

// Forms of the Provisioning view: labelled fields with a hint and an error
// place each (tied to the control with aria-describedby), mapping fields
// whose errors list positions that move the caret there, and the form's own
// error. Browser validation is off (novalidate): the API's messages are the
// ones shown, under the field they are about.
import { el, uid } from './dash-ui.js';
import { offsetOf } from './dash-arm.js';

// spec: {title, fields: [{key, label, type, value, options, hint, readonly,
//   rows, extra(fieldApi) → nodes}], submitLabel, onSubmit(form), onCancel()}
export function buildForm(spec) {
  const titleId = uid('pv-form-title');
  const formError = el('p', { class: 'error-text pv-form-error', role: 'alert', hidden: true });
  const submit = el('button', { type: 'submit', class: 'primary', text: spec.submitLabel });
  const cancel = el('button', { type: 'button', text: 'Cancel' });
  const status = el('span', { class: 'muted pv-form-status', role: 'status' });
  const fields = new Map();

  const form = el('form', { class: 'panel pv-form', novalidate: true, 'aria-labelledby': titleId, dataset: { kind: spec.kind || '' } },
    el('h2', { id: titleId, tabindex: '-1', text: spec.title }),
    spec.note ? el('p', { class: 'pv-note', text: spec.note }) : null,
    formError,
    spec.fields.map((f) => field(f)),
    el('div', { class: 'toolbar pv-form-buttons' }, submit, cancel, status));

  function field(f) {
    const id = uid(`pv-${f.key}`);
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    let control;
    if (f.type === 'textarea') {
      control = el('textarea', {
        id, name: f.key, rows: String(f.rows || 4), spellcheck: 'false', autocomplete: 'off', value: f.value ?? '',
        placeholder: f.placeholder, class: f.mapping ? 'pv-mapping' : null,
      });
    } else if (f.type === 'select') {
      control = el('select', { id, name: f.key, value: f.value ?? '' },
        (f.options || []).map(([value, text]) => el('option', { value, text })));
    } else {
      control = el('input', {
        id, name: f.key, type: f.type || 'text', value: f.value ?? '', readOnly: Boolean(f.readonly),
        autocomplete: f.type === 'password' ? 'new-password' : 'off', spellcheck: 'false', placeholder: f.placeholder,
      });
    }
    control.setAttribute('aria-describedby', `${f.hint ? hintId : ''} ${errorId}`.trim());
    const error = el('div', { class: 'field-error', id: errorId });
    const wrapper = el('div', { class: `pv-field pv-field-${f.type || 'text'}`, dataset: { field: f.key } },
      el('label', { for: id, text: f.label }),
      control,
      f.hint ? el('div', { class: 'pv-hint muted', id: hintId, text: f.hint }) : null,
      error);
    const api = { key: f.key, control, wrapper, error, mapping: f.mapping };
    // A mapping's errors (a list of positions) go right under the text.
    if (f.mapping) wrapper.insertBefore(error, control.nextSibling);
    if (f.extra) wrapper.append(el('div', { class: 'pv-field-tools' }, f.extra(api)));
    if (f.hidden) wrapper.hidden = true;
    fields.set(f.key, api);
    return wrapper;
  }

  let busy = false;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true, 'Saving…');
    try {
      await spec.onSubmit(api);
    } finally {
      setBusy(false);
    }
  });
  cancel.addEventListener('click', () => spec.onCancel());
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !e.defaultPrevented) { e.preventDefault(); spec.onCancel(); }
  });

  function setBusy(value, text = '') {
    busy = value;
    submit.disabled = value;
    status.textContent = text;
  }

  const api = {
    node: form,
    fields,
    value(key) { return fields.get(key)?.control.value ?? ''; },
    set(key, value) { if (fields.has(key)) fields.get(key).control.value = value; },
    show(key, visible) { if (fields.has(key)) fields.get(key).wrapper.hidden = !visible; },
    values() {
      const out = {};
      for (const [key, f] of fields) out[key] = f.control.value;
      return out;
    },
    clearErrors() {
      formError.hidden = true;
      formError.textContent = '';
      for (const f of fields.values()) {
        f.error.replaceChildren();
        f.control.removeAttribute('aria-invalid');
      }
    },
    // message: text, or a list of {line, column, message} for a mapping.
    fieldError(key, message) {
      const f = fields.get(key);
      if (!f || f.wrapper.hidden) return false;
      f.control.setAttribute('aria-invalid', 'true');
      if (Array.isArray(message)) {
        f.error.replaceChildren(
          el('span', { text: `${message.length} ${message.length === 1 ? 'problem' : 'problems'} in the mapping:` }),
          el('ul', { class: 'pv-positions' }, message.map((m) => el('li', {},
            el('button', {
              type: 'button', class: 'pv-goto', text: `Line ${m.line}, column ${m.column}`,
              title: 'Put the caret there',
              onclick: () => goTo(f.control, m.line, m.column),
            }), `: ${m.message}`))));
      } else {
        f.error.textContent = message;
      }
      return true;
    },
    formError(message) {
      formError.hidden = false;
      formError.textContent = message;
    },
    // The first field with an error gets the focus (its label, hint and
    // error are read with it); else the form's error, else the heading.
    focusProblem() {
      for (const f of fields.values()) {
        if (f.control.getAttribute('aria-invalid') === 'true') { f.control.focus(); return; }
      }
      form.querySelector('h2').focus();
    },
    focusFirst() {
      for (const f of fields.values()) {
        if (!f.wrapper.hidden && !f.control.readOnly) { f.control.focus(); return; }
      }
      form.querySelector('h2').focus();
    },
    status(text) { status.textContent = text; },
  };
  return api;
}

// Puts the caret of a textarea at line:column and scrolls it into view.
export function goTo(textarea, line, column) {
  const offset = offsetOf(textarea.value, line, column);
  textarea.focus();
  textarea.setSelectionRange(offset, offset);
  const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
  textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
}

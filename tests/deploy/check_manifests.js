// Checks Kubernetes manifests offline against the API's types
// (kubernetes-types 1.30, the TypeScript declarations generated from the
// Kubernetes OpenAPI): every document's kind is known, every field name
// exists where it is written, every value has its field's type, required
// fields are present. No cluster and no network: the TypeScript compiler
// type-checks each document as a typed constant.
//
//   node check_manifests.js FILE.yaml...   prints one line per problem; exit 1 if any
//
// What it cannot know: allowed values of enums written as strings, ranges,
// name formats, and what only a cluster checks (a selector matching its
// template). The test beside it checks the iomt-specific parts.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const yaml = require('js-yaml');
const ts = require('typescript');

const typesDir = path.dirname(require.resolve('kubernetes-types/package.json'));
// apiVersion -> the declaration file of its group and version.
const modules = {
  v1: 'core/v1',
  'apps/v1': 'apps/v1',
  'batch/v1': 'batch/v1',
  'policy/v1': 'policy/v1',
  'networking.k8s.io/v1': 'networking/v1',
  'rbac.authorization.k8s.io/v1': 'rbac/v1',
  'autoscaling/v2': 'autoscaling/v2',
};

function kindExists(module, kind) {
  const file = path.join(typesDir, `${module}.d.ts`);
  return fs.existsSync(file) && new RegExp(`^export interface ${kind} \\{`, 'm').test(fs.readFileSync(file, 'utf8'));
}

// The generated source, one property per line, and for each line the
// document and field path it came from, so that a diagnostic names the
// field in the YAML.
const lines = [];
const where = [];
function emit(text, at) {
  lines.push(text);
  where.push(at);
}
function append(text) {
  lines[lines.length - 1] += text;
}
function literal(value, at) {
  if (Array.isArray(value)) {
    append('[');
    value.forEach((item, i) => {
      emit('', `${at}[${i}]`);
      literal(item, `${at}[${i}]`);
      append(',');
    });
    emit(']', at);
  } else if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    append('{');
    for (const [key, item] of Object.entries(value)) {
      if (item === null) continue; // YAML's "key:" with nothing: absent, as the API server reads it
      emit(`${JSON.stringify(key)}:`, `${at}.${key}`);
      literal(item, `${at}.${key}`);
      append(',');
    }
    emit('}', at);
  } else {
    append(JSON.stringify(value instanceof Date ? value.toISOString() : value));
  }
}

const problems = [];
const documents = [];
for (const file of process.argv.slice(2)) {
  let docs;
  try {
    docs = yaml.loadAll(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    problems.push(`${file}: not YAML: ${e.message.split('\n')[0]}`);
    continue;
  }
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    const name = `${file}#${i + 1} ${doc.kind}/${doc.metadata?.name ?? '?'}`;
    const module = modules[doc.apiVersion];
    if (!module || !kindExists(module, doc.kind)) {
      problems.push(`${name}: unknown apiVersion/kind ${doc.apiVersion}/${doc.kind}`);
      return;
    }
    const n = documents.push(name);
    emit(`import type { ${doc.kind} as T${n} } from "kubernetes-types/${module}";`, name);
    emit(`export const d${n}: T${n} = `, name);
    literal(doc, name);
    append(';');
  });
}

const fileName = path.join(__dirname, '__manifests__.ts');
const options = {
  noEmit: true,
  strict: true,
  skipLibCheck: true,
  types: [],
  baseUrl: __dirname,
  moduleResolution: ts.ModuleResolutionKind.Node10,
};
const host = ts.createCompilerHost(options);
const readSource = host.getSourceFile.bind(host);
host.getSourceFile = (name, language, ...rest) => {
  if (path.resolve(name) === fileName) return ts.createSourceFile(name, lines.join('\n'), language);
  // A quantity is a string or a number to the API server ("1", 1, "512Mi").
  if (name.endsWith(path.join('kubernetes-types', 'api', 'resource.d.ts'))) {
    const text = ts.sys.readFile(name).replace('export type Quantity = string;', 'export type Quantity = string | number;');
    return ts.createSourceFile(name, text, language);
  }
  return readSource(name, language, ...rest);
};
const fileExists = host.fileExists.bind(host);
host.fileExists = (name) => path.resolve(name) === fileName || fileExists(name);

const program = ts.createProgram([fileName], options, host);
const checker = program.getTypeChecker();
const source = program.getSourceFile(fileName);
const diagnostics = [...ts.getPreEmitDiagnostics(program)];
const reported = new Set(diagnostics.map((d) => d.start));
// The compiler stops reporting unknown fields of an object once it has
// another error: every object literal's keys are checked here as well.
function checkKeys(node) {
  if (ts.isObjectLiteralExpression(node)) {
    const contextual = checker.getContextualType(node);
    const type = contextual && checker.getNonNullableType(contextual);
    const open = !type || type.isUnion() || (type.flags & ts.TypeFlags.Any) || checker.getIndexInfosOfType(type).length;
    if (!open) {
      for (const property of node.properties) {
        const key = property.name.text;
        const start = property.getStart(source);
        if (!type.getProperty(key) && !reported.has(start)) {
          reported.add(start);
          diagnostics.push({ file: source, start, messageText: `unknown field '${key}' in ${checker.typeToString(type)}` });
        }
      }
    }
  }
  ts.forEachChild(node, checkKeys);
}
checkKeys(source);

for (const d of diagnostics) {
  const line = d.file ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
  const message = ts.flattenDiagnosticMessageText(d.messageText, ' ').replace(/\s+/g, ' ').slice(0, 240);
  problems.push(`${where[line] ?? '?'}: ${message}`);
}
for (const p of problems) console.log(p);
if (problems.length > 0) {
  process.exitCode = 1;
} else {
  console.log(`${documents.length} documents: every kind, field and type as Kubernetes 1.30 has them`);
}

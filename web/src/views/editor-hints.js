// What the mapping editor says about a problem besides the server's own
// message: where exactly to mark it, and a suggested fix derived from the
// message text. The server reports Json.NET-style messages (iomt-fhir's
// texts) with a 1-based line and column; these helpers are plain functions
// of strings so they can be reasoned about without an editor.

export const DEVICE_TEMPLATE_TYPES = ['JsonPathContent', 'IotJsonPathContent', 'IotCentralJsonPathContent', 'CalculatedContent', 'CollectionContent'];
export const FHIR_TEMPLATE_TYPES = ['CodeValueFhir', 'CollectionFhirTemplate'];
const VALUE_TYPES = ['SampledData', 'Quantity', 'String', 'CodeableConcept'];

// Members that mapping templates have (device and FHIR), to suggest the
// nearest one when a member name is misspelt.
const KNOWN_MEMBERS = [
  'templateType', 'template', 'typeName', 'typeMatchExpression', 'deviceIdExpression', 'patientIdExpression',
  'encounterIdExpression', 'timestampExpression', 'correlationIdExpression', 'values', 'valueName',
  'valueExpression', 'required', 'defaultExpressionLanguage', 'value', 'language', 'periodInterval',
  'category', 'codes', 'code', 'system', 'display', 'text', 'valueType', 'unit', 'components', 'defaultPeriod',
];

function distance(a, b) {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const keep = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = keep;
    }
  }
  return row[b.length];
}

export function nearest(word, candidates, maxDistance = 3) {
  let best = null;
  let bestDistance = maxDistance + 1;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

const lowerFirst = (s) => s.charAt(0).toLowerCase() + s.slice(1);
const quoteChar = (c) => (c === '"' ? 'a quote (")' : `'${c}'`);

// A suggested fix for a problem, or null. `which` is 'device' or 'fhir';
// `lineText` is the text of the line the problem is at ('' when none).
export function suggestFix(message, which, lineText = '') {
  let m;
  if ((m = /^Unexpected character encountered while parsing value: (.)\. Path '([^']*)'/.exec(message))) {
    if (m[1] === ']' || m[1] === '}') return `Remove the comma before this '${m[1]}' (JSON allows no trailing comma), or add the missing value (near ${m[2] || 'the top'}).`;
    return `Check the JSON near ${m[2] || 'the top'}: a value must be a "string", a number, true, false, null, an object or an array.`;
  }
  if ((m = /^Invalid character after parsing property name\. Expected ':' but got: (.)/.exec(message))) {
    return `Check the JSON near here: a member is "name": value, so a quote or the ':' is missing (found ${quoteChar(m[1])}).`;
  }
  if ((m = /^After parsing a value an unexpected character was encountered: (.)/.exec(message))) {
    return `Add the missing comma before ${quoteChar(m[1])}: members and array items are separated by commas.`;
  }
  if (/^Unexpected end when reading JSON/.test(message)) {
    return lineText.trim() === '' && /line 1, position 1\./.test(message)
      ? 'The mapping is empty: write a JSON object, or load the example mappings.'
      : "The text ends too early: a closing '}' or ']' is missing.";
  }
  if (/^Unterminated string/.test(message)) return 'Close the string with a quote (") on the same line.';
  if ((m = /^Additional text encountered after finished reading JSON content: (.)/.exec(message))) {
    return `Remove what follows the mapping's last '}' (found ${quoteChar(m[1])}), or wrap both in one object.`;
  }
  if (/^Unexpected character encountered while parsing|^Invalid property identifier character|^Bad JSON escape/.test(message)) {
    return 'Check the JSON near here: names and strings need double quotes (").';
  }
  if ((m = /^Required property '([^']+)' not found in JSON/.exec(message))) {
    return `Add the required member "${lowerFirst(m[1])}" to this object.`;
  }
  if ((m = /^No match found for template type (.*)\.$/.exec(message))) {
    const valid = which === 'fhir' ? FHIR_TEMPLATE_TYPES : DEVICE_TEMPLATE_TYPES;
    const near = nearest(m[1], valid, 6);
    return `Use one of the template types of a ${which === 'fhir' ? 'FHIR' : 'device'} mapping: ${valid.join(', ')}${near ? ` (did you mean ${near}?)` : ''}.`;
  }
  if ((m = /^Expected TemplateType value (\w+), actual/.exec(message))) {
    const want = m[1].replace(/Template$/, '');
    return `The outer templateType must be "${want === 'CollectionContent' ? 'CollectionContent' : want}"${which === 'fhir' ? ' (or CollectionFhirTemplate)' : ''}.`;
  }
  if ((m = /^Could not find member '([^']+)' on object of type '([^']+)'/.exec(message))) {
    const near = nearest(m[1], KNOWN_MEMBERS);
    return near ? `Did you mean "${near}"? Member names are case-sensitive.` : `Remove "${m[1]}": a ${m[2]} has no such member.`;
  }
  if ((m = /^The following (JsonPath|JmesPath) expression could not be parsed: .*Cause: (.*)$/.exec(message))) {
    return m[1] === 'JsonPath'
      ? `Fix the JSONPath expression (${m[2]}); e.g. $.Body.heartRate, or a filter $..[?(@Body.heartRate)].`
      : `Fix the JMESPath expression (${m[2]}); check the brackets and backticks of literals such as \`32\`.`;
  }
  if ((m = /^Could not convert string to (boolean|decimal|integer|double)/.exec(message))) {
    return m[1] === 'boolean' ? 'Write true or false, without quotes.' : 'Write a number, without quotes.';
  }
  if (/^ObservationPeriodInterval .* is not supported/.test(message)) {
    return 'Set periodInterval to 0 (one Observation per reading), 60 (hourly), 1440 (daily) or -1 (by correlation id).';
  }
  if (/^Property ValueType is missing/.test(message) || /"valueType"/.test(lineText)) {
    return `Set "valueType" to one of ${VALUE_TYPES.join(', ')}.`;
  }
  if ((m = /^No matching Fhir Template exists for Device Mapping \[([^\]]+)\]/.exec(message))) {
    return `Add a CodeValueFhir template with "typeName": "${m[1]}" to the FHIR mapping, or correct the case of one that exists.`;
  }
  if ((m = /^The value \[([^\]]+)\] in Device Mapping \[([^\]]+)\] is not represented/.exec(message))) {
    return `Read the value "${m[1]}" in the FHIR template "${m[2]}" (its value's or a component's valueName), or rename it here.`;
  }
  if (/^Duplicate template defined for type name/.test(message)) return 'Give each FHIR template its own typeName.';
  if (/^An expression must be set for \[(\w+)\]/.test(message)) {
    const name = /\[(\w+)\]/.exec(message)[1];
    return `Give "${lowerFirst(name)}" an expression (a JSONPath string, or {"value": ..., "language": "JmesPath"}).`;
  }
  return null;
}

// Where to mark a problem reported at a 1-based column of a line: the token
// at that column, or the string that ends just before it (Json.NET reports
// some positions just after the value in question, e.g. an unknown
// templateType's value). Answers 0-based [from, to) offsets in the line; a
// column past the line's end is its end.
export function markRange(lineText, column) {
  const len = lineText.length;
  let at = Math.max(0, Math.min(len, (column || 1) - 1));
  const stringEndingBefore = (end) => {
    // end is the index of a closing quote; find its opening quote.
    for (let i = end - 1; i >= 0; i--) {
      if (lineText[i] === '"' && lineText[i - 1] !== '\\') return [i, end + 1];
    }
    return null;
  };
  const ch = lineText[at];
  if (ch === '"') {
    const close = lineText.indexOf('"', at + 1);
    if (close > at) return [at, close + 1];
  }
  if (ch !== undefined && /[\w.$@+-]/.test(ch)) {
    let end = at;
    while (end < len && /[\w.$@+-]/.test(lineText[end])) end++;
    return [at, end];
  }
  // Skip back over a comma or spaces to a string that ends there.
  let back = at - 1;
  while (back >= 0 && /[\s,]/.test(lineText[back])) back--;
  if (back >= 0 && lineText[back] === '"' && (ch === undefined || /[\s,:}\]]/.test(ch))) {
    const range = stringEndingBefore(back);
    if (range) return range;
  }
  if (at < len) return [at, at + 1];
  // At the end of the line: the last character, so there is something to see.
  return len > 0 ? [len - 1, len] : [0, 0];
}

// For "No match found for template type X": the value string to replace.
export function templateTypeValueRange(lineText, badType) {
  const needle = JSON.stringify(badType);
  const at = lineText.indexOf(needle);
  return at < 0 ? null : [at, at + needle.length];
}

// The examples the mapping editor offers: the bundled example mappings
// (examples/mappings/) and device messages that exercise them. They are
// imported as text from examples/ at build time (esbuild's `type: 'text'`
// import attribute), so the page shows the very bytes of those files and
// cannot drift from them; nothing is fetched at run time.
import deviceMappingText from '../../examples/mappings/devicecontent.json' with { type: 'text' };
import fhirMappingText from '../../examples/mappings/fhirmapping.json' with { type: 'text' };
import wardText from '../../examples/events/ward.ndjson' with { type: 'text' };
import wearablesText from '../../examples/events/wearables.ndjson' with { type: 'text' };
import iothubVitalsText from '../../examples/messages/iothub-vitals.json' with { type: 'text' };
import iotCentralText from '../../examples/messages/iotcentral-telemetry.json' with { type: 'text' };
import patchText from '../../examples/messages/patch-readings.json' with { type: 'text' };

export const exampleMappings = {
  deviceMapping: deviceMappingText,
  fhirMapping: fhirMappingText,
};

function lines(text) {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '');
}

// A one-line description of a message, from its shape, so that the labels
// stay right if the example files change.
export function describeMessage(text) {
  let m;
  try {
    m = JSON.parse(text);
  } catch {
    return `not JSON: ${text.slice(0, 40)}${text.length > 40 ? '…' : ''}`;
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) return `${Array.isArray(m) ? 'a JSON array' : 'a JSON ' + typeof m}`;
  const keys = (o) => (o && typeof o === 'object' ? Object.keys(o) : []);
  if (m.Body && m.SystemProperties) {
    const device = m.SystemProperties['iothub-connection-device-id'];
    const readings = keys(m.Body).filter((k) => !/patient|device|time|At$/i.test(k));
    return `IoT Hub event from ${device || '(no device id)'}: ${readings.join(', ')}${m.Body.patientId ? '' : ' (no patientId)'}`;
  }
  if (m.telemetry) {
    return `IoT Central telemetry from ${m.deviceId}: ${keys(m.telemetry).join(', ')}`;
  }
  if (Array.isArray(m.readings)) {
    const kinds = [...new Set(m.readings.flatMap((r) => keys(r).filter((k) => k !== 'ts')))];
    return `${m.deviceId}: ${m.readings.length} readings (${kinds.join(', ')})`;
  }
  if (m.metric) return `${m.deviceId}: ${m.metric} ${m.value}`;
  if (m.event) return `${m.deviceId}: event ${m.event}`;
  const device = m.deviceId || m.deviceid || '(no device id)';
  const readings = keys(m).filter((k) => !/^(device|patient)id$|time$/i.test(k));
  return `${device}: ${readings.join(', ')}`;
}

function group(title, file, text, note) {
  return {
    title,
    note,
    messages: lines(text).map((message, i) => ({
      label: `${file} line ${i + 1}: ${describeMessage(message)}`,
      text: message,
    })),
  };
}

function single(file, text) {
  return { label: `${file}: ${describeMessage(text)}`, text };
}

// Groups of example messages. Every group can be loaded whole, or one
// message at a time.
export const exampleMessages = [
  group('Ward events (the example mappings)', 'ward.ndjson', wardText,
    '22 events: IoT Hub monitors, flat JSON watches, a patch with arrays of readings (CalculatedContent, JMESPath), IoT Central; lines 7, 9, 17 and 19 are bad on purpose'),
  {
    title: 'Single messages (the example mappings)',
    note: 'pretty-printed messages',
    messages: [
      single('iothub-vitals.json', iothubVitalsText),
      single('iotcentral-telemetry.json', iotCentralText),
      single('patch-readings.json', patchText),
    ],
  },
  group("Wearables (iomt-fhir's basic sample mapping)", 'wearables.ndjson', wearablesText,
    'written for conformance/iomt-fhir/sample/templates/basic/: with the example mappings no template matches, which shows why a message gives nothing'),
];

// One CodeMirror 6 editor for a mapping file, and the translation of the
// server's problems (1-based line and column) into lint diagnostics.
//
// The editor lives in a shadow root: CodeMirror injects its styles through
// style-mod, which writes a <style> element into a document (refused by the
// console's Content-Security-Policy, style-src 'self') but uses a
// constructable stylesheet (adoptedStyleSheets, which CSP does not govern)
// inside a shadow root. So the page keeps its strict policy.
//
// Tab is not bound: it moves focus on, as everywhere else on the page, so a
// keyboard user is never trapped. Indenting is Ctrl+] / Ctrl+[ (and Enter
// indents by itself).
import { EditorState } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentOnInput, foldGutter, foldKeymap } from '@codemirror/language';
import { json } from '@codemirror/lang-json';
import { lintGutter, lintKeymap, setDiagnostics } from '@codemirror/lint';
import { markRange, suggestFix, templateTypeValueRange, DEVICE_TEMPLATE_TYPES, FHIR_TEMPLATE_TYPES } from './editor-hints.js';

// The look, inside the shadow root (the page's CSS does not reach it).
const theme = EditorView.theme({
  '&': { height: '100%', fontSize: '13px', backgroundColor: '#fff' },
  '&.cm-focused': { outline: '3px solid #f0b400', outlineOffset: '-3px' },
  '.cm-scroller': { fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace', overflow: 'auto' },
  '.cm-gutters': { backgroundColor: '#f6f8fa', color: '#57606a', borderRight: '1px solid #d0d7de' },
  '.cm-activeLine': { backgroundColor: '#f3f7fc' },
  '.cm-activeLineGutter': { backgroundColor: '#e3ebf5' },
  '.cm-tooltip-lint': { maxWidth: '36em', fontFamily: 'system-ui, sans-serif', fontSize: '13px' },
  '.cm-diagnosticText': { whiteSpace: 'pre-wrap' },
  '.cm-diagnostic-fix': { display: 'block', marginTop: '4px', color: '#1b1f24' },
  '.cm-diagnostic-fix strong': { fontWeight: '600' },
  '.cm-diagnosticAction': { backgroundColor: '#0b5cad' },
});

// Creates the editor in `host` (an element of the page). onChange(text) is
// called on every edit.
export function createMappingEditor(host, { text, label, onChange }) {
  const shadow = host.shadowRoot || host.attachShadow({ mode: 'open' });
  const state = EditorState.create({
    doc: text,
    extensions: [
      lineNumbers(),
      highlightActiveLineGutter(),
      foldGutter(),
      lintGutter(),
      history(),
      drawSelection(),
      indentOnInput(),
      bracketMatching(),
      highlightActiveLine(),
      syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
      json(),
      EditorState.tabSize.of(2),
      keymap.of([...defaultKeymap, ...historyKeymap, ...foldKeymap, ...lintKeymap]),
      EditorView.contentAttributes.of({ 'aria-label': label, 'aria-multiline': 'true' }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) onChange(update.state.doc.toString());
      }),
      theme,
    ],
  });
  const view = new EditorView({ state, parent: shadow, root: shadow });
  return view;
}

// Replaces the editor's whole text (an import, an example) as one undoable change.
export function setText(view, text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

// The 0-based [from, to) document range of a problem at a 1-based line and
// column; line 0 (no position) marks the first line.
export function problemRange(doc, line, column) {
  if (!line || line < 1) {
    const first = doc.line(1);
    return [first.from, first.to];
  }
  const l = doc.line(Math.min(line, doc.lines));
  const [a, b] = markRange(l.text, line > doc.lines ? l.length + 1 : column);
  return [l.from + a, l.from + b];
}

// The problem as a lint diagnostic of `view`. problem: {line, column,
// message, severity: 'error'|'warning', which: 'device'|'fhir'}.
export function toDiagnostic(view, problem) {
  const doc = view.state.doc;
  const lineText = problem.line >= 1 && problem.line <= doc.lines ? doc.line(problem.line).text : '';
  let [from, to] = problemRange(doc, problem.line, problem.column);
  const fix = problem.fix !== undefined ? problem.fix : suggestFix(problem.message, problem.which, lineText);
  const diagnostic = {
    from,
    to,
    severity: problem.severity,
    source: problem.source || 'iomt',
    message: fix ? `${problem.message}\nSuggested fix: ${fix}` : problem.message,
    renderMessage() {
      const box = document.createElement('div');
      box.textContent = problem.message;
      if (fix) {
        const hint = document.createElement('span');
        hint.className = 'cm-diagnostic-fix';
        const strong = document.createElement('strong');
        strong.textContent = 'Suggested fix: ';
        hint.append(strong, fix);
        box.append(hint);
      }
      return box;
    },
  };
  // An unknown template type: offer the valid ones as one-click replacements.
  const unknown = /^No match found for template type (.*)\.$/.exec(problem.message);
  if (unknown && lineText) {
    const range = templateTypeValueRange(lineText, unknown[1]);
    if (range) {
      const lineFrom = doc.line(problem.line).from;
      diagnostic.from = lineFrom + range[0];
      diagnostic.to = lineFrom + range[1];
      const valid = problem.which === 'fhir' ? FHIR_TEMPLATE_TYPES : DEVICE_TEMPLATE_TYPES;
      diagnostic.actions = valid.map((type) => ({
        name: type,
        apply(v, f, t) {
          v.dispatch({ changes: { from: f, to: t, insert: JSON.stringify(type) } });
        },
      }));
    }
  }
  return diagnostic;
}

export function showProblems(view, problems) {
  view.dispatch(setDiagnostics(view.state, problems.map((p) => toDiagnostic(view, p))));
}

// Puts the cursor on a problem and the focus in the editor.
export function goTo(view, problem) {
  const [from, to] = problemRange(view.state.doc, problem.line, problem.column);
  view.dispatch({ selection: { anchor: from, head: to }, scrollIntoView: true });
  view.focus();
}

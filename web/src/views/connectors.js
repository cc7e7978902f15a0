// Placeholder until the view is written.
export function mount(root) {
  root.textContent = 'connectors: not built yet';
  return { unmount() {} };
}

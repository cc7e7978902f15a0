// Placeholder until the view is written.
export function mount(root) {
  root.textContent = 'editor: not built yet';
  return { unmount() {} };
}

// Placeholder until the view is written.
export function mount(root) {
  root.textContent = 'deadletters: not built yet';
  return { unmount() {} };
}

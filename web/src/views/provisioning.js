// Placeholder until the view is written.
export function mount(root) {
  root.textContent = 'provisioning: not built yet';
  return { unmount() {} };
}

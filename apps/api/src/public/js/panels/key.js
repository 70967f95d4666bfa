/** The API key field: filled from storage, saved as it is typed, forgotten on request. */

/** @param {HTMLFormElement} root @param {import('../main.js').Context} ctx */
export function mount(root, ctx) {
  const input = root.querySelector('input[name="key"]');
  input.value = ctx.keys.get();
  root.addEventListener('submit', (event) => event.preventDefault());
  // 'change' fires on blur or Enter: one event per key, not per keystroke.
  input.addEventListener('change', () => {
    ctx.keys.set(input.value.trim());
    ctx.bus.emit('key', ctx.keys.get());
  });
  root.querySelector('[data-action="forget"]').addEventListener('click', () => {
    input.value = '';
    ctx.keys.set('');
    ctx.bus.emit('key', '');
    input.focus();
  });
}

/** The request form: prompt and settings in, a new generation out (or the API's error). */
import { formBody, showError } from '../dom.js';

const NUMERIC = ['width', 'height', 'seed', 'steps', 'guidance_scale', 'n'];

/** @param {HTMLElement} root @param {import('../main.js').Context} ctx */
export function mount(root, ctx) {
  const form = root.querySelector('form');
  const button = form.querySelector('button[type="submit"]');
  const error = root.querySelector('[data-role="error"]');

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(error, null);
    button.disabled = true;
    try {
      const body = formBody(form, NUMERIC);
      // Sent even when empty: the API says what it expects.
      body.prompt = form.elements.namedItem('prompt').value;
      const generation = await ctx.api.submit(body);
      ctx.bus.emit('submitted', generation);
      ctx.follower.open(generation);
    } catch (failure) {
      showError(error, failure);
    } finally {
      button.disabled = false;
    }
  });
}

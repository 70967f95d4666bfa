/**
 * The request form: prompt, settings, reference images to edit and whether to stop at
 * the plan, in; a new generation out (or the API's error).
 */
import { formBody, showError } from '../dom.js';
import { ReferencePicker } from '../reference-picker.js';

const NUMERIC = ['width', 'height', 'seed', 'steps', 'guidance_scale', 'n'];

/** @param {HTMLElement} root @param {import('../main.js').Context} ctx */
export function mount(root, ctx) {
  const form = root.querySelector('form');
  const button = form.querySelector('button[type="submit"]');
  const error = root.querySelector('[data-role="error"]');
  const part = (role) => root.querySelector(`[data-role="${role}"]`);
  const references = new ReferencePicker({
    input: part('reference-input'),
    list: part('references'),
    note: part('reference-note'),
  });
  const planOnly = part('plan-only');

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(error, null);
    button.disabled = true;
    try {
      const body = formBody(form, NUMERIC);
      // Sent even when empty: the API says what it expects.
      body.prompt = form.elements.namedItem('prompt').value;
      const images = references.dataUrls();
      if (images) body.reference_images = images;
      if (planOnly.checked) body.decode = false;
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

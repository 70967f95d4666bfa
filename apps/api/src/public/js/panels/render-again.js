/**
 * Render again: a succeeded generation's stored plan decoded anew with another seed,
 * steps or guidance, without running the planner. A re-render's own plan is its
 * source's, so renders of renders go back to that source.
 */
import { formBody, showError, TERMINAL } from '../dom.js';

/** @param {HTMLElement} root @param {import('../main.js').Context} ctx */
export function mount(root, ctx) {
  const form = root.querySelector('form');
  const button = form.querySelector('button[type="submit"]');
  const error = root.querySelector('[data-role="error"]');
  let source = null;

  function show(generation) {
    // A plan-only generation is decoded first by its "Approve and decode" button.
    const renderable = generation.status === 'succeeded' && generation.input.decode !== false;
    const planId = generation.input.source_generation_id ?? generation.id;
    if (renderable && planId !== source) {
      // A new plan: start from its settings, with a fresh random seed.
      form.elements.namedItem('seed').value = '';
      form.elements.namedItem('steps').value = String(generation.input.steps);
      form.elements.namedItem('guidance_scale').value = String(generation.input.guidance_scale);
      showError(error, null);
    }
    // A render still running keeps the panel in place (disabled) so it does not jump away.
    const rendering = Boolean(generation.input.source_generation_id) && !TERMINAL.has(generation.status);
    source = renderable || rendering ? planId : null;
    root.hidden = source === null;
    button.disabled = !renderable;
  }

  ctx.bus.on('open', show);
  ctx.bus.on('update', show);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!source) return;
    showError(error, null);
    button.disabled = true;
    try {
      const generation = await ctx.api.render(source, formBody(form, ['seed', 'steps', 'guidance_scale']));
      ctx.bus.emit('submitted', generation);
      ctx.follower.open(generation);
    } catch (failure) {
      showError(error, failure);
      button.disabled = false;
    }
  });
}

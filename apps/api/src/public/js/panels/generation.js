/**
 * The generation on show: its status, a progress bar per stage, the layout preview as
 * soon as the planner has made it, then the images, the timings of each stage, and a
 * cancel button while it runs; an edit shows the pictures it was made from. A plan-only generation ends at its preview, with a button
 * that approves the plan: it starts the render and follows it to the image.
 */
import { ApiError } from '../api.js';
import { el, formatBytes, formatMs, showError, TERMINAL } from '../dom.js';

/** Status only moves forward; an answer that arrives late must not move the page back. */
const RANK = { queued: 0, planning: 1, decoding: 2, succeeded: 3, failed: 3, canceled: 3 };

const TIMINGS = [
  ['queued_ms', 'Queued'],
  ['plan_ms', 'Planner'],
  ['decode_ms', 'Decoder'],
  ['upload_ms', 'Upload'],
  ['total_ms', 'Total'],
];

function fraction(progress) {
  return progress.total ? Math.min(1, (progress.step ?? 0) / progress.total) : 0;
}

/** What each stage's bar shows: how far it is, in a few words. */
function stages(generation, before) {
  const { status, progress, input, timings } = generation;
  const source = input.source_generation_id;
  const planned =
    Boolean(source || generation.preview) ||
    status === 'decoding' ||
    status === 'succeeded' ||
    progress.stage === 'decoding' ||
    progress.stage === 'uploading';
  const plan = { value: before.plan.value, text: before.plan.text };
  if (source) Object.assign(plan, { value: 1, text: `reused the plan of ${source}` });
  else if (planned) Object.assign(plan, { value: 1, text: `done in ${formatMs(timings.plan_ms)}` });
  else if (progress.stage === 'planning' && progress.total) {
    plan.value = Math.max(plan.value, fraction(progress));
    plan.text = `${progress.step ?? 0} / ${progress.total} tokens`;
  } else if (status === 'queued') {
    plan.text = generation.queue_position ? `waiting, position ${generation.queue_position}` : 'waiting';
  }

  const decode = { value: before.decode.value, text: before.decode.text };
  if (status === 'succeeded' && isPlanOnly(generation))
    Object.assign(decode, { value: 0, text: 'plan only: waiting for approval' });
  else if (status === 'succeeded')
    Object.assign(decode, { value: 1, text: `done in ${formatMs(timings.decode_ms)}` });
  else if (progress.stage === 'uploading') Object.assign(decode, { value: 1, text: 'uploading' });
  else if (progress.stage === 'decoding' && status === 'decoding') {
    decode.value = Math.max(decode.value, fraction(progress));
    decode.text = progress.step ? `${progress.step} / ${progress.total} steps` : 'waiting for a decoder';
  }
  if (status === 'failed' || status === 'canceled') {
    if (plan.value < 1) plan.text = status;
    if (decode.value < 1) decode.text = status;
  }
  return { plan, decode };
}

/** Submitted with `decode: false`: its plan waits to be approved (rendered). */
function isPlanOnly(generation) {
  return generation.input.decode === false;
}

function statusText(generation) {
  if (generation.cancel_requested) return 'Canceling…';
  const text = generation.status[0].toUpperCase() + generation.status.slice(1);
  return generation.status === 'queued' && generation.queue_position
    ? `${text} (position ${generation.queue_position})`
    : text;
}

/** @param {HTMLElement} root @param {import('../main.js').Context} ctx */
export function mount(root, ctx) {
  const part = (role) => root.querySelector(`[data-role="${role}"]`);
  const cancel = root.querySelector('[data-action="cancel"]');
  const approve = root.querySelector('[data-action="approve"]');
  const previewFigure = part('preview');
  const editedFrom = part('edited-from');
  const outputs = part('outputs');
  const error = part('error');
  /**
   * What has been shown of the current generation. Each generation gets its own state and
   * its own <img> elements, so that a download finishing after another generation was
   * opened lands nowhere visible.
   */
  let shown = null;
  const isShown = (state) => shown === state;

  function showPreview(generation, state) {
    const img = el('img', { 'data-testid': 'preview-image', alt: 'Layout preview made by the planner' });
    previewFigure.querySelector('img').replaceWith(img);
    state.previewShown = ctx.images.show(img, generation.preview.url).then(
      () => {
        if (isShown(state)) previewFigure.hidden = false;
      },
      (failure) => {
        if (isShown(state)) showError(error, failure);
      },
    );
  }

  /** The reference images an edit was made from, as the API stored them. */
  function showReferences(generation, state) {
    const images = generation.input.reference_images.map((reference, index) => {
      const img = el('img', { 'data-testid': 'edited-from-image', alt: `Reference image [${index}]` });
      ctx.images.show(img, reference.url).then(
        () => {
          if (isShown(state)) editedFrom.hidden = false;
        },
        (failure) => {
          if (isShown(state)) showError(error, failure);
        },
      );
      return img;
    });
    part('edited-from-images').replaceChildren(...images);
  }

  async function showOutputs(generation, state) {
    // The preview first, then the images, in the order a person expects them.
    await state.previewShown;
    for (const [index, output] of generation.outputs.entries()) {
      if (!isShown(state)) return;
      const img = el('img', {
        'data-testid': 'output-image',
        alt: `Image ${index + 1} of "${generation.input.prompt}"`,
        width: output.width,
        height: output.height,
      });
      const link = el('a', { download: `${generation.id}-${index}.${output.format}` }, 'Download');
      const figure = el(
        'figure',
        { class: 'output', hidden: true },
        img,
        el(
          'figcaption',
          {},
          `${output.width}×${output.height} ${output.format.toUpperCase()}, ${formatBytes(output.bytes)} · `,
          link,
        ),
      );
      outputs.append(figure);
      try {
        await ctx.images.show(img, output.url);
        link.href = img.src;
        figure.hidden = false;
      } catch (failure) {
        if (isShown(state)) showError(error, failure);
      }
    }
  }

  function render(generation) {
    if (!shown || generation.id !== shown.id) return;
    if (RANK[generation.status] < RANK[shown.status]) return;
    shown.status = generation.status;

    part('id').textContent = generation.id;
    part('prompt').textContent = generation.input.prompt;
    const badge = part('status');
    badge.textContent = statusText(generation);
    badge.dataset.status = generation.status;

    shown.stages = stages(generation, shown.stages);
    for (const stage of ['plan', 'decode']) {
      part(`${stage}-progress`).value = shown.stages[stage].value;
      part(`${stage}-detail`).textContent = shown.stages[stage].text;
    }

    if (generation.error) showError(error, new ApiError(0, generation.error.code, generation.error.message));
    if (generation.input.reference_images?.length && !shown.referencesShown) {
      shown.referencesShown = true;
      showReferences(generation, shown);
    }
    if (generation.preview && !shown.previewShown) showPreview(generation, shown);
    if (generation.outputs.length > 0 && !shown.outputsShown) {
      shown.outputsShown = true;
      showOutputs(generation, shown);
    }

    part('timings').replaceChildren(
      ...TIMINGS.filter(([field]) => generation.timings[field] !== undefined).flatMap(([field, label]) => [
        el('dt', {}, label),
        el('dd', {}, formatMs(generation.timings[field])),
      ]),
    );
    const ended = TERMINAL.has(generation.status);
    cancel.hidden = ended;
    cancel.disabled = ended || Boolean(generation.cancel_requested);
    part('approve').hidden = !(generation.status === 'succeeded' && isPlanOnly(generation));
    approve.disabled = false;
  }

  ctx.bus.on('open', (generation) => {
    const empty = { value: 0, text: '' };
    shown = { id: generation.id, status: 'queued', stages: { plan: empty, decode: empty } };
    previewFigure.hidden = true;
    editedFrom.hidden = true;
    part('edited-from-images').replaceChildren();
    outputs.replaceChildren();
    showError(error, null);
    part('connection').textContent = '';
    root.hidden = false;
    render(generation);
  });
  ctx.bus.on('update', render);
  ctx.bus.on('connection', (state) => {
    part('connection').textContent = state === 'reconnecting' ? 'connection lost, reconnecting…' : '';
  });
  ctx.bus.on('follow-error', (failure) => showError(error, failure));

  approve.addEventListener('click', async () => {
    if (!shown) return;
    approve.disabled = true;
    showError(error, null);
    try {
      // The plan's own decoder settings; "Render again" takes others afterwards.
      const render = await ctx.api.render(shown.id, {});
      ctx.bus.emit('submitted', render);
      ctx.follower.open(render);
    } catch (failure) {
      showError(error, failure);
      approve.disabled = false;
    }
  });

  cancel.addEventListener('click', async () => {
    if (!shown) return;
    cancel.disabled = true;
    try {
      render(await ctx.api.cancel(shown.id));
    } catch (failure) {
      showError(error, failure);
      cancel.disabled = false;
    }
  });
}

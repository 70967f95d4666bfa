/**
 * The caller's recent generations, newest first, each with a thumbnail; choosing one
 * shows it (and follows it if it is still running). Reloaded when the key changes, when
 * a generation is submitted and when the one on show ends.
 */
import { el, showError } from '../dom.js';

const PAGE_SIZE = 12;

/** What else a person should know of an entry: a render, an edit, a plan waiting for approval. */
function kind(input) {
  const kinds = [];
  if (input.source_generation_id) kinds.push('render');
  if (input.reference_images?.length) kinds.push('edit');
  if (input.decode === false) kinds.push('plan only');
  return kinds.map((k) => ` · ${k}`).join('');
}

/** @param {HTMLElement} root @param {import('../main.js').Context} ctx */
export function mount(root, ctx) {
  const list = root.querySelector('[data-role="list"]');
  const message = root.querySelector('[data-role="message"]');
  const more = root.querySelector('[data-action="more"]');
  let cursor = null;
  /** Only the latest load may write the list. */
  let loads = 0;

  function item(generation) {
    const image = generation.outputs[0] ?? generation.preview;
    const thumbnail = el('img', { alt: '', 'data-testid': 'history-thumbnail', hidden: true });
    if (image) {
      ctx.images.show(thumbnail, image.url).then(
        () => {
          thumbnail.hidden = false;
        },
        () => {}, // the entry still shows without its picture
      );
    }
    const when = new Date(generation.created_at);
    const { input } = generation;
    const button = el(
      'button',
      {
        type: 'button',
        class: 'history-item',
        'data-id': generation.id,
        'aria-current': ctx.follower.current?.id === generation.id ? 'true' : undefined,
        onclick: () => ctx.follower.open(generation),
      },
      el('span', { class: 'thumbnail' }, thumbnail),
      el('span', { class: 'badge', 'data-status': generation.status }, generation.status),
      el('span', { class: 'history-prompt' }, generation.input.prompt),
      el(
        'span',
        { class: 'history-meta' },
        `${input.width}×${input.height} · seed ${input.seed}${kind(input)} · `,
        el('time', { datetime: generation.created_at }, when.toLocaleTimeString()),
      ),
    );
    return el('li', {}, button);
  }

  async function load(append) {
    const ticket = ++loads;
    if (!ctx.keys.get()) {
      list.replaceChildren();
      more.hidden = true;
      message.hidden = false;
      message.textContent = 'Enter your API key to see your generations.';
      return;
    }
    try {
      const page = await ctx.api.list({ limit: PAGE_SIZE, cursor: append ? cursor : undefined });
      if (ticket !== loads) return;
      cursor = page.next_cursor;
      const items = page.items.map(item);
      if (append) list.append(...items);
      else list.replaceChildren(...items);
      more.hidden = !cursor;
      message.hidden = list.childElementCount > 0;
      message.textContent = 'No generations yet.';
    } catch (failure) {
      if (ticket !== loads) return;
      message.hidden = false;
      showError(message, failure);
    }
  }

  root.querySelector('[data-action="refresh"]').addEventListener('click', () => load(false));
  more.addEventListener('click', () => load(true));
  ctx.bus.on('key', () => {
    ctx.images.clear();
    load(false);
  });
  ctx.bus.on('submitted', () => load(false));
  ctx.bus.on('ended', () => load(false));
  ctx.bus.on('open', (generation) => {
    for (const button of list.querySelectorAll('.history-item')) {
      if (button.dataset.id === generation.id) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    }
  });
  load(false);
}

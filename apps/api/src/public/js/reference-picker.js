/**
 * The reference images of an edit: picked from files, shown as thumbnails each with a
 * remove button, sent as `data:` URLs in the order shown. The files' contents are read
 * once, when picked; the API judges them (type, size, pixels) and names the index of
 * one it refuses (`reference_images[1]`), which is the index each thumbnail shows.
 */
import { el } from './dom.js';

/** As many reference images as the API takes. */
export const MAX_REFERENCES = 4;

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error(`${file.name} could not be read`));
    reader.readAsDataURL(file);
  });
}

export class ReferencePicker {
  /**
   * @param {object} parts
   * @param {HTMLInputElement} parts.input the file input
   * @param {HTMLElement} parts.list where the thumbnails go
   * @param {HTMLElement} parts.note a line for what the picker could not take
   */
  constructor({ input, list, note }) {
    this.input = input;
    this.list = list;
    this.note = note;
    /** @type {Array<{ name: string, dataUrl: string }>} */
    this.picked = [];
    input.addEventListener('change', () => this.#add([...input.files]));
  }

  /** The `reference_images` of a request, or undefined when none are picked. */
  dataUrls() {
    return this.picked.length > 0 ? this.picked.map((image) => image.dataUrl) : undefined;
  }

  async #add(files) {
    // Cleared, so picking the same file again (after removing it) fires `change` again.
    this.input.value = '';
    const room = MAX_REFERENCES - this.picked.length;
    const taken = files.slice(0, Math.max(0, room));
    const problems = [];
    if (files.length > taken.length) {
      problems.push(`Up to ${MAX_REFERENCES} reference images: ${files.length - taken.length} not added.`);
    }
    for (const file of taken) {
      try {
        this.picked.push({ name: file.name, dataUrl: await readAsDataUrl(file) });
      } catch (error) {
        problems.push(`${file.name}: ${error.message}`);
      }
    }
    this.note.textContent = problems.join(' ');
    this.note.hidden = problems.length === 0;
    this.#show();
  }

  #remove(index) {
    this.picked.splice(index, 1);
    this.note.hidden = true;
    this.#show();
  }

  #show() {
    this.list.replaceChildren(
      ...this.picked.map((image, index) =>
        el(
          'li',
          { 'data-testid': 'reference' },
          el('img', { src: image.dataUrl, alt: `Reference image [${index}]: ${image.name}` }),
          // The index the API's errors name (reference_images[i]).
          el('span', {}, `[${index}] ${image.name}`),
          el(
            'button',
            {
              type: 'button',
              'aria-label': `Remove reference image [${index}]`,
              onclick: () => this.#remove(index),
            },
            'Remove',
          ),
        ),
      ),
    );
    this.input.disabled = this.picked.length >= MAX_REFERENCES;
  }
}

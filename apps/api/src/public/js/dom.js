/** Small DOM helpers shared by the panels. */
import { ApiError } from './api.js';

/** `el('li', { class: 'item' }, child, 'text')`; attributes starting with `on` become listeners. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Shows an error the way the API worded it, with its code and when to retry; `null` hides it. */
export function showError(box, error) {
  box.replaceChildren();
  box.hidden = error === null;
  if (error === null) return;
  if (error instanceof ApiError) {
    box.append(el('strong', { class: 'code' }, error.code), ' ', error.message);
    if (error.retryAfter !== null)
      box.append(' ', el('span', { class: 'retry' }, `(Retry-After: ${error.retryAfter} s)`));
  } else {
    box.append(String(error?.message ?? error));
  }
}

export function formatMs(ms) {
  if (ms === undefined || ms === null) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatBytes(bytes) {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} kB` : `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

/**
 * The form's filled-in fields as a request body: empty fields are left out so the API
 * fills in its defaults; numbers travel as numbers, and text that is not a number as it
 * is, so that the API names the field it refuses.
 */
export function formBody(form, numericFields) {
  const body = {};
  for (const [name, raw] of new FormData(form)) {
    const value = String(raw).trim();
    if (value === '') continue;
    if (numericFields.includes(name)) {
      const number = Number(value);
      body[name] = Number.isFinite(number) ? number : value;
    } else {
      body[name] = value;
    }
  }
  return body;
}

export const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

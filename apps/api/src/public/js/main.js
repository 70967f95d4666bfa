/**
 * The playground's entry: builds what the panels share (the API client, the image
 * cache, the event bus, the follower of the generation on show) and mounts each panel
 * on its `data-panel` section. A new panel is a module with `mount(root, ctx)` and a
 * section in index.html.
 */
import { Api } from './api.js';
import { Bus } from './bus.js';
import { Follower } from './follow.js';
import { ImageCache } from './images.js';
import { KeyStore } from './keys.js';
import * as generate from './panels/generate.js';
import * as generation from './panels/generation.js';
import * as history from './panels/history.js';
import * as key from './panels/key.js';
import * as renderAgain from './panels/render-again.js';

/**
 * @typedef {object} Context
 * @property {Api} api
 * @property {Bus} bus
 * @property {KeyStore} keys
 * @property {ImageCache} images
 * @property {Follower} follower
 */

const PANELS = {
  key,
  generate,
  generation,
  'render-again': renderAgain,
  history,
};

const keys = new KeyStore();
const api = new Api(() => keys.get());
const bus = new Bus();
/** @type {Context} */
const ctx = { api, bus, keys, images: new ImageCache(api), follower: new Follower(api, bus) };

for (const [name, panel] of Object.entries(PANELS)) {
  const root = document.querySelector(`[data-panel="${name}"]`);
  if (root) panel.mount(root, ctx);
}

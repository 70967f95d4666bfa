/**
 * Images the API streams need the Authorization header, which an <img> cannot send: they
 * are downloaded once as blobs and shown through object URLs. Outputs never change once
 * written, so each URL is fetched once; the oldest object URLs are released past a bound.
 */
import { apiImagePath } from './api.js';

const MAX_CACHED = 120;

export class ImageCache {
  /** @param {import('./api.js').Api} api */
  constructor(api) {
    this.api = api;
    /** @type {Map<string, Promise<string>>} */
    this.cache = new Map();
  }

  /** A URL an <img> can show: an object URL for the API's routes, a public bucket URL as it is. */
  source(url) {
    const path = apiImagePath(url);
    if (path === null) return Promise.resolve(url);
    const cached = this.cache.get(url);
    if (cached) return cached;
    const loading = this.api.blob(path).then((blob) => URL.createObjectURL(blob));
    this.cache.set(url, loading);
    loading.catch(() => this.cache.delete(url)); // a failed download may be tried again
    while (this.cache.size > MAX_CACHED) {
      const [oldest, objectUrl] = this.cache.entries().next().value;
      this.cache.delete(oldest);
      objectUrl.then((u) => URL.revokeObjectURL(u)).catch(() => {});
    }
    return loading;
  }

  /** Shows `url` in `img` and resolves once it is decoded, so callers can order what appears. */
  async show(img, url) {
    img.src = await this.source(url);
    await img.decode();
  }

  clear() {
    for (const objectUrl of this.cache.values())
      objectUrl.then((u) => URL.revokeObjectURL(u)).catch(() => {});
    this.cache.clear();
  }
}

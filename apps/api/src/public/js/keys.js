/** The API key, kept in the browser's local storage so that it survives a reload. */
const STORAGE_KEY = 'glm-image.api-key';

export class KeyStore {
  constructor(storage = localStorage) {
    this.storage = storage;
  }

  get() {
    return this.storage.getItem(STORAGE_KEY) ?? '';
  }

  set(key) {
    if (key) this.storage.setItem(STORAGE_KEY, key);
    else this.storage.removeItem(STORAGE_KEY);
  }
}

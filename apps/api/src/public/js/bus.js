/**
 * How panels hear about each other without knowing each other: one event target with
 * named events. A new panel subscribes to what it needs and nothing else changes.
 *
 * Events (detail):
 * - `key` (string): the API key changed
 * - `open` (generation): a generation became the one shown
 * - `update` (generation): the shown generation changed (an event arrived)
 * - `ended` (generation): the shown generation reached a terminal status
 * - `connection` ('live' | 'reconnecting' | 'closed'): the event stream's state
 * - `follow-error` (ApiError): the event stream could not be followed
 * - `submitted` (generation): a new generation (or render) was accepted
 */
export class Bus extends EventTarget {
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  on(type, listener) {
    this.addEventListener(type, (event) => listener(event.detail));
  }
}

/**
 * The generation on show: opening one stops following the previous one, and a generation
 * still running is followed over its event stream until it ends. Every event carries the
 * whole generation object, so panels only ever render the latest one.
 */
import { TERMINAL } from './dom.js';
import { followEvents } from './sse.js';

export class Follower {
  /**
   * @param {import('./api.js').Api} api
   * @param {import('./bus.js').Bus} bus
   */
  constructor(api, bus) {
    this.api = api;
    this.bus = bus;
    this.current = null;
    this.aborter = null;
  }

  open(generation) {
    this.aborter?.abort();
    this.aborter = new AbortController();
    this.current = generation;
    this.bus.emit('open', generation);
    if (TERMINAL.has(generation.status)) {
      this.bus.emit('connection', 'closed');
      return;
    }
    this.#follow(generation.id, this.aborter.signal);
  }

  #update(generation, signal) {
    if (signal.aborted) return;
    this.current = generation;
    this.bus.emit('update', generation);
    if (TERMINAL.has(generation.status)) this.bus.emit('ended', generation);
  }

  async #follow(id, signal) {
    try {
      const result = await followEvents({
        path: this.api.eventsPath(id),
        headers: () => this.api.authHeaders(),
        signal,
        onEvent: (event) => this.#update(JSON.parse(event.data), signal),
        isFinal: (event) => event.event.startsWith('generation.'),
        onConnection: (state) => {
          if (!signal.aborted) this.bus.emit('connection', state);
        },
      });
      if (result !== 'ended' || signal.aborted) return;
      this.bus.emit('connection', 'closed');
      // A 204 says it ended while nobody was listening: read where it ended.
      if (!TERMINAL.has(this.current?.status)) this.#update(await this.api.get(id), signal);
    } catch (error) {
      if (!signal.aborted) this.bus.emit('follow-error', error);
    }
  }
}

/**
 * The page's own event-stream reader (js/sse.js, plain browser JavaScript, which Node
 * runs as it is): the format's corner cases, and resuming with Last-Event-ID after the
 * server drops the connection, against a real HTTP server on loopback.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

interface SseEvent {
  id: string;
  event: string;
  data: string;
}

interface SseModule {
  SseParser: new () => { push(text: string): SseEvent[]; lastEventId: string; retry: number | null };
  followEvents(options: {
    path: string;
    headers: () => Record<string, string>;
    signal: AbortSignal;
    onEvent: (event: SseEvent) => void;
    isFinal: (event: SseEvent) => boolean;
    onConnection?: (state: string) => void;
  }): Promise<'ended' | 'aborted'>;
}

// Loaded by URL: it is the browser's module, not part of the TypeScript program.
const sse = (await import(new URL('./js/sse.js', import.meta.url).href)) as SseModule;

describe('the event-stream parser', () => {
  it('reads events split anywhere across chunks, with any line ending', () => {
    const text =
      'retry: 2000\n\n: keep-alive\r\nid: 1-0\r\nevent: status\r\ndata: {"a":1}\r\n\r\n' +
      'id: 2-0\revent: progress\rdata: line one\rdata:line two\r\r' +
      'data: no id or name\n\n';
    // One character at a time: every chunk boundary, a CR LF split in two included.
    const parser = new sse.SseParser();
    const events = [...text].flatMap((char) => parser.push(char));
    expect(events).toEqual([
      { id: '1-0', event: 'status', data: '{"a":1}' },
      { id: '2-0', event: 'progress', data: 'line one\nline two' },
      { id: '2-0', event: 'message', data: 'no id or name' },
    ]);
    expect(parser.retry).toBe(2000);
    expect(parser.lastEventId).toBe('2-0');
  });

  it('keeps an event whose last line has not ended until it does', () => {
    const parser = new sse.SseParser();
    expect(parser.push('id: 7-0\ndata: partial')).toEqual([]);
    expect(parser.push('\n\n')).toEqual([{ id: '7-0', event: 'message', data: 'partial' }]);
  });
});

describe('following a stream', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('resumes after a dropped connection from the last event seen, with the headers asked for', async () => {
    const requests: IncomingHttpHeaders[] = [];
    server = createServer((req, res) => {
      requests.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (requests.length === 1) {
        // Two events, half of a third, then the connection drops.
        res.write(
          'retry: 5\n\nid: 1-0\nevent: status\ndata: queued\n\nid: 2-0\nevent: progress\ndata: 1\n\nid: 3-0\nda',
          () => res.socket?.destroy(),
        );
      } else {
        res.end('id: 3-0\nevent: progress\ndata: 2\n\nid: 4-0\nevent: generation.succeeded\ndata: done\n\n');
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    const seen: SseEvent[] = [];
    const states: string[] = [];
    const result = await sse.followEvents({
      path: `http://127.0.0.1:${port}/v1/generations/g/events`,
      headers: () => ({ authorization: 'Bearer k' }),
      signal: new AbortController().signal,
      onEvent: (event) => seen.push(event),
      isFinal: (event) => event.event.startsWith('generation.'),
      onConnection: (state) => states.push(state),
    });

    expect(result).toBe('ended');
    expect(seen.map((e) => `${e.id} ${e.event} ${e.data}`)).toEqual([
      '1-0 status queued',
      '2-0 progress 1',
      '3-0 progress 2',
      '4-0 generation.succeeded done',
    ]);
    expect(requests.map((h) => [h.authorization, h['last-event-id']])).toEqual([
      ['Bearer k', undefined],
      ['Bearer k', '2-0'],
    ]);
    expect(states).toEqual(['live', 'reconnecting', 'live']);
  });

  it('stops at an answer it cannot get past, with the API error', async () => {
    server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'No generation g' } }));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await expect(
      sse.followEvents({
        path: `http://127.0.0.1:${port}/v1/generations/g/events`,
        headers: () => ({}),
        signal: new AbortController().signal,
        onEvent: () => {},
        isFinal: () => false,
      }),
    ).rejects.toMatchObject({ status: 404, code: 'not_found', message: 'No generation g' });
  });

  it('ends when the server answers 204: nothing more will come', async () => {
    server = createServer((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const result = await sse.followEvents({
      path: `http://127.0.0.1:${port}/events`,
      headers: () => ({}),
      signal: new AbortController().signal,
      onEvent: () => {},
      isFinal: () => false,
    });
    expect(result).toBe('ended');
  });
});

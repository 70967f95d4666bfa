/**
 * The SSE clients of the watchers benchmark, in a process of their own (forked by
 * bench/sse-watchers.ts) so that the API's process holds only its own sockets and the
 * clients' parsing does not run on its event loop. Told a list of stream URLs, it opens
 * them, says `ready` once every stream has delivered the generation's first two events,
 * and says `done` with what it saw once every stream has ended (or when asked to report).
 *
 * Latency: each `progress` event carries the wall-clock time its write was made
 * (`metadata.sent_at`, performance.timeOrigin + performance.now() of the writer); the
 * client subtracts it from the time it read the event. Both run on one machine's clock.
 * Frames are split by hand and the stamp is picked out of the JSON without parsing it
 * whole: 2,000 clients share one core, and what is measured is the server, not them.
 */
import { type IncomingMessage, request } from 'node:http';

export type ToClients = { type: 'open'; urls: string[]; authorization?: string } | { type: 'report' };

export interface ClientsReport {
  type: 'done';
  /** Every stream ended after its terminal event (false: reported on request, some still open). */
  complete: boolean;
  streams: number;
  /** Streams the server refused or ended before the terminal event. */
  failed: number;
  eventsReceived: number;
  latenciesMs: number[];
}

export type FromClients = { type: 'ready' } | ClientsReport;

const OPEN_BATCH = 100;
const now = () => performance.timeOrigin + performance.now();

const SENT_AT = /"sent_at":([\d.]+)/;

/** One event of an SSE frame: its name and its data line(s), or null for a comment or a retry frame. */
function frameEvent(frame: string): { event: string; data: string } | null {
  let event = '';
  let data = '';
  for (const line of frame.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  return event ? { event, data } : null;
}

/** Opens an SSE stream; resolves with the response once its headers have arrived. */
function get(url: string, authorization: string | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: authorization ? { authorization } : {}, agent: false }, resolve);
    req.on('error', reject);
    req.end();
  });
}

function post(message: FromClients): void {
  process.send?.(message);
}

async function run(urls: string[], authorization: string | undefined): Promise<void> {
  const latenciesMs: number[] = [];
  let eventsReceived = 0;
  let failed = 0;
  /** Streams that have delivered their first two events, or failed. */
  let settled = 0;
  let ended = 0;
  const report = (complete: boolean) =>
    post({ type: 'done', complete, streams: urls.length, failed, eventsReceived, latenciesMs });
  process.on('message', (message: ToClients) => {
    if (message.type === 'report') report(false);
  });
  const settle = () => {
    settled += 1;
    if (settled === urls.length) post({ type: 'ready' });
  };

  /** Resolves once the stream's response has arrived, with the reading of its events. */
  const open = async (url: string): Promise<{ reading: Promise<void> }> => {
    let seen = 0;
    let terminal = false;
    const finish = () => {
      if (!terminal) failed += 1;
      if (seen < 2) settle();
      ended += 1;
    };
    let res: IncomingMessage;
    try {
      res = await get(url, authorization);
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    } catch {
      finish();
      return { reading: Promise.resolve() };
    }
    res.setEncoding('utf8');
    const reading = new Promise<void>((resolve) => {
      let pending = '';
      res.on('data', (chunk: string) => {
        pending += chunk;
        const frames = pending.split('\n\n');
        pending = frames.pop() ?? '';
        for (const frame of frames) {
          const message = frameEvent(frame);
          if (!message) continue;
          eventsReceived += 1;
          seen += 1;
          const sentAt = message.event === 'progress' ? SENT_AT.exec(message.data)?.[1] : undefined;
          if (sentAt !== undefined) latenciesMs.push(now() - Number(sentAt));
          if (message.event.startsWith('generation.')) terminal = true;
          if (seen === 2) settle();
        }
      });
      res.on('close', resolve);
      res.on('error', resolve);
    }).then(finish);
    return { reading };
  };

  const reading: Promise<void>[] = [];
  // Connect in batches so that the listen backlog is never what limits the run.
  for (let i = 0; i < urls.length; i += OPEN_BATCH) {
    const opened = await Promise.all(urls.slice(i, i + OPEN_BATCH).map(open));
    reading.push(...opened.map((stream) => stream.reading));
  }
  await Promise.all(reading);
  report(ended === urls.length && failed === 0);
}

process.once('message', (message: ToClients) => {
  if (message.type === 'open') void run(message.urls, message.authorization);
});

/**
 * A worker's own counters, read from its /metrics the way Prometheus scrapes them: what
 * a fault test proves about the work a worker did (an image rendered once, not twice)
 * rests on the worker's account, not on a stand-in.
 */

/** The value of the first sample of `name` whose labels include every `labels` pair; 0 when none. */
export async function metricValue(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(url)).text();
  const wanted = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  const line = text
    .split('\n')
    .find(
      (l) =>
        (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && wanted.every((pair) => l.includes(pair)),
    );
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** Images a decoder rendered: the count of its `decode` stage timings. */
export function imagesRendered(decoderMetricsUrl: string): Promise<number> {
  return metricValue(decoderMetricsUrl, 'glm_stage_duration_seconds_count', { stage: 'decode' });
}

/** Resolves once the worker behind `metricsUrl` answers its readiness probe (it starts after the API). */
export async function workerReady(metricsUrl: string): Promise<void> {
  const readyz = new URL('/readyz', metricsUrl);
  for (;;) {
    const res = await fetch(readyz).catch(() => null);
    await res?.body?.cancel();
    if (res?.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

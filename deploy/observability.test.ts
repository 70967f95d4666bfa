import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiMetrics, WEBHOOK_OUTCOMES } from '@glm-image/api/metrics';
import { QUEUE_STATES, registerQueueMetrics, STAGES } from '@glm-image/shared/metrics';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { K8sObject } from './k8s/render.ts';
import { DEPLOY_DIR, validateObject } from './manifests.ts';

const rule = parse(readFileSync(join(DEPLOY_DIR, 'prometheus/alerts.yaml'), 'utf8')) as K8sObject & {
  spec: { groups: { name: string; rules: { alert: string; expr: string }[] }[] };
};
const dashboard = JSON.parse(readFileSync(join(DEPLOY_DIR, 'grafana/dashboard.json'), 'utf8')) as {
  panels: { id: number; title: string; gridPos: { x: number; w: number }; targets: { expr: string }[] }[];
};
const expressions = [
  ...rule.spec.groups.flatMap((g) => g.rules.map((r) => r.expr)),
  ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
];

/** Metric names our processes export: the API's (a superset of the workers') plus the queue gauges. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new ApiMetrics({ collectDefaults: false });
  registerQueueMetrics(metrics.registry, []);
  const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
  return new Set(names);
}

/** Series names dcgm-exporter publishes by default. */
const DCGM_METRICS = new Set(['DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_FB_FREE']);

describe('alerts and dashboard', () => {
  it('ship a PrometheusRule that passes its schema', () => {
    expect(() => validateObject(rule)).not.toThrow();
    const alerts = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual(
      expect.arrayContaining([
        'GlmImageBacklogOld',
        'GlmImageFailureRateHigh',
        'GlmImageStalledJobs',
        'GlmImageQualityDrop',
      ]),
    );
  });

  it('query only metrics the processes export (or DCGM and up)', async () => {
    const exported = await exportedNames();
    const used = new Set(expressions.flatMap((e) => e.match(/\b(glm_[a-z_]+|DCGM_[A-Z_]+)\b/g) ?? []));
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) {
      if (name.startsWith('DCGM_')) expect(DCGM_METRICS, name).toContain(name);
      else expect(exported, name).toContain(name.replace(/_(bucket|sum|count)$/, ''));
    }
    expect([...used].some((n) => n.startsWith('DCGM_'))).toBe(true);
  });

  it('filter on label values the code emits', () => {
    const allowed: Record<string, readonly string[]> = {
      stage: STAGES,
      state: QUEUE_STATES,
      outcome: WEBHOOK_OUTCOMES,
      status: ['succeeded', 'failed', 'canceled'],
      queue: ['plan', 'decode', 'webhook', 'evaluate'],
    };
    for (const expr of expressions) {
      for (const [, label, values] of expr.matchAll(/\b(stage|state|outcome|status|queue)=~?"([^"]+)"/g)) {
        for (const value of values!.split('|'))
          expect(allowed[label!], `${label}="${value}" in ${expr}`).toContain(value);
      }
    }
  });

  it('lay out dashboard panels with unique ids inside the 24-column grid', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    expect(dashboard.panels.map((p) => p.title)).toEqual(
      expect.arrayContaining([
        'Queue depth by state',
        'Failures by error code',
        'GPU utilisation and memory (DCGM)',
        'Quality scores by stage (mean, 1h)',
      ]),
    );
  });
});

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { ITriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type K8sObject, renderKustomization, UnsupportedKustomizationError } from './k8s/render.ts';
import {
  APP_ENV_VARS,
  APP_PORTS,
  APPS,
  DEPLOY_DIR,
  findObject,
  OVERLAYS,
  overlayDir,
  SECRET_KEYS,
  validateObject,
} from './manifests.ts';

const rendered: Record<string, K8sObject[]> = {};
beforeAll(async () => {
  for (const overlay of OVERLAYS) rendered[overlay] = await renderKustomization(overlayDir(overlay));
});

const byKind = <T>(objects: K8sObject[], kind: string) =>
  objects.filter((o) => o.kind === kind) as unknown as T[];
const container = (deployment: IDeployment): IContainer => deployment.spec!.template.spec!.containers[0]!;
const labelsMatch = (selector: Record<string, string> = {}, labels: Record<string, string> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Order-insensitive form: kustomize orders resources and merged list items its own way. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(canonical);
    return items.every((item) => typeof item === 'object' && item !== null)
      ? items.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
      : items;
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  const objects = () => rendered[overlay]!;
  const configMap = (name: string) => findObject<IConfigMap>(objects(), 'ConfigMap', name).data ?? {};

  it.runIf(hasKubectl())('renders exactly what `kubectl kustomize` renders', () => {
    const yaml = execFileSync('kubectl', ['kustomize', overlayDir(overlay)], { encoding: 'utf8' });
    const fromKubectl = parseAllDocuments(yaml).map((doc) => doc.toJS() as K8sObject);
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
    expect(objects().map(key).sort()).toEqual(fromKubectl.map(key).sort());
    for (const object of fromKubectl) {
      expect(canonical(objects().find((o) => key(o) === key(object))), key(object)).toEqual(
        canonical(object),
      );
    }
  });

  it('passes the published schema of every kind', () => {
    expect(objects().length).toBeGreaterThan(10);
    for (const object of objects())
      expect(() => validateObject(object), `${object.kind}/${object.metadata.name}`).not.toThrow();
  });

  it('puts every object in the overlay namespace', () => {
    const namespaces = new Set(objects().map((o) => o.metadata.namespace));
    expect(namespaces).toEqual(new Set([overlay === 'dev' ? 'glm-image-dev' : 'glm-image']));
  });

  it.each(APPS)('gives %s only variables its config schema reads, from objects that exist', (app) => {
    const deployment = findObject<IDeployment>(objects(), 'Deployment', app);
    const c = container(deployment);
    const names = (c.env ?? []).map((e) => e.name);
    for (const source of c.envFrom ?? []) {
      expect(source.configMapRef, 'envFrom only from ConfigMaps').toBeDefined();
      names.push(...Object.keys(configMap(source.configMapRef!.name!)));
    }
    expect(names.filter((n) => !APP_ENV_VARS[app].includes(n))).toEqual([]);
    expect(new Set(names).size, 'no variable set twice').toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['REDIS_URL', 'HOST', 'QUEUE_PREFIX', 'SHUTDOWN_GRACE_MS']));
    const env = Object.fromEntries(
      c.envFrom!.flatMap((s) => Object.entries(configMap(s.configMapRef!.name!))),
    );
    expect(env.HOST).toBe('0.0.0.0');
  });

  it.each(APPS)('serves %s probes and metrics on the port the app listens on', (app) => {
    const deployment = findObject<IDeployment>(objects(), 'Deployment', app);
    const c = container(deployment);
    const { port, envVar } = APP_PORTS[app];
    const portName = app === 'api' ? 'http' : 'metrics';
    expect(c.ports).toEqual([{ name: portName, containerPort: port }]);
    expect(configMap(`glm-image-${app}`)[envVar]).toBe(String(port));
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: portName });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: portName });
    expect(c.resources?.requests?.cpu).toBeDefined();
    expect(c.resources?.limits?.memory).toBeDefined();
    expect(deployment.spec!.template.spec!.securityContext?.runAsNonRoot).toBe(true);
  });

  it.each(APPS)('lets %s finish its longest job before Kubernetes kills it', (app) => {
    const deployment = findObject<IDeployment>(objects(), 'Deployment', app);
    const graceMs = Number(configMap(`glm-image-${app}`).SHUTDOWN_GRACE_MS);
    const killAfterMs = deployment.spec!.template.spec!.terminationGracePeriodSeconds! * 1000;
    expect(graceMs).toBeGreaterThan(0);
    expect(killAfterMs).toBeGreaterThanOrEqual(graceMs + 15_000);
    if (app !== 'api') {
      // The worker's job lock must outlive a stall check, or a slow job is run twice.
      const config = configMap(`glm-image-${app}`);
      expect(Number(config.LOCK_DURATION_MS)).toBeGreaterThanOrEqual(Number(config.STALLED_INTERVAL_MS));
    }
  });

  it('runs the decoder on a GPU in production and on the CPU in dev', () => {
    const decoder = findObject<IDeployment>(objects(), 'Deployment', 'decoder-worker');
    const resources = container(decoder).resources!;
    const provider = configMap('glm-image-decoder-worker').EXECUTION_PROVIDER;
    if (overlay === 'production') {
      expect(provider).toBe('cuda');
      expect(resources.limits?.['nvidia.com/gpu']).toBe(1);
      expect(resources.requests?.['nvidia.com/gpu']).toBe(1);
      expect(decoder.spec!.template.spec!.tolerations).toContainEqual(
        expect.objectContaining({ key: 'nvidia.com/gpu' }),
      );
      for (const app of APPS) {
        // Every process reads the same real pack: the API its manifest, the workers its models.
        expect(configMap(`glm-image-${app}`).MODEL_PACK_PATH).toBe('/models/glm-image');
        const mounts = container(findObject<IDeployment>(objects(), 'Deployment', app)).volumeMounts;
        expect(mounts).toContainEqual({ name: 'model-pack', mountPath: '/models/glm-image', readOnly: true });
      }
    } else {
      expect(provider).toBe('cpu');
      expect(resources.limits?.['nvidia.com/gpu']).toBeUndefined();
      expect(resources.requests?.['nvidia.com/gpu']).toBeUndefined();
      expect(decoder.spec!.template.spec!.tolerations).toBeUndefined();
    }
  });

  it('resolves every Secret reference (dev renders the Secret, production documents its keys)', () => {
    const refs: { name: string; key: string; optional?: boolean }[] = [];
    for (const d of byKind<IDeployment>(objects(), 'Deployment')) {
      for (const c of d.spec!.template.spec!.containers) {
        for (const e of c.env ?? [])
          if (e.valueFrom?.secretKeyRef) refs.push(e.valueFrom.secretKeyRef as never);
      }
    }
    for (const auth of byKind<ITriggerAuthentication>(objects(), 'TriggerAuthentication')) {
      for (const ref of auth.spec.secretTargetRef ?? []) refs.push({ name: ref.name, key: ref.key });
    }
    expect(new Set(refs.map((r) => r.name))).toEqual(new Set(['glm-image-secrets']));
    const referenced = new Set(refs.map((r) => r.key));
    expect(referenced).toEqual(new Set(SECRET_KEYS));
    const secrets = byKind<ISecret>(objects(), 'Secret');
    if (overlay === 'dev') {
      const data = secrets[0]!.stringData ?? {};
      for (const ref of refs) expect(data[ref.key], ref.key).toBeTruthy();
      expect(JSON.parse(data.API_KEYS!)).toHaveLength(1);
    } else {
      expect(secrets).toEqual([]);
      const readme = readFileSync(join(DEPLOY_DIR, 'README.md'), 'utf8');
      for (const key of SECRET_KEYS) expect(readme).toContain(key);
    }
  });

  it('selects pods with every Service, PodDisruptionBudget and the ServiceMonitor', () => {
    const deployments = byKind<IDeployment>(objects(), 'Deployment');
    const podLabels = deployments.map((d) => d.spec!.template.metadata!.labels ?? {});
    for (const d of deployments)
      expect(labelsMatch(d.spec!.selector.matchLabels, d.spec!.template.metadata!.labels)).toBe(true);
    for (const service of byKind<IService>(objects(), 'Service')) {
      const target = deployments.find((d) =>
        labelsMatch(service.spec!.selector, d.spec!.template.metadata!.labels),
      );
      expect(target, `Service ${service.metadata!.name}`).toBeDefined();
      const portNames = target!.spec!.template.spec!.containers.flatMap((c) =>
        (c.ports ?? []).map((p) => p.name),
      );
      for (const port of service.spec!.ports ?? []) expect(portNames).toContain(port.targetPort);
    }
    for (const pdb of byKind<IPodDisruptionBudget>(objects(), 'PodDisruptionBudget')) {
      expect(podLabels.some((labels) => labelsMatch(pdb.spec!.selector?.matchLabels, labels))).toBe(true);
    }
    expect(
      byKind(objects(), 'PodDisruptionBudget')
        .map((p) => (p as K8sObject).metadata.name)
        .sort(),
    ).toEqual([...APPS].sort());
    const [monitor] = byKind<IServiceMonitor>(objects(), 'ServiceMonitor');
    const scraped = byKind<IService>(objects(), 'Service').filter((s) =>
      labelsMatch(monitor!.spec.selector.matchLabels as Record<string, string>, s.metadata!.labels),
    );
    expect(scraped.map((s) => s.metadata!.name).sort()).toEqual([...APPS].sort());
    const endpointPorts = (monitor!.spec.endpoints ?? []).map((e) => e.port);
    for (const service of scraped) {
      expect(service.spec!.ports!.some((p) => endpointPorts.includes(p.name))).toBe(true);
    }
  });

  it('scales each worker stage with KEDA: planners and evaluators stay warm, decoders go to zero', () => {
    const scaled = byKind<IScaledObject>(objects(), 'ScaledObject');
    expect(scaled.map((s) => s.spec.scaleTargetRef.name).sort()).toEqual([
      'decoder-worker',
      'evaluator-worker',
      'planner-worker',
    ]);
    const auths = byKind<ITriggerAuthentication>(objects(), 'TriggerAuthentication').map(
      (a) => a.metadata!.name,
    );
    for (const s of scaled) {
      findObject(objects(), 'Deployment', s.spec.scaleTargetRef.name);
      const deployment = findObject<IDeployment>(objects(), 'Deployment', s.spec.scaleTargetRef.name);
      expect(deployment.spec!.replicas, 'KEDA owns the replica count').toBeUndefined();
      for (const trigger of s.spec.triggers) {
        if (trigger.type === 'redis') expect(auths).toContain(trigger.authenticationRef?.name);
      }
    }
    const planner = scaled.find((s) => s.spec.scaleTargetRef.name === 'planner-worker')!;
    const decoder = scaled.find((s) => s.spec.scaleTargetRef.name === 'decoder-worker')!;
    expect(planner.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(decoder.spec.minReplicaCount).toBe(0);
    expect(planner.spec.maxReplicaCount!).toBeGreaterThan(decoder.spec.maxReplicaCount!);
    // Scoring is off the request path but must not stall: one evaluator picks up retries and lost jobs.
    const evaluator = scaled.find((s) => s.spec.scaleTargetRef.name === 'evaluator-worker')!;
    expect(evaluator.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
  });
});

describe('renderKustomization', () => {
  it('refuses kustomize features it does not implement rather than misreading them', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'kustomize-'));
    try {
      await writeFile(join(dir, 'kustomization.yaml'), 'resources: []\nconfigMapGenerator:\n  - name: x\n');
      await expect(renderKustomization(dir)).rejects.toBeInstanceOf(UnsupportedKustomizationError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

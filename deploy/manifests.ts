/**
 * What the deploy tests share: where the manifests live, schema validation of every kind
 * we ship, and the environment each app reads (the apps' own config schemas).
 */
import { fileURLToPath } from 'node:url';
import { API_ENV_VARS } from '@glm-image/api/env';
import { DECODER_ENV_VARS, EVALUATOR_ENV_VARS, PLANNER_ENV_VARS } from '@glm-image/shared/env';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import type { K8sObject } from './k8s/render.ts';

export const DEPLOY_DIR = fileURLToPath(new URL('.', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const OVERLAYS = ['dev', 'production'] as const;
export const overlayDir = (overlay: string) =>
  fileURLToPath(new URL(`k8s/overlays/${overlay}`, import.meta.url));

export const APPS = ['api', 'planner-worker', 'decoder-worker', 'evaluator-worker'] as const;
export type AppName = (typeof APPS)[number];

/** The variables each app's config schema accepts. */
export const APP_ENV_VARS: Record<AppName, readonly string[]> = {
  api: API_ENV_VARS,
  'planner-worker': PLANNER_ENV_VARS,
  'decoder-worker': DECODER_ENV_VARS,
  'evaluator-worker': EVALUATOR_ENV_VARS,
};

/** Ports and probe paths the apps serve (api: PORT; workers: METRICS_PORT via worker-http). */
export const APP_PORTS: Record<AppName, { port: number; envVar: 'PORT' | 'METRICS_PORT' }> = {
  api: { port: 3000, envVar: 'PORT' },
  'planner-worker': { port: 9464, envVar: 'METRICS_PORT' },
  'decoder-worker': { port: 9465, envVar: 'METRICS_PORT' },
  'evaluator-worker': { port: 9466, envVar: 'METRICS_PORT' },
};

/** Keys of the Secret `glm-image-secrets` that production provisions (documented in deploy/README.md). */
export const SECRET_KEYS = [
  'REDIS_URL',
  'REDIS_ADDRESS',
  'REDIS_PASSWORD',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'API_KEYS',
  'WEBHOOK_SECRETS',
] as const;

type Validatable = { validate(): void };
const MODELS: Record<string, new (data: never) => Validatable> = {
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Validates an object against the published schema of its kind; throws when invalid or unknown. */
export function validateObject(object: K8sObject): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(structuredClone(object) as never).validate();
}

export function findObject<T = Record<string, unknown>>(objects: K8sObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${kind}/${name} not rendered`);
  return found as unknown as T;
}

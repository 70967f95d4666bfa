/**
 * Renders a kustomization (base + overlay) the way `kubectl kustomize` does, for the
 * subset of kustomize our manifests use: `resources` (files and directories),
 * `namespace`, `images` and `patches` given by path. Anything else in a kustomization
 * is refused, so the tests never pass on manifests this renderer misreads;
 * deploy/k8s.test.ts also compares the output with `kubectl kustomize` where kubectl exists.
 *
 * Patches follow kustomize: built-in kinds get a strategic merge (lists with a merge
 * key are merged item by item, a null deletes a field), custom resources a JSON merge
 * patch (lists are replaced whole).
 *
 * Usage: node --import tsx deploy/k8s/render.ts deploy/k8s/overlays/production
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
};

interface ImageOverride {
  name: string;
  newName?: string;
  newTag?: string;
}

interface Kustomization {
  resources?: string[];
  namespace?: string;
  images?: ImageOverride[];
  patches?: { path: string }[];
}

export class UnsupportedKustomizationError extends Error {
  readonly code = 'unsupported_kustomization';
}

const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches']);
const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'ClusterTriggerAuthentication',
]);

/** Strategic-merge keys of the list fields our patches touch (from the Kubernetes API types). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  imagePullSecrets: 'name',
};
/** Lists with merge keys this renderer does not implement: a patch touching them is refused. */
const UNSUPPORTED_MERGE_LISTS = new Set([
  'ports',
  'hostAliases',
  'topologySpreadConstraints',
  'ephemeralContainers',
]);

type Json = unknown;

function isRecord(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isBuiltIn(apiVersion: string): boolean {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
  return group === '' || !group.includes('.') || group.endsWith('.k8s.io');
}

function mergePatch(target: Json, patch: Json, strategic: boolean, field = ''): Json {
  if (Array.isArray(patch)) {
    const key = strategic ? MERGE_KEYS[field] : undefined;
    if (strategic && UNSUPPORTED_MERGE_LISTS.has(field)) {
      throw new UnsupportedKustomizationError(
        `patching the list "${field}" is not supported by this renderer`,
      );
    }
    if (!key || !Array.isArray(target)) return structuredClone(patch);
    const merged = structuredClone(target) as Json[];
    for (const item of patch) {
      const index = merged.findIndex(
        (existing) => isRecord(existing) && isRecord(item) && existing[key] === item[key],
      );
      if (index === -1) merged.push(structuredClone(item));
      else merged[index] = mergePatch(merged[index], item, strategic);
    }
    return merged;
  }
  if (!isRecord(patch)) return structuredClone(patch);
  const result: Record<string, Json> = isRecord(target) ? structuredClone(target) : {};
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete result[name];
    else result[name] = mergePatch(result[name], value, strategic, name);
  }
  return result;
}

function applyImages(value: Json, images: ImageOverride[]): void {
  if (Array.isArray(value)) {
    for (const item of value) applyImages(item, images);
    return;
  }
  if (!isRecord(value)) return;
  for (const [field, child] of Object.entries(value)) {
    if ((field === 'containers' || field === 'initContainers') && Array.isArray(child)) {
      for (const container of child) {
        if (!isRecord(container) || typeof container.image !== 'string') continue;
        const [name, tag] = splitImage(container.image);
        const override = images.find((image) => image.name === name);
        if (override) container.image = `${override.newName ?? name}${formatTag(override.newTag ?? tag)}`;
      }
    } else {
      applyImages(child, images);
    }
  }
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.indexOf('@');
  if (at !== -1) return [image.slice(0, at), image.slice(at)];
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/')
    ? [image.slice(0, colon), image.slice(colon + 1)]
    : [image, undefined];
}

function formatTag(tag: string | undefined): string {
  if (tag === undefined) return '';
  return tag.startsWith('@') ? tag : `:${tag}`;
}

async function readObjects(file: string): Promise<K8sObject[]> {
  const docs = parseAllDocuments(await readFile(file, 'utf8'));
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

function identity(object: K8sObject): string {
  return `${object.kind}/${object.metadata.name}`;
}

/** Renders the kustomization in `dir` to the objects `kubectl kustomize dir` would print. */
export async function renderKustomization(dir: string): Promise<K8sObject[]> {
  const [config] = await readObjects(join(dir, 'kustomization.yaml'));
  if (!config) throw new UnsupportedKustomizationError(`${dir}/kustomization.yaml is empty`);
  for (const field of Object.keys(config)) {
    if (!SUPPORTED_FIELDS.has(field)) {
      throw new UnsupportedKustomizationError(`${dir}/kustomization.yaml: field "${field}" is not supported`);
    }
  }
  const kustomization = config as unknown as Kustomization;
  const objects: K8sObject[] = [];
  for (const resource of kustomization.resources ?? []) {
    const path = resolve(dir, resource);
    const rendered = (await stat(path)).isDirectory()
      ? await renderKustomization(path)
      : await readObjects(path);
    objects.push(...rendered);
  }
  for (const { path } of kustomization.patches ?? []) {
    const patches = await readObjects(resolve(dir, path));
    if (patches.length !== 1) throw new UnsupportedKustomizationError(`${path}: one patch object per file`);
    const patch = patches[0]!;
    const index = objects.findIndex((o) => identity(o) === identity(patch));
    if (index === -1) throw new Error(`${path}: no ${identity(patch)} to patch`);
    objects[index] = mergePatch(objects[index], patch, isBuiltIn(patch.apiVersion)) as K8sObject;
  }
  if (kustomization.images) for (const object of objects) applyImages(object, kustomization.images);
  if (kustomization.namespace) {
    for (const object of objects) {
      if (!CLUSTER_SCOPED_KINDS.has(object.kind)) object.metadata.namespace = kustomization.namespace;
    }
  }
  const seen = new Set<string>();
  for (const object of objects) {
    if (seen.has(identity(object))) throw new Error(`${dir}: ${identity(object)} is defined twice`);
    seen.add(identity(object));
  }
  return objects;
}

export function toYaml(objects: K8sObject[]): string {
  return objects.map((object) => stringify(object)).join('---\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: render.ts <kustomization directory>\n');
    process.exit(2);
  }
  process.stdout.write(toYaml(await renderKustomization(resolve(dir))));
}

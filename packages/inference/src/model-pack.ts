import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import onnxProto from 'onnx-proto';
import { ModelPackError } from './errors.ts';
import { ModelPackManifest, referenceCacheNames } from './model-pack-manifest.ts';

const { onnx } = onnxProto;

/** A validated model pack: its folder, manifest and the absolute paths of its files. */
export interface ModelPack {
  dir: string;
  manifest: ModelPackManifest;
  files: {
    planner: string;
    tokenizer: string;
    denoiser: string;
    vaeDecoder: string;
    preview?: string;
    /** Present when the pack takes reference images (planner.imageTokenizer). */
    imageTokenizer?: string;
    /** Present when the pack takes reference images (decoder.reference). */
    vaeEncoder?: string;
  };
  /** The ONNX scorer models by scorer name (absent without any). */
  scorerFiles?: Record<string, { model: string; tokenizer?: string }>;
}

/** Default-domain opsets onnxruntime 1.2x runs and our graphs are written for. */
export const SUPPORTED_OPSETS = { min: 17, max: 21 } as const;
/** Highest ONNX IR version accepted (ONNX 1.15+ writes 10). */
export const MAX_IR_VERSION = 10;

const MANIFEST_FILE = 'model.json';

/**
 * Reads and validates the pack in `dir`: the manifest against its schema, that every
 * named file exists, that each ONNX file uses a supported opset and IR version, and that
 * each model's inputs and outputs match the contract the runtimes feed. Fails early, at
 * worker start, with a ModelPackError naming the file and the field at fault, rather
 * than deep inside the first job.
 */
export async function loadModelPack(dir: string): Promise<ModelPack> {
  const root = resolve(dir);
  const manifest = await readManifest(root);

  const named = (field: string, name: string) => packFile(root, name, field);
  const files: ModelPack['files'] = {
    planner: named('planner.model', manifest.planner.model),
    tokenizer: named('planner.tokenizer', manifest.planner.tokenizer),
    denoiser: named('decoder.denoiser', manifest.decoder.denoiser),
    vaeDecoder: named('decoder.vaeDecoder', manifest.decoder.vaeDecoder),
  };
  if (manifest.preview) files.preview = named('preview.model', manifest.preview.model);
  if (manifest.planner.imageTokenizer) {
    files.imageTokenizer = named('planner.imageTokenizer.model', manifest.planner.imageTokenizer.model);
  }
  if (manifest.decoder.reference) {
    files.vaeEncoder = named('decoder.reference.vaeEncoder', manifest.decoder.reference.vaeEncoder);
  }

  const fields: Record<keyof ModelPack['files'], string> = {
    planner: 'planner.model',
    tokenizer: 'planner.tokenizer',
    denoiser: 'decoder.denoiser',
    vaeDecoder: 'decoder.vaeDecoder',
    preview: 'preview.model',
    imageTokenizer: 'planner.imageTokenizer.model',
    vaeEncoder: 'decoder.reference.vaeEncoder',
  };
  for (const [key, path] of Object.entries(files) as Array<[keyof ModelPack['files'], string]>) {
    await assertFileExists(root, path, fields[key]);
  }

  await checkTokenizer(root, files.tokenizer, manifest);
  checkContract(root, files.planner, await readGraph(root, files.planner), plannerContract(manifest));
  checkContract(root, files.denoiser, await readGraph(root, files.denoiser), denoiserContract(manifest));
  checkContract(root, files.vaeDecoder, await readGraph(root, files.vaeDecoder), VAE_CONTRACT);
  if (files.preview)
    checkContract(root, files.preview, await readGraph(root, files.preview), PREVIEW_CONTRACT);
  if (files.imageTokenizer) {
    checkContract(
      root,
      files.imageTokenizer,
      await readGraph(root, files.imageTokenizer),
      IMAGE_TOKENIZER_CONTRACT,
    );
  }
  if (files.vaeEncoder)
    checkContract(
      root,
      files.vaeEncoder,
      await readGraph(root, files.vaeEncoder),
      vaeEncoderContract(manifest),
    );

  const scorerFiles = await loadScorerFiles(root, manifest);
  return { dir: root, manifest, files, ...(scorerFiles ? { scorerFiles } : {}) };
}

/** Resolves and checks the files of the pack's ONNX scorers against the scorer contract. */
async function loadScorerFiles(
  root: string,
  manifest: ModelPackManifest,
): Promise<ModelPack['scorerFiles'] | undefined> {
  const entries = (manifest.scorers ?? []).flatMap((entry, i) =>
    entry.type === 'onnx' ? [{ entry, i }] : [],
  );
  if (entries.length === 0) return undefined;
  const files: NonNullable<ModelPack['scorerFiles']> = {};
  for (const { entry, i } of entries) {
    const model = packFile(root, entry.model, `scorers.${i}.model`);
    await assertFileExists(root, model, `scorers.${i}.model`);
    const contract = entry.tokenizer ? TEXT_SCORER_CONTRACT : IMAGE_SCORER_CONTRACT;
    checkContract(root, model, await readGraph(root, model), contract);
    files[entry.name] = { model };
    if (entry.tokenizer) {
      const tokenizer = packFile(root, entry.tokenizer, `scorers.${i}.tokenizer`);
      await assertFileExists(root, tokenizer, `scorers.${i}.tokenizer`);
      files[entry.name]!.tokenizer = tokenizer;
    }
  }
  return files;
}

async function readManifest(root: string): Promise<ModelPackManifest> {
  let text: string;
  try {
    text = await readFile(join(root, MANIFEST_FILE), 'utf8');
  } catch (cause) {
    throw new ModelPackError(MANIFEST_FILE, '(file)', `cannot read the manifest in ${root}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ModelPackError(MANIFEST_FILE, '(json)', `not valid JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  const parsed = ModelPackManifest.safeParse(json);
  if (!parsed.success) {
    const [first, ...rest] = parsed.error.issues;
    const field = first?.path.length ? first.path.join('.') : '(root)';
    const more = rest.length
      ? ` (and ${rest.length} more: ${rest.map((i) => i.path.join('.')).join(', ')})`
      : '';
    throw new ModelPackError(MANIFEST_FILE, field, `${first?.message ?? 'invalid'}${more}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** Resolves a manifest file name inside the pack; names may not escape the pack folder. */
function packFile(root: string, name: string, field: string): string {
  const path = resolve(root, name);
  const rel = relative(root, path);
  if (isAbsolute(name) || rel.startsWith('..') || isAbsolute(rel)) {
    throw new ModelPackError(MANIFEST_FILE, field, `"${name}" must be a path inside the pack folder`);
  }
  return path;
}

async function assertFileExists(root: string, path: string, field: string): Promise<void> {
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) {
    throw new ModelPackError(
      relative(root, path),
      field,
      `file named by ${MANIFEST_FILE} field ${field} not found in ${root}`,
    );
  }
}

/** The tokenizer must parse and know the special tokens the prompt template uses. */
async function checkTokenizer(root: string, path: string, manifest: ModelPackManifest): Promise<void> {
  const file = relative(root, path);
  let json: {
    added_tokens?: Array<{ content?: string }>;
    model?: { vocab?: Record<string, number> | unknown[] };
  };
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new ModelPackError(file, '(json)', `not a valid tokenizer.json: ${(cause as Error).message}`, {
      cause,
    });
  }
  const known = new Set<string>((json.added_tokens ?? []).map((t) => t.content ?? ''));
  const vocab = json.model?.vocab;
  if (vocab && !Array.isArray(vocab)) for (const token of Object.keys(vocab)) known.add(token);
  for (const [key, token] of Object.entries(manifest.planner.specialTokens)) {
    if (!known.has(token)) {
      throw new ModelPackError(
        file,
        `planner.specialTokens.${key}`,
        `special token "${token}" is not in the tokenizer`,
      );
    }
  }
}

interface GraphSignature {
  inputs: Map<string, number | null>; // name -> rank (null when the shape is not declared)
  outputs: Map<string, number | null>;
  /** Declared dimensions, keyed `input:name` / `output:name`. */
  dims: Map<string, Array<number | string | null>>;
}

async function readGraph(root: string, path: string): Promise<GraphSignature> {
  const file = relative(root, path);
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(await readFile(path));
  } catch (cause) {
    throw new ModelPackError(file, '(onnx)', `not an ONNX model: ${(cause as Error).message}`, { cause });
  }
  const ir = toInt(model.irVersion);
  if (ir < 3 || ir > MAX_IR_VERSION) {
    throw new ModelPackError(file, 'ir_version', `IR version ${ir} is not supported (3..${MAX_IR_VERSION})`);
  }
  const defaultOpset = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = defaultOpset ? toInt(defaultOpset.version) : null;
  if (opset === null || opset < SUPPORTED_OPSETS.min || opset > SUPPORTED_OPSETS.max) {
    throw new ModelPackError(
      file,
      'opset_import',
      `default-domain opset ${opset ?? '(none)'} is not supported (${SUPPORTED_OPSETS.min}..${SUPPORTED_OPSETS.max})`,
    );
  }
  const graph = model.graph;
  if (!graph) throw new ModelPackError(file, 'graph', 'the model has no graph');
  // Before IR 4 initializers were also listed as inputs; they are not fed by the runtime.
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const signature: GraphSignature = { inputs: new Map(), dims: new Map(), outputs: new Map() };
  for (const input of graph.input ?? []) {
    const name = input.name ?? '';
    if (initializers.has(name)) continue;
    const dims = shapeOf(input);
    signature.inputs.set(name, dims ? dims.length : null);
    if (dims) signature.dims.set(`input:${name}`, dims);
  }
  for (const output of graph.output ?? []) {
    const name = output.name ?? '';
    const dims = shapeOf(output);
    signature.outputs.set(name, dims ? dims.length : null);
    if (dims) signature.dims.set(`output:${name}`, dims);
  }
  return signature;
}

function shapeOf(info: onnxProto.onnx.IValueInfoProto): Array<number | string | null> | null {
  const shape = info.type?.tensorType?.shape;
  if (!shape) return null;
  return (shape.dim ?? []).map((d) => (d.dimValue != null ? toInt(d.dimValue) : (d.dimParam ?? null)));
}

function toInt(value: number | { toNumber(): number } | null | undefined): number {
  if (value == null) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

interface TensorRule {
  rank?: number;
  /** Fixed sizes required at some axes, checked where the graph declares a number there. */
  dims?: Record<number, number>;
}

interface GraphContract {
  role: string;
  requiredInputs: Record<string, TensorRule>;
  optionalInputs?: Record<string, TensorRule>;
  outputs: Record<string, TensorRule>;
}

function plannerContract(manifest: ModelPackManifest): GraphContract {
  const { numLayers, numKvHeads, headDim, imageVocab } = manifest.planner;
  const kv: TensorRule = { rank: 4, dims: { 1: numKvHeads, 3: headDim } };
  const requiredInputs: Record<string, TensorRule> = { input_ids: { rank: 2 }, attention_mask: { rank: 2 } };
  const outputs: Record<string, TensorRule> = { logits: { rank: 3, dims: { 2: imageVocab.size } } };
  for (let i = 0; i < numLayers; i++) {
    for (const part of ['key', 'value']) {
      requiredInputs[`past_key_values.${i}.${part}`] = kv;
      outputs[`present.${i}.${part}`] = kv;
    }
  }
  return { role: 'planner', requiredInputs, optionalInputs: { position_ids: { rank: 2 } }, outputs };
}

/**
 * The denoiser: with `decoder.reference`, its reference-cache inputs and outputs are part
 * of the contract too (the runtime feeds them on every call, empty without references);
 * without it, a graph that has them is refused, since nothing would feed them.
 */
function denoiserContract(manifest: ModelPackManifest): GraphContract {
  const requiredInputs: Record<string, TensorRule> = {
    sample: { rank: 4 },
    timestep: {},
    prior_token_id: {},
    prior_token_drop: {},
    glyph_ids: {},
  };
  const outputs: Record<string, TensorRule> = { velocity: { rank: 4 } };
  const cache = manifest.decoder.reference?.cache;
  if (cache) {
    const kv: TensorRule = { rank: 4, dims: { 1: cache.numHeads, 3: cache.headDim } };
    const names = referenceCacheNames(cache);
    for (const name of names.inputs) requiredInputs[name] = kv;
    requiredInputs[names.mask] = { rank: 2 };
    for (const name of names.outputs) outputs[name] = kv;
  }
  return { role: 'denoiser', requiredInputs, outputs };
}
const VAE_CONTRACT: GraphContract = {
  role: 'VAE decoder',
  requiredInputs: { latent_sample: { rank: 4 } },
  outputs: { sample: { rank: 4 } },
};
const IMAGE_TOKENIZER_CONTRACT: GraphContract = {
  role: 'image tokenizer',
  requiredInputs: { pixel_values: { rank: 4, dims: { 1: 3 } } },
  outputs: { image_token_ids: { rank: 3 } },
};
function vaeEncoderContract(manifest: ModelPackManifest): GraphContract {
  return {
    role: 'VAE encoder',
    requiredInputs: { sample: { rank: 4, dims: { 1: 3 } } },
    outputs: { latent_sample: { rank: 4, dims: { 1: manifest.decoder.latentChannels } } },
  };
}
const PREVIEW_CONTRACT: GraphContract = {
  role: 'preview',
  requiredInputs: { preview_token_id: { rank: 3 } },
  outputs: { image: { rank: 4 } },
};

const IMAGE_SCORER_CONTRACT: GraphContract = {
  role: 'scorer',
  requiredInputs: { pixel_values: { rank: 4, dims: { 1: 3 } } },
  outputs: { score: {} },
};
const TEXT_SCORER_CONTRACT: GraphContract = {
  ...IMAGE_SCORER_CONTRACT,
  requiredInputs: { ...IMAGE_SCORER_CONTRACT.requiredInputs, input_ids: { rank: 2 } },
  optionalInputs: { attention_mask: { rank: 2 } },
};

function checkContract(root: string, path: string, graph: GraphSignature, contract: GraphContract): void {
  const file = relative(root, path);
  const fail = (field: string, message: string): never => {
    throw new ModelPackError(file, field, `${contract.role} ${message}`);
  };
  const checkRule = (
    kind: 'graph.input' | 'graph.output',
    name: string,
    rank: number | null,
    rule: TensorRule,
  ) => {
    if (rule.rank !== undefined && rank !== null && rank !== rule.rank) {
      fail(
        kind,
        `${kind === 'graph.input' ? 'input' : 'output'} "${name}" has rank ${rank}, expected ${rule.rank}`,
      );
    }
    const side = kind === 'graph.input' ? 'input' : 'output';
    const dims = graph.dims.get(`${side}:${name}`);
    for (const [axis, size] of Object.entries(rule.dims ?? {})) {
      const declared = dims?.[Number(axis)];
      if (typeof declared === 'number' && declared !== size) {
        fail(kind, `${side} "${name}" has size ${declared} at axis ${axis}, expected ${size}`);
      }
    }
  };
  for (const [name, rule] of Object.entries(contract.requiredInputs)) {
    if (!graph.inputs.has(name)) {
      fail(
        'graph.input',
        `input "${name}" is missing (inputs: ${[...graph.inputs.keys()].join(', ') || 'none'})`,
      );
    }
    checkRule('graph.input', name, graph.inputs.get(name) ?? null, rule);
  }
  for (const [name, rank] of graph.inputs) {
    const rule = contract.requiredInputs[name] ?? contract.optionalInputs?.[name];
    if (!rule) fail('graph.input', `input "${name}" is not part of the contract; the runtime cannot feed it`);
    else checkRule('graph.input', name, rank, rule);
  }
  for (const [name, rule] of Object.entries(contract.outputs)) {
    if (!graph.outputs.has(name)) {
      fail(
        'graph.output',
        `output "${name}" is missing (outputs: ${[...graph.outputs.keys()].join(', ') || 'none'})`,
      );
    }
    checkRule('graph.output', name, graph.outputs.get(name) ?? null, rule);
  }
}

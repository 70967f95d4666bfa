import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelPackError } from './errors.ts';
import { loadModelPack } from './model-pack.ts';
import { type ModelPackManifest, supportsReferenceImages } from './model-pack-manifest.ts';
import { buildReferencePack } from './reference-pack/build-pack.ts';
import { buildDenoiserModel } from './reference-pack/denoiser-model.ts';
import { DType, GraphBuilder } from './reference-pack/graph-builder.ts';

let root: string;
let reference: string;
let copies = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'model-pack-test-'));
  reference = join(root, 'reference');
  await buildReferencePack(reference);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A copy of the reference pack to break. */
async function copyOfReference(): Promise<string> {
  copies += 1;
  const dir = join(root, `copy-${copies}`);
  await cp(reference, dir, { recursive: true });
  return dir;
}

async function editManifest(dir: string, edit: (manifest: ModelPackManifest) => void): Promise<void> {
  const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelPackManifest;
  edit(manifest);
  await writeFile(join(dir, 'model.json'), JSON.stringify(manifest));
}

async function packError(dir: string): Promise<ModelPackError> {
  const error = await loadModelPack(dir).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelPackError);
  return error as ModelPackError;
}

/** A VAE-shaped graph (latent_sample -> sample) with the given input name and opset. */
function tinyVae(inputName: string, opset: number): Uint8Array {
  const g = new GraphBuilder('tiny_vae');
  const x = g.input(inputName, DType.float, ['batch', 16, 'h', 'w']);
  g.output('sample', g.op('Identity', [x]), DType.float, ['batch', 16, 'h', 'w']);
  return g.toBytes(opset);
}

describe('loadModelPack', () => {
  it('loads the reference pack with absolute file paths', async () => {
    const pack = await loadModelPack(reference);
    expect(pack.manifest.name).toBe('glm-image-reference');
    expect(pack.files.planner).toBe(join(reference, 'planner.onnx'));
    expect(pack.files.preview).toBe(join(reference, 'preview.onnx'));
  });

  it('names model.json and the field path of a schema violation', async () => {
    const dir = await copyOfReference();
    await editManifest(dir, (m) => {
      (m.planner as { numLayers: unknown }).numLayers = 'two';
    });
    const error = await packError(dir);
    expect(error.file).toBe('model.json');
    expect(error.field).toBe('planner.numLayers');
    expect(error.code).toBe('model_pack_invalid');
  });

  it('rejects a folder without model.json', async () => {
    const error = await packError(join(root, 'no-such-pack'));
    expect(error.file).toBe('model.json');
  });

  it('names a missing file and the manifest field that names it', async () => {
    const dir = await copyOfReference();
    await rm(join(dir, 'vae_decoder.onnx'));
    const error = await packError(dir);
    expect(error.file).toBe('vae_decoder.onnx');
    expect(error.field).toBe('decoder.vaeDecoder');
  });

  it('rejects a file name that leaves the pack folder', async () => {
    const dir = await copyOfReference();
    await editManifest(dir, (m) => {
      m.decoder.denoiser = '../reference/denoiser.onnx';
    });
    expect((await packError(dir)).field).toBe('decoder.denoiser');
  });

  it('rejects a model whose inputs do not follow the contract', async () => {
    const dir = await copyOfReference();
    await writeFile(join(dir, 'vae_decoder.onnx'), tinyVae('latents', 17));
    const error = await packError(dir);
    expect(error.file).toBe('vae_decoder.onnx');
    expect(error.field).toBe('graph.input');
    expect(error.message).toContain('latent_sample');
  });

  it('accepts the same tiny model with the contract names', async () => {
    const dir = await copyOfReference();
    await writeFile(join(dir, 'vae_decoder.onnx'), tinyVae('latent_sample', 17));
    await expect(loadModelPack(dir)).resolves.toBeTruthy();
  });

  it('rejects an unsupported opset, naming opset_import', async () => {
    const dir = await copyOfReference();
    await writeFile(join(dir, 'vae_decoder.onnx'), tinyVae('latent_sample', 13));
    const error = await packError(dir);
    expect(error.file).toBe('vae_decoder.onnx');
    expect(error.field).toBe('opset_import');
  });

  it('checks the planner past_key_values against numLayers and numKvHeads', async () => {
    const dir = await copyOfReference();
    await editManifest(dir, (m) => {
      m.planner.numLayers = 3;
    });
    const error = await packError(dir);
    expect(error.file).toBe('planner.onnx');
    expect(error.message).toContain('past_key_values.2.key');

    const other = await copyOfReference();
    await editManifest(other, (m) => {
      m.planner.numKvHeads = 2;
    });
    expect((await packError(other)).message).toContain('axis 1');
  });

  it('names a special token the tokenizer lacks', async () => {
    const dir = await copyOfReference();
    await editManifest(dir, (m) => {
      m.planner.specialTokens.beginOfImage = '<|boi|>';
    });
    const error = await packError(dir);
    expect(error.file).toBe('tokenizer.json');
    expect(error.field).toBe('planner.specialTokens.beginOfImage');
  });
});

describe('loadModelPack: reference images', () => {
  it('opens the reference pack with its image tokenizer and VAE encoder, and says it takes references', async () => {
    const pack = await loadModelPack(reference);
    expect(pack.files.imageTokenizer).toBe(join(reference, 'image_tokenizer.onnx'));
    expect(pack.files.vaeEncoder).toBe(join(reference, 'vae_encoder.onnx'));
    expect(supportsReferenceImages(pack.manifest)).toBe(true);
  });

  it('loads a pack without them, which takes no references', async () => {
    const dir = join(root, 'text-only');
    await buildReferencePack(dir, { referenceImages: false });
    const pack = await loadModelPack(dir);
    expect(pack.files.imageTokenizer).toBeUndefined();
    expect(pack.files.vaeEncoder).toBeUndefined();
    expect(supportsReferenceImages(pack.manifest)).toBe(false);
  });

  it('refuses a denoiser without the cache inputs the manifest names', async () => {
    const dir = await copyOfReference();
    await writeFile(join(dir, 'denoiser.onnx'), buildDenoiserModel());
    const error = await packError(dir);
    expect(error.file).toBe('denoiser.onnx');
    expect(error.message).toContain('reference_key_values.0.key');
  });

  it('refuses a denoiser with cache inputs the manifest does not name: nothing would feed them', async () => {
    const dir = await copyOfReference();
    await editManifest(dir, (m) => {
      delete m.decoder.reference;
    });
    const error = await packError(dir);
    expect(error.file).toBe('denoiser.onnx');
    expect(error.message).toContain('not part of the contract');
  });

  it('names a missing image tokenizer and its field', async () => {
    const dir = await copyOfReference();
    await rm(join(dir, 'image_tokenizer.onnx'));
    const error = await packError(dir);
    expect([error.file, error.field]).toEqual(['image_tokenizer.onnx', 'planner.imageTokenizer.model']);
  });
});

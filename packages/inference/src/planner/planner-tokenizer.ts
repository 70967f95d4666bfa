import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelPackError } from '../errors.ts';
import type { ModelPack } from '../model-pack.ts';

/**
 * The pack's Hugging Face tokenizer (`tokenizer.json`, plus `tokenizer_config.json`
 * beside it when present), and the ids of the special tokens the planner relies on.
 */
export class PlannerTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Id of `<|end_of_image|>`, appended after the main grid; it also closes a reference image. */
    readonly endOfImageId: number,
    /** Id of `<|begin_of_image|>`, which opens the generated image and every reference image. */
    readonly beginOfImageId: number,
    /** Id of the padding token, used for left padding in batches. */
    readonly padId: number,
  ) {}

  static async load(pack: ModelPack): Promise<PlannerTokenizer> {
    const file = basename(pack.files.tokenizer);
    const json = JSON.parse(await readFile(pack.files.tokenizer, 'utf8'));
    const config = await readFile(join(dirname(pack.files.tokenizer), 'tokenizer_config.json'), 'utf8')
      .then((text) => JSON.parse(text) as object)
      .catch(() => ({}));
    const tokenizer = new Tokenizer(json, config);
    const { specialTokens, imageVocab } = pack.manifest.planner;
    const idOf = (field: keyof typeof specialTokens): number => {
      const id = tokenizer.token_to_id(specialTokens[field]);
      if (id === undefined) {
        throw new ModelPackError(
          file,
          `planner.specialTokens.${field}`,
          `"${specialTokens[field]}" has no id`,
        );
      }
      return id;
    };
    const endOfImageId = idOf('endOfImage');
    const lastImageId = imageVocab.firstTokenId + imageVocab.size;
    if (endOfImageId < imageVocab.firstTokenId || endOfImageId >= lastImageId) {
      throw new ModelPackError(
        file,
        'planner.specialTokens.endOfImage',
        'end-of-image must lie in the image vocabulary',
      );
    }
    return new PlannerTokenizer(tokenizer, endOfImageId, idOf('beginOfImage'), idOf('pad'));
  }

  encode(text: string): number[] {
    return this.tokenizer.encode(text).ids;
  }

  decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: false });
  }
}

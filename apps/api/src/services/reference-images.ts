/**
 * The reference images of an image-to-image request: read, checked and stored with the
 * generation. Each is a `data:` URL (base64 PNG, JPEG or WebP) or the URL of an image
 * this deployment already holds: under the bucket's public base URL (S3_PUBLIC_BASE_URL)
 * or one of the API's own image routes (an output, a preview, a reference). Those are
 * read from the object store itself; no URL is ever fetched over the network, so no
 * request can make the API reach another host. A client may use only its own images.
 *
 * Every problem is a 400 naming `reference_images[i]`: not an image, truncated or
 * corrupt, too many bytes, too few or too many pixels, a URL the policy does not allow.
 */
import {
  inspectReferenceImage,
  type ReferenceImageInfo,
  type ReferenceImageLimits,
} from '@glm-image/inference/reference-images';
import { InvalidInputError, NotFoundError } from '@glm-image/shared/errors';
import { CONTENT_TYPES } from '@glm-image/shared/formats';
import type { GenerationRecord, StoredImage } from '@glm-image/shared/generation';
import { type ObjectStore, parseGenerationKey, referenceKey } from '@glm-image/shared/storage';
import { canSee, type Principal } from '../plugins/auth.ts';
import type { GenerationReads } from './generation-reads.ts';

/** A reference image read and checked, not stored yet. */
export interface AcceptedReference {
  bytes: Buffer;
  info: ReferenceImageInfo;
}

export interface ReferenceImagesDeps {
  objects: ObjectStore;
  reads: GenerationReads;
  limits: ReferenceImageLimits;
  /** The API's external URL (PUBLIC_API_URL): links to its image routes are accepted from there. */
  publicApiUrl: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** The API's own image routes, as the presenter links them. */
const API_IMAGE_PATH = /^\/v1\/generations\/([^/]+)\/(?:outputs\/(\d+)|preview|references\/(\d+))$/;

export class ReferenceImages {
  constructor(private readonly deps: ReferenceImagesDeps) {}

  /**
   * Reads and checks every reference of a request. When several are at fault, the first
   * one's problem is reported.
   */
  async load(principal: Principal, values: readonly string[]): Promise<AcceptedReference[]> {
    const results = await Promise.allSettled(
      values.map((value, index) => this.loadOne(principal, value, `reference_images[${index}]`)),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return results.map((r) => (r as PromiseFulfilledResult<AcceptedReference>).value);
  }

  /** Stores the references under the generation's prefix, where its retention covers them. */
  async store(record: Pick<GenerationRecord, 'tenant' | 'id'>, references: readonly AcceptedReference[]) {
    return Promise.all(
      references.map(async ({ bytes, info }, index): Promise<StoredImage> => {
        const key = referenceKey(record.tenant, record.id, index, info.format);
        const stored = await this.deps.objects.put(key, bytes, CONTENT_TYPES[info.format]);
        return { key, width: info.width, height: info.height, format: info.format, ...stored };
      }),
    );
  }

  /** Copies stored references to another generation (a re-render decodes with them again). */
  async copy(references: readonly StoredImage[], to: Pick<GenerationRecord, 'tenant' | 'id'>) {
    return Promise.all(
      references.map(async (reference, index): Promise<StoredImage> => {
        const key = referenceKey(to.tenant, to.id, index, reference.format);
        await this.deps.objects.copy(reference.key, key);
        return { ...reference, key };
      }),
    );
  }

  private async loadOne(principal: Principal, value: string, field: string): Promise<AcceptedReference> {
    const bytes = /^data:/i.test(value)
      ? this.decodeDataUrl(value, field)
      : await this.readOwnImage(principal, value, field);
    const info = await inspectReferenceImage(bytes, field, this.deps.limits);
    return { bytes, info };
  }

  /** `data:[<type>][;params];base64,<data>` */
  private decodeDataUrl(value: string, field: string): Buffer {
    const comma = value.indexOf(',');
    if (comma < 0) throw new InvalidInputError(field, 'a data: URL needs a comma before its data');
    const params = value.slice(5, comma).split(';');
    if (!params.slice(1).some((p) => p.toLowerCase() === 'base64')) {
      throw new InvalidInputError(field, 'a data: URL must be base64-encoded (data:image/png;base64,...)');
    }
    const data = value.slice(comma + 1).replace(/\s+/g, '');
    // Refused before decoding: 4 characters carry 3 bytes.
    const decodedBytes = Math.floor((data.length * 3) / 4);
    if (decodedBytes > this.deps.limits.maxBytes + 2) {
      throw new InvalidInputError(
        field,
        `is about ${decodedBytes} bytes; an image may have at most ${this.deps.limits.maxBytes} bytes`,
      );
    }
    if (!BASE64.test(data))
      throw new InvalidInputError(field, 'the data: URL holds characters base64 does not use');
    return Buffer.from(data, 'base64');
  }

  /** The bytes of an image this deployment stores, named by one of its URLs, if the caller may see it. */
  private async readOwnImage(principal: Principal, value: string, field: string): Promise<Buffer> {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidInputError(field, 'must be a data: URL or the URL of an image of this deployment');
    }
    const located = await this.locate(principal, url, value);
    if (located === null) {
      throw new InvalidInputError(
        field,
        `${url.origin} is not this deployment's object store or API: only data: URLs and URLs of ` +
          "this deployment's own images are accepted",
      );
    }
    const owner = 'key' in located ? parseGenerationKey(located.key) : null;
    if (!owner || !canSee(principal, owner.tenant)) {
      throw new InvalidInputError(field, 'names no image of yours');
    }
    const { key } = located as { key: string };
    let bytes: Buffer | null;
    try {
      bytes = await this.deps.objects.getBufferUpTo(key, this.deps.limits.maxBytes);
    } catch (error) {
      if (error instanceof NotFoundError)
        throw new InvalidInputError(field, 'names no stored image (it may have expired)');
      throw error;
    }
    if (!bytes) {
      throw new InvalidInputError(
        field,
        `is larger than the ${this.deps.limits.maxBytes} bytes an image may have`,
      );
    }
    return bytes;
  }

  /**
   * The object-store key a URL names; `{ missing }` when it is an image URL of this
   * deployment naming nothing the caller has; null when it is no image URL of this deployment.
   */
  private async locate(
    principal: Principal,
    url: URL,
    raw: string,
  ): Promise<{ key: string } | { missing: true } | null> {
    const publicKey = this.deps.objects.keyOfPublicUrl(raw);
    if (publicKey !== null) return { key: publicKey };
    const match = API_IMAGE_PATH.exec(url.pathname);
    if (url.origin !== new URL(this.deps.publicApiUrl).origin || !match || url.search || url.hash)
      return null;
    let record: GenerationRecord;
    try {
      record = await this.deps.reads.find(principal, decodeURIComponent(match[1]!));
    } catch (error) {
      // URIError: malformed percent-encoding in the id, which names nothing either.
      if (error instanceof NotFoundError || error instanceof URIError) return { missing: true };
      throw error;
    }
    const [, , output, reference] = match;
    const image =
      output !== undefined
        ? record.outputs[Number(output)]
        : reference !== undefined
          ? record.input.reference_images?.[Number(reference)]
          : record.preview;
    return image ? { key: image.key } : { missing: true };
  }
}

/**
 * The object store (S3 protocol: AWS S3, MinIO, s3rver in tests). Objects are keyed
 * under generations/<tenant>/<id>/ so one prefix holds everything of one generation.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import pRetry from 'p-retry';
import './aws-sdk-env.ts';
import type { CommonEnv } from './env.ts';
import { NotFoundError, ServiceUnavailableError } from './errors.ts';
import { FILE_EXTENSIONS, type OutputFormat } from './formats.ts';

export interface ObjectStoreConfig {
  /** Endpoint URL; unset means AWS S3 itself. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Static credentials; unset means the SDK's default chain (IAM role, env, profile). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style URLs (http://host/bucket/key), which s3rver and MinIO need. */
  forcePathStyle: boolean;
  /** When set, outputs are served from `${publicBaseUrl}/${key}` (a CDN or public bucket). */
  publicBaseUrl?: string;
  /**
   * How an upload rides out an unreachable store before giving up: retries with
   * exponential backoff from `minDelayMs` up to `maxDelayMs`. Default: 6 retries,
   * 500 ms to 8 s (about 25 s in all), so a rendered image is not thrown away over a
   * short outage.
   */
  uploadRetry?: { retries: number; minDelayMs: number; maxDelayMs: number };
}

const DEFAULT_UPLOAD_RETRY = { retries: 6, minDelayMs: 500, maxDelayMs: 8000 };

/** Answers from the store that another try cannot change (bad request, denied, missing bucket). */
function isClientError(error: unknown): boolean {
  const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export function objectStoreConfigFromEnv(env: CommonEnv): ObjectStoreConfig {
  const config: ObjectStoreConfig = {
    region: env.S3_REGION,
    bucket: env.S3_BUCKET,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
  };
  if (env.S3_ENDPOINT !== undefined) config.endpoint = env.S3_ENDPOINT;
  if (env.S3_ACCESS_KEY_ID !== undefined) config.accessKeyId = env.S3_ACCESS_KEY_ID;
  if (env.S3_SECRET_ACCESS_KEY !== undefined) config.secretAccessKey = env.S3_SECRET_ACCESS_KEY;
  if (env.S3_PUBLIC_BASE_URL !== undefined) config.publicBaseUrl = env.S3_PUBLIC_BASE_URL;
  return config;
}

/** Every object of every generation lives under this prefix. */
export const GENERATIONS_PREFIX = 'generations/';

export function generationPrefix(tenant: string, id: string): string {
  return `${GENERATIONS_PREFIX}${tenant}/${id}/`;
}
/** The tenant, generation id and object name of a key under GENERATIONS_PREFIX; null for any other key. */
export function parseGenerationKey(key: string): { tenant: string; id: string; name: string } | null {
  const match = /^generations\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(key);
  return match ? { tenant: match[1]!, id: match[2]!, name: match[3]! } : null;
}
export function outputKey(tenant: string, id: string, index: number, format: OutputFormat): string {
  return `${generationPrefix(tenant, id)}${index}.${FILE_EXTENSIONS[format]}`;
}
export function previewKey(tenant: string, id: string): string {
  return `${generationPrefix(tenant, id)}preview.png`;
}
/** A reference image of an image-to-image request, kept with the generation (and expiring with it). */
export function referenceKey(tenant: string, id: string, index: number, format: OutputFormat): string {
  return `${generationPrefix(tenant, id)}reference-${index}.${FILE_EXTENSIONS[format]}`;
}
/** The planner's semantic tokens as JSON, kept so a finished generation can be rendered again. */
export function tokensKey(tenant: string, id: string): string {
  return `${generationPrefix(tenant, id)}tokens.json`;
}

export interface StoredObject {
  body: Readable;
  contentType: string;
  contentLength: number;
}

function isMissing(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export class ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly publicBaseUrl: string | undefined;
  private readonly uploadRetry: { retries: number; minDelayMs: number; maxDelayMs: number };

  constructor(config: ObjectStoreConfig) {
    this.bucket = config.bucket;
    this.uploadRetry = config.uploadRetry ?? DEFAULT_UPLOAD_RETRY;
    this.publicBaseUrl = config.publicBaseUrl?.replace(/\/+$/, '');
    const clientConfig: S3ClientConfig = {
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      // S3-compatible servers (s3rver, older MinIO) reject the SDK's default CRC checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (config.endpoint !== undefined) clientConfig.endpoint = config.endpoint;
    if (config.accessKeyId !== undefined && config.secretAccessKey !== undefined) {
      clientConfig.credentials = { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey };
    }
    this.client = new S3Client(clientConfig);
  }

  /**
   * Uploads an object and returns its size and SHA-256 (hex). A stream is read into
   * memory first: objects here are images and token lists, small enough, and S3 needs
   * the length up front anyway.
   */
  async put(
    key: string,
    body: Buffer | Uint8Array | string | Readable,
    contentType: string,
  ): Promise<{ bytes: number; sha256: string }> {
    const bytes =
      body instanceof Readable ? await collect(body) : typeof body === 'string' ? Buffer.from(body) : body;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: key,
      Body: bytes,
      ContentType: contentType,
      ContentLength: bytes.byteLength,
      Metadata: { sha256 },
    });
    try {
      await pRetry(() => this.client.send(command), {
        retries: this.uploadRetry.retries,
        minTimeout: this.uploadRetry.minDelayMs,
        maxTimeout: this.uploadRetry.maxDelayMs,
        shouldRetry: (error) => !isClientError(error),
      });
    } catch (error) {
      if (isClientError(error)) throw error;
      throw new ServiceUnavailableError(`Object store unreachable while storing ${key}`, { cause: error });
    }
    return { bytes: bytes.byteLength, sha256 };
  }

  /** Streams an object; throws NotFoundError when there is none. */
  async get(key: string): Promise<StoredObject> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!(result.Body instanceof Readable)) throw new Error(`Object ${key} has no readable body`);
      return {
        body: result.Body,
        contentType: result.ContentType ?? 'application/octet-stream',
        contentLength: result.ContentLength ?? 0,
      };
    } catch (error) {
      if (isMissing(error)) throw new NotFoundError(`No object ${key}`);
      throw error;
    }
  }

  /** The whole object in memory (tokens, previews); throws NotFoundError when there is none. */
  async getBuffer(key: string): Promise<Buffer> {
    return collect((await this.get(key)).body);
  }

  /**
   * The object in memory unless it is larger than `maxBytes` (then `null`, its body not
   * read); throws NotFoundError when there is none.
   */
  async getBufferUpTo(key: string, maxBytes: number): Promise<Buffer | null> {
    const object = await this.get(key);
    if (object.contentLength > maxBytes) {
      object.body.destroy();
      return null;
    }
    const bytes = await collect(object.body);
    return bytes.byteLength > maxBytes ? null : bytes;
  }

  /** Copies an object within the bucket, server side; throws NotFoundError when the source is missing. */
  async copy(fromKey: string, toKey: string): Promise<void> {
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: toKey,
          CopySource: `${this.bucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`,
        }),
      );
    } catch (error) {
      if (isMissing(error)) throw new NotFoundError(`No object ${fromKey}`);
      throw error;
    }
  }

  /** A GET URL anyone can use for `seconds`, signed with this store's credentials. */
  async presignGet(key: string, seconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: seconds,
    });
  }

  /** The public URL of an object, or null when no public base URL is configured. */
  publicUrl(key: string): string | null {
    if (this.publicBaseUrl === undefined) return null;
    return `${this.publicBaseUrl}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /**
   * The key a public URL (see `publicUrl`) names, or null when the URL is not under this
   * store's public base URL.
   */
  keyOfPublicUrl(url: string): string | null {
    if (this.publicBaseUrl === undefined) return null;
    const base = `${this.publicBaseUrl}/`;
    if (!url.startsWith(base)) return null;
    const path = url.slice(base.length).split(/[?#]/)[0]!;
    try {
      const key = path.split('/').map(decodeURIComponent).join('/');
      return key.length > 0 ? key : null;
    } catch {
      return null;
    }
  }

  /** Creates the bucket when it does not exist yet. */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (!isMissing(error)) throw error;
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    }
  }

  /** Resolves when the bucket is reachable; throws ServiceUnavailableError otherwise (for /readyz). */
  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      throw new ServiceUnavailableError('Object store is unreachable', { cause: error });
    }
  }

  /**
   * Deletes the objects under `prefix` last modified before `cutoff`; returns how many.
   * Pages through the listing and deletes in batches of up to 1000 (the S3 limit).
   */
  async deleteOlderThan(prefix: string, cutoff: Date): Promise<number> {
    let deleted = 0;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      const stale = (page.Contents ?? [])
        .filter(
          (item) => item.Key !== undefined && item.LastModified !== undefined && item.LastModified < cutoff,
        )
        .map((item) => ({ Key: item.Key! }));
      if (stale.length > 0) {
        await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: stale, Quiet: true } }),
        );
        deleted += stale.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return deleted;
  }

  close(): void {
    this.client.destroy();
  }
}

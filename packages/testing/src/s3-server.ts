/**
 * A real S3-protocol server (s3rver) for tests, on a free port with its own temp
 * directory and one bucket. It runs in the test process; close() and run() again on
 * the same port and directory make restart().
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListBucketsCommand, ListObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import '@glm-image/shared/aws-sdk-env';
import type { ObjectStoreConfig } from '@glm-image/shared/storage';
import { freePort } from './free-port.ts';

export interface S3ServerHandle {
  endpoint: string;
  port: number;
  bucket: string;
  region: string;
  /** s3rver accepts these (it checks signatures against the fixed S3RVER key pair). */
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops the server and deletes its directory. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops serving without deleting data (an outage). */
  pause(): Promise<void>;
  /** Serves again on the same port with the same data. */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

/** Resolves once the server answers a signed ListBuckets, i.e. it serves the S3 API. */
async function waitForListBuckets(port: number): Promise<void> {
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      try {
        await client.send(new ListBucketsCommand({}));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } finally {
    client.destroy();
  }
}

export async function startS3Server(options: { bucket?: string } = {}): Promise<S3ServerHandle> {
  const bucket = options.bucket ?? 'generations';
  const port = await freePort();
  const directory = await mkdtemp(join(tmpdir(), 'glm-s3-'));
  let server: S3rver | null = null;
  let stopped = false;

  const launch = async (): Promise<void> => {
    const instance = new S3rver({
      port,
      address: '127.0.0.1',
      directory,
      silent: true,
      configureBuckets: [{ name: bucket }],
    });
    await instance.run();
    server = instance;
    await waitForListBuckets(port);
  };
  const pause = async (): Promise<void> => {
    const instance = server;
    if (instance === null) return;
    server = null;
    await instance.close();
  };

  await launch().catch(async (error) => {
    await rm(directory, { recursive: true, force: true });
    throw error;
  });

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    pause,
    async restart() {
      if (stopped) throw new Error('S3 server was stopped; start a new one');
      await pause();
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await pause();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** An ObjectStore configuration pointing at this test server. */
export function objectStoreConfigFor(
  s3: S3ServerHandle,
  overrides: Partial<ObjectStoreConfig> = {},
): ObjectStoreConfig {
  return {
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: true,
    ...overrides,
  };
}

/**
 * Every key in the bucket. Pages by marker (ListObjects): s3rver's continuation tokens
 * use a cipher OpenSSL 3 no longer offers, so a truncated ListObjectsV2 page fails there.
 */
export async function listObjectKeys(s3: S3ServerHandle): Promise<string[]> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const keys: string[] = [];
  try {
    for (;;) {
      const page = await client.send(new ListObjectsCommand({ Bucket: s3.bucket, Marker: keys.at(-1) }));
      for (const item of page.Contents ?? []) keys.push(item.Key!);
      if (!page.IsTruncated) return keys;
    }
  } finally {
    client.destroy();
  }
}

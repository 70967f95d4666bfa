import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { objectStoreConfigFor, type S3ServerHandle, startS3Server } from '@glm-image/testing/s3-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, ServiceUnavailableError } from './errors.ts';
import {
  ObjectStore,
  outputKey,
  parseGenerationKey,
  previewKey,
  referenceKey,
  tokensKey,
} from './storage.ts';

let s3: S3ServerHandle;
let store: ObjectStore;

function storeFor(bucket: string, publicBaseUrl?: string): ObjectStore {
  return new ObjectStore(objectStoreConfigFor(s3, { bucket, ...(publicBaseUrl ? { publicBaseUrl } : {}) }));
}

beforeAll(async () => {
  s3 = await startS3Server();
  store = storeFor(s3.bucket);
});
afterAll(async () => {
  store.close();
  await s3.stop();
});

describe('ObjectStore', () => {
  it('lays keys out under generations/<tenant>/<id>/', () => {
    expect(outputKey('acme', 'g1', 2, 'webp')).toBe('generations/acme/g1/2.webp');
    expect(previewKey('acme', 'g1')).toBe('generations/acme/g1/preview.png');
    expect(tokensKey('acme', 'g1')).toBe('generations/acme/g1/tokens.json');
    expect(referenceKey('acme', 'g1', 1, 'jpeg')).toBe('generations/acme/g1/reference-1.jpg');
    expect(parseGenerationKey('generations/acme/g1/reference-1.jpg')).toEqual({
      tenant: 'acme',
      id: 'g1',
      name: 'reference-1.jpg',
    });
    expect(parseGenerationKey('generations/acme/g1')).toBeNull();
    expect(parseGenerationKey('elsewhere/acme/g1/0.png')).toBeNull();
  });

  it('maps its public URLs back to keys, and nothing else', () => {
    const published = storeFor(s3.bucket, 'https://cdn.example.com/media/');
    try {
      const key = 'generations/acme/g 1/0.png';
      const url = published.publicUrl(key)!;
      expect(url).toBe('https://cdn.example.com/media/generations/acme/g%201/0.png');
      expect(published.keyOfPublicUrl(url)).toBe(key);
      expect(published.keyOfPublicUrl('https://cdn.example.com/other/generations/acme/g1/0.png')).toBeNull();
      expect(published.keyOfPublicUrl('https://cdn.example.com.evil.test/media/x')).toBeNull();
      expect(store.keyOfPublicUrl(url)).toBeNull();
    } finally {
      published.close();
    }
  });

  it('copies an object within the bucket, and reads one only up to a size', async () => {
    const from = referenceKey('acme', 'src', 0, 'png');
    const to = referenceKey('acme', 'dst', 0, 'png');
    const body = Buffer.from('reference bytes');
    await store.put(from, body, 'image/png');
    await store.copy(from, to);
    expect(await store.getBuffer(to)).toEqual(body);
    expect((await store.get(to)).contentType).toBe('image/png');
    await expect(store.copy(referenceKey('acme', 'none', 0, 'png'), to)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(await store.getBufferUpTo(to, body.byteLength)).toEqual(body);
    expect(await store.getBufferUpTo(to, body.byteLength - 1)).toBeNull();
  });

  it('round-trips an object with its size, type and sha256', async () => {
    const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    const key = outputKey('acme', 'g1', 0, 'png');
    const put = await store.put(key, body, 'image/png');
    expect(put).toEqual({ bytes: 5000, sha256: createHash('sha256').update(body).digest('hex') });

    const got = await store.get(key);
    expect(got.contentType).toBe('image/png');
    expect(got.contentLength).toBe(5000);
    expect(await store.getBuffer(key)).toEqual(body);
  });

  it('accepts a stream and a string body', async () => {
    const key = tokensKey('acme', 'g2');
    const streamed = await store.put(
      key,
      Readable.from([Buffer.from('[1,2,'), Buffer.from('3]')]),
      'application/json',
    );
    expect(streamed.bytes).toBe(7);
    expect((await store.getBuffer(key)).toString()).toBe('[1,2,3]');
    const fromString = await store.put(key, '[1,2,3]', 'application/json');
    expect(fromString.sha256).toBe(streamed.sha256);
  });

  it('serves an object through a presigned URL over plain HTTP', async () => {
    const key = previewKey('acme', 'g3');
    const body = Buffer.from('preview bytes');
    await store.put(key, body, 'image/png');
    const url = await store.presignGet(key, 60);
    expect(url).toContain('X-Amz-Signature=');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(body);

    const tampered = url.replace('g3', 'g4');
    expect((await fetch(tampered)).status).toBeGreaterThanOrEqual(400);
  });

  it('throws NotFoundError for a missing key', async () => {
    await expect(store.get('generations/acme/none/0.png')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('creates a missing bucket once and builds public URLs only when configured', async () => {
    const other = storeFor('second-bucket', 'https://cdn.example.com/');
    try {
      await expect(other.ping()).rejects.toBeInstanceOf(ServiceUnavailableError);
      await other.ensureBucket();
      await other.ensureBucket();
      await other.ping();
      expect(other.publicUrl('generations/a b/x.png')).toBe(
        'https://cdn.example.com/generations/a%20b/x.png',
      );
      expect(store.publicUrl('generations/a/x.png')).toBeNull();
    } finally {
      other.close();
    }
  });

  it('reports the store unavailable while the server is down, and recovers', async () => {
    await s3.pause();
    await expect(store.ping()).rejects.toBeInstanceOf(ServiceUnavailableError);
    await s3.restart();
    await store.ping();
    expect((await store.getBuffer(outputKey('acme', 'g1', 0, 'png'))).length).toBe(5000);
  });

  it('rides out a short outage while uploading, and gives up with ServiceUnavailableError on a long one', async () => {
    const patient = new ObjectStore(
      objectStoreConfigFor(s3, { uploadRetry: { retries: 5, minDelayMs: 200, maxDelayMs: 400 } }),
    );
    const impatient = new ObjectStore(
      objectStoreConfigFor(s3, { uploadRetry: { retries: 1, minDelayMs: 50, maxDelayMs: 50 } }),
    );
    try {
      await s3.pause();
      await expect(
        impatient.put('generations/acme/g2/0.png', Buffer.from('x'), 'image/png'),
      ).rejects.toBeInstanceOf(ServiceUnavailableError);
      const upload = patient.put('generations/acme/g2/0.png', Buffer.from('late'), 'image/png');
      await new Promise((resolve) => setTimeout(resolve, 500));
      await s3.restart();
      expect((await upload).bytes).toBe(4);
      expect((await store.getBuffer('generations/acme/g2/0.png')).toString()).toBe('late');
    } finally {
      patient.close();
      impatient.close();
    }
  });
});

import { GlmImageError } from './errors.ts';

/**
 * Reference images for image-to-image requests: image bytes become the `data:` URL the
 * API takes in `reference_images`. The media type is read from the bytes themselves (a
 * file's name may lie), and bytes that are none of the types the API takes are refused
 * here, before a large body is sent only to be refused there.
 */

/** The image types the API takes as references. */
export type ReferenceMediaType = 'image/png' | 'image/jpeg' | 'image/webp';

/** Bytes that are not a PNG, JPEG or WebP image, or a file that could not be read. */
export class ReferenceImageError extends GlmImageError {}

function startsWith(bytes: Uint8Array, signature: readonly number[], at = 0): boolean {
  return signature.every((byte, i) => bytes[at + i] === byte);
}

const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0));

/** The type the bytes' signature says, or null when it is none the API takes. */
export function referenceMediaType(bytes: Uint8Array): ReferenceMediaType | null {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'image/webp';
  return null;
}

/** Base64 without Buffer, so that referenceImage works in browsers as well as Node. */
function base64(bytes: Uint8Array): string {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

/**
 * A reference image for `reference_images`: PNG, JPEG or WebP bytes as a base64 `data:`
 * URL typed by their content. Throws ReferenceImageError for any other bytes. The API
 * still checks size and pixels, and answers 400 naming `reference_images[i]`.
 */
export function referenceImage(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const type = referenceMediaType(view);
  if (type === null) throw new ReferenceImageError('not a PNG, JPEG or WebP image');
  return `data:${type};base64,${base64(view)}`;
}

/**
 * A reference image read from a file (Node): `referenceImage` of its bytes. Throws
 * ReferenceImageError naming the path when it cannot be read or is not an image the API
 * takes. `node:fs` is loaded only here, so the rest of the SDK runs in browsers too.
 */
export async function referenceImageFromFile(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : code;
    throw new ReferenceImageError(`${path}: ${reason ?? (error as Error).message}`, { cause: error });
  }
  try {
    return referenceImage(bytes);
  } catch (error) {
    throw new ReferenceImageError(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

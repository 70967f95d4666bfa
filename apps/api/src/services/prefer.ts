import { InvalidInputError } from '@glm-image/shared/errors';

/** The longest a client may hold a request open with `Prefer: wait=N`. */
export const MAX_WAIT_SECONDS = 60;

/**
 * Reads `wait=N` from a Prefer header (RFC 7240: comma-separated preferences, unknown
 * ones ignored). Values above the maximum are lowered to it; returns null when absent.
 */
export function parsePreferWait(header: string | string[] | undefined): number | null {
  if (header === undefined) return null;
  const raw = Array.isArray(header) ? header.join(',') : header;
  for (const part of raw.split(/[,;]/)) {
    const [name, value] = part.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (name?.toLowerCase() !== 'wait') continue;
    const seconds = Number(value);
    if (!value || !Number.isInteger(seconds) || seconds < 0) {
      throw new InvalidInputError('Prefer', 'wait must be a whole number of seconds');
    }
    return Math.min(seconds, MAX_WAIT_SECONDS);
  }
  return null;
}

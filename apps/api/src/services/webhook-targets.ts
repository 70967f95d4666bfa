import { InvalidInputError } from '@glm-image/shared/errors';
import { WebhookError } from '../webhooks/errors.ts';
import type { SsrfGuard } from '../webhooks/ssrf-guard.ts';

/**
 * Refuses webhook targets when a generation is submitted, so a client learns at once
 * that a private, loopback or metadata address will never be called instead of finding
 * `webhook_target_refused` in the delivery log later. It resolves the name but never
 * connects. The delivery worker checks again at connect time, and that check is the
 * protection: DNS may answer differently by then.
 */

/** A slow resolver must not hold a submission; past this the delivery-time check decides. */
export const DEFAULT_TARGET_CHECK_TIMEOUT_MS = 2_000;

export class WebhookTargetCheck {
  constructor(
    private readonly guard: SsrfGuard,
    private readonly timeoutMs: number = DEFAULT_TARGET_CHECK_TIMEOUT_MS,
  ) {}

  /**
   * Throws a 400 naming `webhook.url` when the target can never be delivered to. A name
   * that does not resolve (yet) passes: a receiver's DNS record may still be propagating,
   * and the delivery log will say so if it never does.
   */
  async assertDeliverable(url: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.timeoutMs);
    });
    // Settles either way, so a check that loses the race cannot reject unhandled later.
    const checked = this.guard.assertAllowed(url).then(
      () => null,
      (error: unknown) => error,
    );
    const problem = await Promise.race([checked, timedOut]);
    clearTimeout(timer);
    if (problem instanceof WebhookError && problem.permanent) {
      throw new InvalidInputError('webhook.url', problem.message);
    }
  }
}

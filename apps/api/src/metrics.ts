/**
 * The API's metrics: every process's (stage durations, generation endings, queue depth)
 * plus what only the HTTP edge sees: requests by route, webhook deliveries and feedback.
 */
import { METRIC_PREFIX, ServiceMetrics } from '@glm-image/shared/metrics';
import { Counter, Histogram } from 'prom-client';

/** Webhook delivery outcomes: `retrying` is a failed attempt that will be tried again. */
export const WEBHOOK_OUTCOMES = ['delivered', 'retrying', 'failed', 'blocked'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

export class ApiMetrics extends ServiceMetrics {
  private readonly httpRequests: Histogram<'method' | 'route' | 'status'>;
  private readonly webhookDeliveries: Counter<'outcome'>;
  private readonly feedback: Counter<'stage'>;
  private readonly feedbackRatings: Histogram<'stage'>;

  constructor(options: { collectDefaults?: boolean } = {}) {
    super({ service: 'api', ...options });
    const registers = [this.registry];
    this.httpRequests = new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'HTTP requests served, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: `${METRIC_PREFIX}webhook_deliveries_total`,
      help: 'Webhook delivery attempts by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.feedback = new Counter({
      name: `${METRIC_PREFIX}feedback_total`,
      help: 'Feedback people gave on generations, by the stage it is about (both counts for each).',
      labelNames: ['stage'],
      registers,
    });
    this.feedbackRatings = new Histogram({
      name: `${METRIC_PREFIX}feedback_rating`,
      help: 'Ratings (1 to 5) people gave, by the stage they are about.',
      labelNames: ['stage'],
      buckets: [1, 2, 3, 4, 5],
      registers,
    });
  }

  /** `route` is the route's template (`/v1/generations/:id`), never the raw URL, to bound the series. */
  observeHttpRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.observe({ method, route, status: String(status) }, seconds);
  }

  countWebhookDelivery(outcome: WebhookOutcome): void {
    this.webhookDeliveries.inc({ outcome });
  }

  countFeedback(stage: string, rating?: number): void {
    this.feedback.inc({ stage });
    if (rating !== undefined) this.feedbackRatings.observe({ stage }, rating);
  }
}

/**
 * The generation object clients see comes from the shared view, so API answers and
 * webhook bodies show the same thing. The API links to itself at the origin the client
 * used; webhooks, sent from workers, use PUBLIC_API_URL.
 */
export {
  generationPath,
  type PublicUrls,
  toPublicGeneration as toGenerationView,
  type ViewOptions,
} from '@glm-image/shared/generation-view';

export function baseUrlOf(request: { protocol: string; host: string }): string {
  return `${request.protocol}://${request.host}`;
}

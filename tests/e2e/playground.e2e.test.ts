/**
 * The playground page in a real browser: Debian's Chromium, driven by playwright-core,
 * against the real system (API, planner and decoder processes, Redis, S3, the reference
 * pack). A person's path through it: enter the key and a prompt, watch the layout
 * preview and then the image appear, rate it and say what is wrong with it, see the
 * evaluator's scores once one runs, render it again with another seed, cancel a
 * generation (while the page rides out an API restart), read the API's errors, come
 * back to the history, and edit a picture: pick reference images, plan only, approve
 * the plan and see the edited image. The screenshot is checked against the downloaded
 * image.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  colourRegion,
  discImage,
  dominantChannel,
  meanColour,
} from '../../packages/inference/src/testing/image-checks.ts';
import { REPO_ROOT } from '../../scripts/stack/start-stack.ts';
import { API_KEY, type E2eSystem, type GenerationView, startSystem } from './harness.ts';

/** A key with one write per minute: its second request is refused with 429. */
const TIGHT_KEY = 'e2e-tight-key-0123456789abcdef';
const PROMPT = 'a red circle on a blue background with a sign that says "HI"';
/** Generous: the machine running this may be busy with other work. */
const WAIT_MS = 180_000;
/** The largest reference image the API takes here: small, so that a photo-sized one is refused. */
const REFERENCE_MAX_BYTES = 256 * 1024;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let system: E2eSystem;
let userDataDir: string;
let browser: BrowserContext;
let page: Page;
/** Uncaught errors in the page and Content-Security-Policy violations: none are expected. */
const pageProblems: string[] = [];
/** Requests the page made for event streams, with their Last-Event-ID. */
const eventRequests: Array<{ url: string; lastEventId: string | undefined }> = [];
/** Feedback the page sent: its headers and body. */
const feedbackRequests: Array<{ url: string; headers: Record<string, string>; body: unknown }> = [];
/** Paths of the generations the page read with GET. */
const generationReads: string[] = [];
/** Bodies of the submits the page sent. */
const submits: Array<{ prompt: string; reference_images?: string[]; decode?: boolean }> = [];

interface Judged extends GenerationView {
  quality?: Partial<Record<'plan' | 'decode', { scores: Record<string, number> }>>;
  feedback?: Array<{
    id: string;
    stage: string;
    rating?: number;
    labels: string[];
    comment?: string;
    preferred_output?: number;
  }>;
}

/**
 * Runs in the page before its own scripts: records the order in which images load and
 * every text the connection line shows, so the test can tell what a person saw and when.
 * Plain JavaScript: it runs in the browser, not here.
 */
const PAGE_RECORDER = `
  window.loads = [];
  window.connection = [];
  document.addEventListener('load', (event) => {
    const testid = event.target instanceof HTMLImageElement && event.target.dataset.testid;
    if (testid) window.loads.push(testid);
  }, true);
  document.addEventListener('DOMContentLoaded', () => {
    const line = document.querySelector('[data-role="connection"]');
    new MutationObserver(() => window.connection.push(line.textContent)).observe(line, {
      childList: true, characterData: true, subtree: true,
    });
  });
`;

beforeAll(async () => {
  system = await startSystem({
    env: {
      API_KEYS: JSON.stringify([
        { sha256: sha256(API_KEY), tenant: 'e2e', rate_per_minute: 100_000 },
        { sha256: sha256(TIGHT_KEY), tenant: 'tight', rate_per_minute: 1 },
      ]),
      REFERENCE_IMAGE_MAX_BYTES: String(REFERENCE_MAX_BYTES),
    },
  });
  userDataDir = await mkdtemp(join(tmpdir(), 'glm-playground-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 1000 },
    deviceScaleFactor: 1,
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (error) => pageProblems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) pageProblems.push(message.text());
  });
  page.on('request', (request) => {
    if (request.url().endsWith('/events')) {
      eventRequests.push({ url: request.url(), lastEventId: request.headers()['last-event-id'] });
    }
    const path = new URL(request.url()).pathname;
    if (request.method() === 'POST' && path.endsWith('/feedback')) {
      feedbackRequests.push({ url: path, headers: request.headers(), body: request.postDataJSON() });
    }
    if (request.method() === 'GET' && /^\/v1\/generations\/[^/]+$/.test(path)) generationReads.push(path);
    if (request.method() === 'POST' && path === '/v1/generations') submits.push(request.postDataJSON());
  });
  await page.addInitScript({ content: PAGE_RECORDER });
});

afterAll(async () => {
  await browser?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  await system?.stop();
});

const shownId = () => page.locator('[data-panel="generation"] [data-role="id"]').textContent();
const statusBadge = () => page.locator('[data-panel="generation"] [data-role="status"]');
const outputImages = () => page.locator('[data-panel="generation"] [data-testid="output-image"]');

async function waitForStatus(status: string): Promise<void> {
  await page.locator(`[data-panel="generation"] [data-role="status"][data-status="${status}"]`).waitFor();
}

async function waitForShownId(until: (id: string) => boolean): Promise<string> {
  let id = '';
  await expect
    .poll(
      async () => {
        id = (await shownId()) ?? '';
        return until(id);
      },
      { timeout: WAIT_MS },
    )
    .toBe(true);
  return id;
}

/** A property of the element `locator` finds, read in the page. */
async function property(locator: ReturnType<Page['locator']>, name: string): Promise<unknown> {
  // A function, not a string: the page's Content-Security-Policy forbids eval.
  return locator.evaluate((node, key) => (node as unknown as Record<string, unknown>)[key], name);
}

async function setKey(key: string): Promise<void> {
  await page.getByLabel('API key').fill(key);
  await page.getByLabel('API key').press('Tab'); // 'change' saves it
}

async function fillForm(fields: Record<string, string>): Promise<void> {
  const form = page.locator('[data-panel="generate"]');
  for (const [label, value] of Object.entries(fields)) {
    const control = form.getByLabel(label, { exact: true });
    if ((await property(control, 'tagName')) === 'SELECT') await control.selectOption(value);
    else await control.fill(value);
  }
}

/** A screenshot of the viewport, also written under .local/screenshots (git-ignored) for people to look at. */
async function saveScreenshot(name: string, options: { fullPage?: boolean } = {}): Promise<Buffer> {
  const dir = join(REPO_ROOT, '.local', 'screenshots');
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  const screenshot = await page.screenshot({ path, ...options });
  console.log(`playground screenshot: ${path}`);
  return screenshot;
}

/** The pixels of a screenshot inside an element's content box, as a PNG. */
async function screenshotOf(screenshot: Buffer, selector: string) {
  const element = page.locator(selector);
  const rect = await element.boundingBox();
  if (!rect) throw new Error(`${selector} is not displayed`);
  const border = Number(await property(element, 'clientLeft'));
  const box = {
    x: rect.x + border,
    y: rect.y + border,
    w: rect.width - 2 * border,
    h: rect.height - 2 * border,
  };
  // Whole pixels inside the box; the edges are blended with what surrounds it.
  const region = {
    left: Math.ceil(box.x) + 1,
    top: Math.ceil(box.y) + 1,
    width: Math.floor(box.w) - 2,
    height: Math.floor(box.h) - 2,
  };
  return { region, box, png: await sharp(screenshot).extract(region).png().toBuffer() };
}

/** Mean absolute difference per channel (0..255) of two same-size RGB images. */
async function meanDifference(a: Buffer, b: Buffer): Promise<number> {
  const [ra, rb] = await Promise.all(
    [a, b].map((image) => sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true })),
  );
  expect([ra!.info.width, ra!.info.height]).toEqual([rb!.info.width, rb!.info.height]);
  let total = 0;
  for (let i = 0; i < ra!.data.length; i += 1) total += Math.abs(ra!.data[i]! - rb!.data[i]!);
  return total / ra!.data.length;
}

describe('the playground in a browser', { timeout: 300_000 }, () => {
  let firstId = '';
  let firstSha = '';

  it('serves the page with a strict Content-Security-Policy', async () => {
    const response = await page.goto(system.stack.apiUrl);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await expect(page.title()).resolves.toBe('GLM-Image playground');
    await page
      .locator('[data-panel="history"] [data-role="message"]')
      .getByText('Enter your API key')
      .waitFor();
  });

  it('submits, shows the layout preview and then the image, and the screenshot shows the image', async () => {
    await setKey(API_KEY);
    await fillForm({ Prompt: PROMPT, Width: '512', Height: '512', Seed: '7', Steps: '4' });
    await page.getByRole('button', { name: 'Generate', exact: true }).click();

    await page.getByTestId('preview-image').waitFor({ state: 'visible' });
    await outputImages().first().waitFor({ state: 'visible' });
    await waitForStatus('succeeded');
    const loads = await page.evaluate(() => (globalThis as unknown as { loads: string[] }).loads);
    expect(loads.indexOf('preview-image')).toBeGreaterThanOrEqual(0);
    expect(loads.indexOf('preview-image')).toBeLessThan(loads.indexOf('output-image'));

    firstId = (await shownId()) ?? '';
    const done = await system.client.get(firstId);
    expect(done.status).toBe('succeeded');
    expect(done.input).toMatchObject({ prompt: PROMPT, width: 512, height: 512, seed: 7, steps: 4 });
    firstSha = done.outputs[0]!.sha256;

    // Both stages ran to the end, and their timings are shown.
    const generation = page.locator('[data-panel="generation"]');
    expect(await property(generation.locator('[data-role="plan-progress"]'), 'value')).toBe(1);
    expect(await property(generation.locator('[data-role="decode-progress"]'), 'value')).toBe(1);
    const timings = await generation.locator('[data-role="timings"]').textContent();
    expect(timings).toMatch(/Planner/);
    expect(timings).toMatch(/Decoder/);
    expect(timings).toMatch(/Total/);

    // The screenshot shows the image the API stored, pixel for pixel (up to scaling).
    await outputImages().first().scrollIntoViewIfNeeded();
    const screenshot = await saveScreenshot('playground.png');

    const shown = await screenshotOf(screenshot, '[data-panel="generation"] [data-testid="output-image"]');
    expect(shown.region.width).toBeGreaterThan(200);
    const original = await system.client.download(done.outputs[0]!.url);
    // The original scaled to the displayed size, then cut the way the screenshot was.
    const scaled = await sharp(original)
      .resize(Math.round(shown.box.w), Math.round(shown.box.h), { fit: 'fill' })
      .toBuffer();
    const expected = await sharp(scaled)
      .extract({
        left: shown.region.left - Math.round(shown.box.x),
        top: shown.region.top - Math.round(shown.box.y),
        width: shown.region.width,
        height: shown.region.height,
      })
      .png()
      .toBuffer();
    const difference = await meanDifference(shown.png, expected);
    console.log(`mean difference from the stored image: ${difference.toFixed(2)} of 255`);
    expect(difference).toBeLessThan(6);
    // And a person would see a red circle on blue.
    expect(dominantChannel(await meanColour(shown.png, { x: 0.42, y: 0.3, w: 0.16, h: 0.12 }))).toBe('red');
    expect(dominantChannel(await meanColour(shown.png, { x: 0, y: 0, w: 0.08, h: 0.08 }))).toBe('blue');
  });

  it('takes feedback from its buttons, shows what was given, and the scores once an evaluator has scored it', async () => {
    const panel = page.locator('[data-panel="feedback"]');
    await panel.waitFor({ state: 'visible' });
    // Scores are not on the event stream: the page reads the generation again after it
    // succeeded. No evaluator runs yet, so none come.
    await expect
      .poll(() => generationReads.filter((path) => path.endsWith(firstId)).length, { timeout: WAIT_MS })
      .toBeGreaterThanOrEqual(2);
    expect(await panel.locator('[data-role="scores"] dt').count()).toBe(0);
    await expect(panel.locator('[data-role="scores-status"]').textContent()).resolves.toMatch(
      /Scoring|Not scored/,
    );
    // One image, planned and decoded here: every label, no choice of image.
    for (const name of ['Good', 'Bad', 'Text wrong', 'Layout wrong', 'Bad hands', 'Artifacts']) {
      await expect(panel.getByRole('button', { name, exact: true }).isVisible(), name).resolves.toBe(true);
    }
    expect(await panel.locator('[data-role="prefer"]').isHidden()).toBe(true);

    const good = panel.getByRole('button', { name: 'Good', exact: true });
    await good.click();
    await expect.poll(() => good.getAttribute('aria-pressed'), { timeout: WAIT_MS }).toBe('true');
    expect(await panel.getByRole('button', { name: 'Bad', exact: true }).getAttribute('aria-pressed')).toBe(
      'false',
    );
    const textWrong = panel.getByRole('button', { name: 'Text wrong' });
    await textWrong.click();
    await expect.poll(() => textWrong.getAttribute('aria-pressed'), { timeout: WAIT_MS }).toBe('true');

    // Sent as the API asks: the key in the header, JSON, a fresh Idempotency-Key per click.
    expect(feedbackRequests.map((request) => [request.url, request.body])).toEqual([
      [`/v1/generations/${firstId}/feedback`, { stage: 'both', rating: 5 }],
      [`/v1/generations/${firstId}/feedback`, { stage: 'decode', labels: ['text_wrong'] }],
    ]);
    const keys = feedbackRequests.map((request) => request.headers['idempotency-key']);
    for (const request of feedbackRequests) {
      expect(request.headers['authorization']).toBe(`Bearer ${API_KEY}`);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(new Set(keys).size).toBe(2);

    // The generation holds both, and the page lists them.
    const stored = (await system.client.get(firstId)) as Judged;
    expect(stored.feedback?.map(({ stage, rating, labels }) => ({ stage, rating, labels }))).toEqual([
      { stage: 'both', rating: 5, labels: [] },
      { stage: 'decode', labels: ['text_wrong'] },
    ]);
    const given = panel.locator('[data-role="given"] li');
    await expect
      .poll(() => given.evaluateAll((items) => items.map((item) => item.getAttribute('data-feedback-id'))), {
        timeout: WAIT_MS,
      })
      .toEqual(stored.feedback?.map((entry) => entry.id));
    expect(await given.nth(0).textContent()).toContain('Rated 5 of 5');
    expect(await given.nth(1).textContent()).toContain('Text wrong');

    // An evaluator scores both stages; the next read of the generation (here the one a
    // comment makes) shows the scores of each stage, as the API has them.
    await system.stack.addEvaluator();
    const scored = (await system.client.waitFor(
      firstId,
      (latest) => Boolean((latest as Judged).quality?.plan && (latest as Judged).quality?.decode),
      WAIT_MS,
    )) as Judged;
    await panel.getByLabel('Comment').fill('the sign could be larger');
    await panel.getByRole('button', { name: 'Send comment' }).click();
    for (const stage of ['plan', 'decode'] as const) {
      const scores = Object.entries(scored.quality![stage]!.scores);
      expect(scores.length).toBeGreaterThan(0);
      const rows = panel.locator(`[data-role="scores"] [data-stage="${stage}"] dd`);
      await expect.poll(() => rows.count(), { timeout: WAIT_MS }).toBe(scores.length);
      expect(await rows.allTextContents()).toEqual(scores.map(([, value]) => `${Math.round(value * 100)}%`));
    }
    const labels = await panel.locator('[data-role="scores"] dt').allTextContents();
    expect(labels).toEqual(expect.arrayContaining(['Prompt alignment', 'Text legibility']));
    await expect.poll(() => given.count(), { timeout: WAIT_MS }).toBe(3);
    expect(await given.nth(2).textContent()).toContain('“the sign could be larger”');
    expect(((await system.client.get(firstId)) as Judged).feedback?.[2]).toMatchObject({
      stage: 'both',
      comment: 'the sign could be larger',
    });
    expect(await panel.getByLabel('Comment').inputValue()).toBe('');

    await panel.scrollIntoViewIfNeeded();
    await saveScreenshot('playground-feedback.png', { fullPage: true });
  });

  it('renders the stored plan again with another seed, without the planner', async () => {
    const panel = page.locator('[data-panel="render-again"]');
    await panel.getByLabel('Seed').fill('8');
    await panel.getByRole('button', { name: 'Render again' }).click();
    const renderId = await waitForShownId((id) => id !== '' && id !== firstId);
    await waitForStatus('succeeded');
    await outputImages().first().waitFor({ state: 'visible' });
    await expect(
      page.locator('[data-panel="generation"] [data-role="plan-detail"]').textContent(),
    ).resolves.toContain(`reused the plan of ${firstId}`);
    const render = await system.client.get(renderId);
    expect(render.input).toMatchObject({ source_generation_id: firstId, seed: 8, steps: 4 });
    expect(render.outputs[0]!.sha256).not.toBe(firstSha);

    // A re-render's plan is its source's: its feedback is about its images only.
    const feedback = page.locator('[data-panel="feedback"]');
    await feedback.getByRole('button', { name: 'Artifacts' }).waitFor({ state: 'visible' });
    await feedback.getByRole('button', { name: 'Layout wrong' }).waitFor({ state: 'hidden' });
    const bad = feedback.getByRole('button', { name: 'Bad', exact: true });
    expect(await bad.getAttribute('aria-pressed')).toBe('false');
    await bad.click();
    await expect.poll(() => bad.getAttribute('aria-pressed'), { timeout: WAIT_MS }).toBe('true');
    expect(feedbackRequests.at(-1)?.body).toEqual({ stage: 'decode', rating: 1 });
    expect(((await system.client.get(renderId)) as Judged).feedback).toMatchObject([
      { stage: 'decode', rating: 1 },
    ]);
  });

  it('cancels a generation waiting for a decoder, following its events across an API restart', async () => {
    const { stack } = system;
    // A stopped decoder takes no job: the generation is planned, then waits to be decoded.
    stack.decoders[0]!.kill('SIGSTOP');
    try {
      await fillForm({ Prompt: 'a green square on a white background', Seed: '9' });
      await page.getByRole('button', { name: 'Generate', exact: true }).click();
      await page.getByTestId('preview-image').waitFor({ state: 'visible' });
      await page
        .locator('[data-panel="generation"] [data-role="decode-detail"]')
        .getByText('waiting for a decoder')
        .waitFor();
      const id = (await shownId()) ?? '';
      await saveScreenshot('playground-waiting.png');
      const before = eventRequests.filter((r) => r.url.includes(id)).length;

      // The API dies under the open event stream and comes back (supervised, like a pod).
      stack.api.kill('SIGKILL');
      await page.waitForFunction(
        () =>
          (globalThis as unknown as { connection: string[] }).connection.some((text) =>
            text.includes('reconnecting'),
          ),
        undefined,
        { timeout: WAIT_MS },
      );
      await expect
        .poll(
          () =>
            fetch(`${stack.apiUrl}/readyz`).then(
              (r) => r.status,
              () => 0,
            ),
          { timeout: WAIT_MS },
        )
        .toBe(200);
      await page
        .locator('[data-panel="generation"] [data-role="connection"]')
        .getByText('reconnecting')
        .waitFor({ state: 'hidden' });
      const resumed = eventRequests.filter((r) => r.url.includes(id)).slice(before);
      expect(resumed.length).toBeGreaterThan(0);
      expect(resumed.every((r) => r.lastEventId && /^\d+-\d+$/.test(r.lastEventId))).toBe(true);

      await page.getByRole('button', { name: 'Cancel', exact: true }).click();
      await waitForStatus('canceled');
      await expect(statusBadge().textContent()).resolves.toBe('Canceled');
      await page.getByRole('button', { name: 'Cancel', exact: true }).waitFor({ state: 'hidden' });
      expect((await system.client.get(id)).status).toBe('canceled');
      // Nothing to render again from a canceled generation, nor to judge.
      await page.getByRole('button', { name: 'Render again' }).waitFor({ state: 'hidden' });
      await page.locator('[data-panel="feedback"]').waitFor({ state: 'hidden' });
    } finally {
      stack.decoders[0]!.kill('SIGCONT');
    }
  });

  it("shows the API's errors as it words them: the field of a bad size, when to retry after 429", async () => {
    await setKey(TIGHT_KEY);
    const error = page.locator('[data-panel="generate"] [role="alert"]');
    const body = { prompt: PROMPT, width: 500, height: 512, steps: 4 };
    const answer = await system.client.request('/v1/generations', {
      method: 'POST',
      body: JSON.stringify(body),
    });
    expect(answer.status).toBe(400);
    const { error: expected } = (await answer.json()) as { error: { code: string; message: string } };
    expect(expected.message).toMatch(/^width: /);

    await fillForm({ Prompt: PROMPT, Width: '500', Height: '512', Seed: '', Steps: '4' });
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await error.getByText(expected.message).waitFor();
    expect(await error.textContent()).toContain(expected.code);

    // That request used the key's one write this minute.
    await fillForm({ Width: '512' });
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await error.getByText('rate_limited').waitFor();
    expect(await error.textContent()).toMatch(/Rate limit .* retry in/);
    expect(await error.textContent()).toMatch(/Retry-After: \d+ s/);
    await saveScreenshot('playground-429.png');
  });

  it('keeps the key across a reload and lists recent generations with thumbnails', async () => {
    await setKey(API_KEY);
    await page.reload();
    await expect(page.getByLabel('API key').inputValue()).resolves.toBe(API_KEY);

    const items = page.locator('[data-panel="history"] .history-item');
    await expect.poll(() => items.count(), { timeout: WAIT_MS }).toBe(3);
    // Two with images, one canceled with its preview: every one has a thumbnail.
    const thumbnails = page.locator('[data-panel="history"] [data-testid="history-thumbnail"]:visible');
    await expect.poll(() => thumbnails.count(), { timeout: WAIT_MS }).toBe(3);

    // Choosing one shows it again, with its image.
    await page.locator(`[data-panel="history"] .history-item[data-id="${firstId}"]`).click();
    await waitForShownId((id) => id === firstId);
    await outputImages().first().waitFor({ state: 'visible' });
    await saveScreenshot('playground-history.png', { fullPage: true });
    expect(pageProblems).toEqual([]);
  });

  it('edits a picture: picks references, plans only, approves the plan and shows the edited image', async () => {
    await page.goto(system.stack.apiUrl);
    await setKey(API_KEY);
    const files = await mkdtemp(join(tmpdir(), 'glm-playground-references-'));
    try {
      const disc = { x: 0.66, y: 0.34, radius: 0.16 };
      const picture = join(files, 'disc.png');
      await writeFile(
        picture,
        await discImage({ width: 512, height: 512, disc, fill: [220, 30, 30], background: [30, 70, 220] }),
      );
      // Noise does not compress: a PNG larger than the API takes here.
      const noise = join(files, 'photo.png');
      const raw = { width: 512, height: 512, channels: 3 } as const;
      await writeFile(
        noise,
        await sharp(randomBytes(512 * 512 * 3), { raw })
          .png()
          .toBuffer(),
      );

      const form = page.locator('[data-panel="generate"]');
      const thumbnails = form.getByTestId('reference');
      // Five picked: four kept, and the page says so.
      await form
        .getByLabel('Add reference images')
        .setInputFiles([picture, noise, picture, picture, picture]);
      await expect.poll(() => thumbnails.count(), { timeout: WAIT_MS }).toBe(4);
      await form.getByText('Up to 4 reference images: 1 not added.').waitFor();
      expect(await form.getByLabel('Add reference images').isDisabled()).toBe(true);
      await form.getByRole('button', { name: 'Remove reference image [3]' }).click();
      await form.getByRole('button', { name: 'Remove reference image [2]' }).click();
      await expect.poll(() => thumbnails.count()).toBe(2);
      await form.getByAltText('Reference image [1]: photo.png').waitFor({ state: 'visible' });

      await fillForm({
        Prompt: 'make the background green',
        Width: '512',
        Height: '512',
        Seed: '11',
        Steps: '4',
      });
      await form.getByLabel(/Plan only/).check();
      await page.getByRole('button', { name: 'Generate', exact: true }).click();
      // The API's words, naming the reference it refused by the index the thumbnail shows.
      const error = form.locator('[role="alert"]');
      await error.waitFor({ state: 'visible' });
      const refusal = await error.textContent();
      expect(refusal).toMatch(/^invalid_input reference_images\[1\]: /);
      expect(refusal).toContain(`at most ${REFERENCE_MAX_BYTES} bytes`);

      await form.getByRole('button', { name: 'Remove reference image [1]' }).click();
      await expect.poll(() => thumbnails.count()).toBe(1);
      await page.getByRole('button', { name: 'Generate', exact: true }).click();
      const planId = await waitForShownId((id) => id !== '' && id !== firstId);
      expect(submits.at(-1)).toMatchObject({ prompt: 'make the background green', decode: false });
      expect(submits.at(-1)?.reference_images).toHaveLength(1);
      expect(submits.at(-1)?.reference_images?.[0]).toMatch(/^data:image\/png;base64,/);

      // The plan ends at its preview, waiting for approval.
      await waitForStatus('succeeded');
      await page.getByTestId('preview-image').waitFor({ state: 'visible' });
      const approve = page.getByRole('button', { name: 'Approve and decode' });
      await approve.waitFor({ state: 'visible' });
      expect(await outputImages().count()).toBe(0);
      await expect(
        page.locator('[data-panel="generation"] [data-role="decode-detail"]').textContent(),
      ).resolves.toBe('plan only: waiting for approval');
      await page.getByRole('button', { name: 'Render again' }).waitFor({ state: 'hidden' });
      // The picture it edits is shown beside its plan, as the API stored it.
      await page.getByTestId('edited-from-image').waitFor({ state: 'visible' });
      const plan = await system.client.get(planId);
      expect(plan).toMatchObject({ status: 'succeeded', outputs: [], input: { decode: false } });
      expect(plan.input.reference_images).toHaveLength(1);
      await saveScreenshot('playground-plan-only.png');

      // Approved: the render is followed to the edited image.
      await approve.click();
      const renderId = await waitForShownId((id) => id !== planId);
      await approve.waitFor({ state: 'hidden' });
      await waitForStatus('succeeded');
      await outputImages().first().waitFor({ state: 'visible' });
      await expect(
        page.locator('[data-panel="generation"] [data-role="plan-detail"]').textContent(),
      ).resolves.toContain(`reused the plan of ${planId}`);
      const render = await system.client.get(renderId);
      expect(render.input).toMatchObject({ source_generation_id: planId });
      const image = await system.client.download(render.outputs[0]!.url);
      const red = await colourRegion(image, 'red');
      expect(red.centroid!.x).toBeCloseTo(disc.x, 1);
      expect(red.centroid!.y).toBeCloseTo(disc.y, 1);
      expect(dominantChannel(await meanColour(image, { x: 0, y: 0.9, w: 0.1, h: 0.1 }))).toBe('green');
      // The history tells an edit, a plan waiting for approval and its render apart.
      await page.getByRole('button', { name: 'Refresh' }).click();
      const meta = (id: string) =>
        page.locator(`[data-panel="history"] .history-item[data-id="${id}"] .history-meta`).textContent();
      await expect.poll(() => meta(planId), { timeout: WAIT_MS }).toContain('seed 11 · edit · plan only · ');
      expect(await meta(renderId)).toContain('· render · edit · ');
      await outputImages().first().scrollIntoViewIfNeeded();
      await saveScreenshot('playground-approved.png');
      expect(pageProblems).toEqual([]);
    } finally {
      await rm(files, { recursive: true, force: true });
    }
  });
});

/**
 * The OCR engine: tesseract.js (tesseract compiled to WebAssembly, running in its own
 * worker thread, off the event loop) with the English model shipped as an npm package,
 * so a container needs no system package and nothing is downloaded: the language data
 * is read from the package's folder and never cached to disk.
 */
import { createRequire } from 'node:module';
import { createWorker, OEM, PSM, type Worker } from 'tesseract.js';

const require = createRequire(import.meta.url);

/** Where @tesseract.js-data/eng keeps its (gzipped) traineddata: a folder, never a URL. */
export function englishLanguagePath(): string {
  const data = require('@tesseract.js-data/eng') as { langPath: string };
  return data.langPath;
}

async function startWorker(mode: PSM): Promise<Worker> {
  const worker = await createWorker('eng', OEM.LSTM_ONLY, {
    langPath: englishLanguagePath(),
    // 'none' reads no cache and writes none: the data comes from langPath every start.
    cacheMethod: 'none',
    gzip: true,
  });
  // Page images carry no resolution metadata; lines come at print size.
  await worker.setParameters({ user_defined_dpi: '300', tessedit_pageseg_mode: mode });
  return worker;
}

/**
 * One tesseract worker per page-segmentation mode, each set once: parameters are global
 * to a worker, so switching them per call would race between jobs run side by side.
 * Each worker runs its recognitions one at a time, in its own thread.
 */
export class OcrEngine {
  private constructor(
    private readonly lines: Worker,
    private readonly pages: Worker,
  ) {}

  static async start(): Promise<OcrEngine> {
    const lines = await startWorker(PSM.SINGLE_LINE);
    try {
      return new OcrEngine(lines, await startWorker(PSM.SPARSE_TEXT));
    } catch (error) {
      await lines.terminate();
      throw error;
    }
  }

  /** The text of one prepared line. */
  async readLine(png: Buffer): Promise<string> {
    return (await this.lines.recognize(png)).data.text.trim();
  }

  /** Text found anywhere on a page, in reading order. */
  async readPage(png: Buffer): Promise<string> {
    return (await this.pages.recognize(png)).data.text.trim();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.lines.terminate(), this.pages.terminate()]);
  }
}

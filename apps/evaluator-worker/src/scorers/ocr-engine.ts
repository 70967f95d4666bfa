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

export class OcrEngine {
  private constructor(private readonly worker: Worker) {}

  static async start(): Promise<OcrEngine> {
    const worker = await createWorker('eng', OEM.LSTM_ONLY, {
      langPath: englishLanguagePath(),
      // 'none' reads no cache and writes none: the data comes from langPath every start.
      cacheMethod: 'none',
      gzip: true,
    });
    // The images come from the text-line finder: no resolution metadata, print-sized ink.
    await worker.setParameters({ user_defined_dpi: '300' });
    return new OcrEngine(worker);
  }

  /** The text of one prepared line. */
  async readLine(png: Buffer): Promise<string> {
    await this.worker.setParameters({ tessedit_pageseg_mode: PSM.SINGLE_LINE });
    return (await this.worker.recognize(png)).data.text.trim();
  }

  /** Text found anywhere on a page, in reading order. */
  async readPage(png: Buffer): Promise<string> {
    await this.worker.setParameters({ tessedit_pageseg_mode: PSM.SPARSE_TEXT });
    return (await this.worker.recognize(png)).data.text.trim();
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

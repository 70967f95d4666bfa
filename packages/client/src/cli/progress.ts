import type { Generation } from '../types.ts';

/**
 * Progress of one generation on stderr: on a terminal, one bar per stage, redrawn in
 * place; otherwise (a pipe, a log file, CI) one plain line per stage, so logs stay
 * readable. Results go to stdout, never here.
 */

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

const BAR_WIDTH = 24;

function bar(step: number, total: number): string {
  const filled = total > 0 ? Math.min(BAR_WIDTH, Math.round((step / total) * BAR_WIDTH)) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${step}/${total}`;
}

function stageOf(generation: Generation): string {
  if (
    generation.status === 'queued' ||
    generation.status === 'planning' ||
    generation.status === 'decoding'
  ) {
    return generation.progress.stage;
  }
  return generation.status;
}

export class ProgressView {
  private stage = '';
  private lineOpen = false;

  constructor(
    private readonly out: ProgressOutput,
    private readonly enabled: boolean,
  ) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  /** A one-off line (submitted, preview written, …), kept above the live bar. */
  note(text: string): void {
    if (!this.enabled) return;
    this.closeLine();
    this.out.write(`${text}\n`);
  }

  update(generation: Generation): void {
    if (!this.enabled) return;
    const stage = stageOf(generation);
    const { step, total } = generation.progress;
    const counted = step !== undefined && total !== undefined;
    let detail = counted ? bar(step, total) : '';
    if (stage === 'queued' && generation.queue_position !== undefined) {
      detail = `position ${generation.queue_position}`;
    }
    const line = `${stage.padEnd(10)} ${detail}`.trimEnd();
    if (this.tty) {
      if (stage !== this.stage) this.closeLine();
      this.out.write(`\r\x1b[2K${line}`);
      this.lineOpen = true;
    } else if (stage !== this.stage) {
      this.out.write(`${stage}\n`);
    }
    this.stage = stage;
  }

  /** Ends the live bar so that what follows starts on its own line. */
  closeLine(): void {
    if (this.lineOpen) this.out.write('\n');
    this.lineOpen = false;
  }
}

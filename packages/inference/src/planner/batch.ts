/**
 * Left padding for a batch of prompts of different lengths: generation appends on the
 * right, so every row's last position must be a real token. Padded positions get
 * attention_mask 0; position ids count real tokens only (pads get 1, as Hugging Face
 * does), so a padded row sees the same positions as it would alone.
 */
export interface PaddedBatch {
  batch: number;
  length: number;
  /** Row-major [batch, length]. */
  inputIds: number[];
  attentionMask: number[];
  positionIds: number[];
  /** Per row: the position id its next token gets. */
  nextPositions: number[];
}

export function leftPad(rows: number[][], padId: number): PaddedBatch {
  const length = Math.max(...rows.map((r) => r.length));
  const inputIds: number[] = [];
  const attentionMask: number[] = [];
  const positionIds: number[] = [];
  const nextPositions: number[] = [];
  for (const row of rows) {
    const pad = length - row.length;
    for (let i = 0; i < pad; i++) {
      inputIds.push(padId);
      attentionMask.push(0);
      positionIds.push(1);
    }
    row.forEach((id, i) => {
      inputIds.push(id);
      attentionMask.push(1);
      positionIds.push(i);
    });
    nextPositions.push(row.length);
  }
  return { batch: rows.length, length, inputIds, attentionMask, positionIds, nextPositions };
}

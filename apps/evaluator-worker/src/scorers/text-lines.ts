/**
 * Finds lines of text in an image without knowing where they are, and prepares each for
 * OCR the way OCR engines read best: glyph-sized blobs of near-black ink (or near-white,
 * for light text on dark ground) are found as connected components, grouped into lines
 * by their vertical extent, and each line is redrawn black on white with its ink scaled
 * to print size and softened, so that blocky or very large lettering reads like type.
 */
import sharp from 'sharp';

export type InkPolarity = 'dark' | 'light';

/** A prepared line: 8-bit grey, black ink on white paper. */
export interface TextLineImage {
  png: Buffer;
  /** Where it was found, in pixels of the source image. */
  box: { left: number; top: number; width: number; height: number };
  polarity: InkPolarity;
}

/** Ink height, in pixels, at which tesseract's English model reads most reliably. */
const INK_HEIGHT = 28;
/** White paper around a prepared line. */
const MARGIN = 20;
/** A glyph is never taller than this fraction of the image, nor wider than half of it. */
const MAX_GLYPH_HEIGHT = 1 / 3;
const MAX_GLYPH_WIDTH = 1 / 2;
/** Smaller blobs are noise or punctuation too small to matter. */
const MIN_GLYPH_HEIGHT = 6;
const MIN_GLYPH_AREA = 8;
/** Lines found per polarity at most: past this an image is texture, not text. */
const MAX_LINES = 16;

interface Component {
  /** Its label in the label image (1-based). */
  label: number;
  left: number;
  top: number;
  right: number;
  bottom: number;
  area: number;
}

function isInk(r: number, g: number, b: number, polarity: InkPolarity): boolean {
  return polarity === 'dark' ? Math.max(r, g, b) < 100 : Math.min(r, g, b) > 155;
}

/** The lines of text of one ink polarity in an encoded image, top to bottom. */
export async function findTextLines(image: Buffer, polarity: InkPolarity): Promise<TextLineImage[]> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const ink = new Uint8Array(width * height);
  for (let p = 0; p < ink.length; p += 1) {
    ink[p] = isInk(data[p * 3]!, data[p * 3 + 1]!, data[p * 3 + 2]!, polarity) ? 1 : 0;
  }
  const labels = new Int32Array(width * height);
  const glyphs = components(ink, labels, width, height).filter((c) => isGlyphLike(c, width, height));
  const lines = groupIntoLines(glyphs).slice(0, MAX_LINES);
  return Promise.all(lines.map((line) => renderLine(line, labels, width, polarity)));
}

/**
 * 8-connected components of the ink mask (blocky lettering joins its diagonal strokes
 * only at corners); an explicit stack, so no recursion depth to run out of.
 */
function components(ink: Uint8Array, labels: Int32Array, width: number, height: number): Component[] {
  const found: Component[] = [];
  const stack: number[] = [];
  for (let start = 0; start < ink.length; start += 1) {
    if (!ink[start] || labels[start]) continue;
    const c: Component = {
      label: found.length + 1,
      left: width,
      top: height,
      right: -1,
      bottom: -1,
      area: 0,
    };
    labels[start] = c.label;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop()!;
      const x = p % width;
      const y = (p - x) / width;
      c.area += 1;
      if (x < c.left) c.left = x;
      if (x > c.right) c.right = x;
      if (y < c.top) c.top = y;
      if (y > c.bottom) c.bottom = y;
      for (let dy = -1; dy <= 1; dy += 1) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx += 1) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (ink[q] && !labels[q]) {
            labels[q] = c.label;
            stack.push(q);
          }
        }
      }
    }
    found.push(c);
  }
  return found;
}

/** Glyph-sized, and not ground: a blob touching the image's edge is background, not lettering. */
function isGlyphLike(c: Component, width: number, height: number): boolean {
  const w = c.right - c.left + 1;
  const h = c.bottom - c.top + 1;
  const touchesEdge = c.left === 0 || c.top === 0 || c.right === width - 1 || c.bottom === height - 1;
  return (
    !touchesEdge &&
    c.area >= MIN_GLYPH_AREA &&
    h >= MIN_GLYPH_HEIGHT &&
    h <= height * MAX_GLYPH_HEIGHT &&
    w <= width * MAX_GLYPH_WIDTH
  );
}

/**
 * Glyphs that overlap a row vertically by half the shorter of the two join it (parts of
 * a letter and punctuation included), unless twice its height; a gap wider than three
 * glyph heights starts another line on the same row.
 */
function groupIntoLines(glyphs: Component[]): Component[][] {
  const rows: Array<{ top: number; bottom: number; glyphs: Component[] }> = [];
  const bySize = [...glyphs].sort((a, b) => b.bottom - b.top - (a.bottom - a.top) || a.top - b.top);
  for (const glyph of bySize) {
    const h = glyph.bottom - glyph.top + 1;
    const row = rows.find((r) => {
      const rowHeight = r.bottom - r.top + 1;
      const overlap = Math.min(r.bottom, glyph.bottom) - Math.max(r.top, glyph.top) + 1;
      return overlap >= Math.min(h, rowHeight) / 2 && h <= 2 * rowHeight;
    });
    if (row) {
      row.glyphs.push(glyph);
      row.top = Math.min(row.top, glyph.top);
      row.bottom = Math.max(row.bottom, glyph.bottom);
    } else {
      rows.push({ top: glyph.top, bottom: glyph.bottom, glyphs: [glyph] });
    }
  }
  const lines: Component[][] = [];
  for (const { glyphs: row, top, bottom } of rows) {
    row.sort((a, b) => a.left - b.left);
    const typical = bottom - top + 1;
    let line: Component[] = [];
    for (const glyph of row) {
      const previous = line.at(-1);
      if (previous && glyph.left - previous.right > 3 * typical) {
        lines.push(line);
        line = [];
      }
      line.push(glyph);
    }
    lines.push(line);
  }
  return lines.sort((a, b) => a[0]!.top - b[0]!.top || a[0]!.left - b[0]!.left);
}

/** The line's glyphs alone, black on white, scaled to print size, softened and framed. */
async function renderLine(
  line: Component[],
  labels: Int32Array,
  width: number,
  polarity: InkPolarity,
): Promise<TextLineImage> {
  const left = Math.min(...line.map((g) => g.left));
  const top = Math.min(...line.map((g) => g.top));
  const w = Math.max(...line.map((g) => g.right)) - left + 1;
  const h = Math.max(...line.map((g) => g.bottom)) - top + 1;
  const members = new Set(line.map((g) => g.label));
  const page = Buffer.alloc(w * h, 255);
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      if (members.has(labels[(top + y) * width + left + x]!)) page[y * w + x] = 0;
    }
  }
  const png = await sharp(page, { raw: { width: w, height: h, channels: 1 } })
    .resize({ width: Math.max(1, Math.round((w * INK_HEIGHT) / h)), height: INK_HEIGHT, fit: 'fill' })
    .blur(1)
    .extend({ top: MARGIN, bottom: MARGIN, left: MARGIN, right: MARGIN, background: 'white' })
    .greyscale()
    .png()
    .toBuffer();
  return { png, box: { left, top, width: w, height: h }, polarity };
}

import { COLOUR_SYNONYMS, PALETTE } from './semantic-codebook.ts';

/**
 * The words the reference planner understands. The tokenizer gives each of them a
 * single id and the planner's embedding table gives that id hand-set features, so
 * these lists are the whole of the reference planner's "language understanding".
 */

/** Shape kinds the planner can draw; the index is the kind's feature slot. */
export const ShapeKind = { circle: 0, square: 1, triangle: 2 } as const;
export type ShapeKind = (typeof ShapeKind)[keyof typeof ShapeKind];

/** Every spelling of a colour, mapped to its palette index. */
export const COLOUR_WORDS: ReadonlyMap<string, number> = (() => {
  const words = new Map<string, number>();
  for (const [index, entry] of PALETTE.entries()) words.set(entry.name, index);
  const extra: Record<string, string> = {
    ...COLOUR_SYNONYMS,
    scarlet: 'red',
    ruby: 'red',
    amber: 'orange',
    tangerine: 'orange',
    lemon: 'yellow',
    lime: 'green',
    emerald: 'green',
    olive: 'green',
    azure: 'blue',
    cobalt: 'blue',
    sapphire: 'blue',
    lavender: 'purple',
    lilac: 'purple',
    indigo: 'navy',
    rose: 'pink',
    salmon: 'pink',
    tan: 'brown',
    chocolate: 'brown',
    maroon: 'brown',
    ebony: 'black',
    charcoal: 'black',
    ivory: 'white',
    snow: 'white',
    silver: 'gray',
    turquoise: 'cyan',
    aqua: 'cyan',
    fuchsia: 'magenta',
    golden: 'gold',
  };
  for (const [word, name] of Object.entries(extra)) {
    const index = PALETTE.findIndex((entry) => entry.name === name);
    if (index < 0) throw new Error(`colour synonym ${word} names unknown colour ${name}`);
    words.set(word, index);
  }
  return words;
})();

/** Nouns that name the drawn object, with the shape used to draw it. */
export const SHAPE_NOUNS: ReadonlyMap<string, ShapeKind> = new Map<string, ShapeKind>([
  ...pluralised(
    ['circle', 'ball', 'sphere', 'disc', 'disk', 'dot', 'ring', 'orb', 'planet', 'moon', 'sun'],
    0,
  ),
  ...pluralised(['shape', 'logo', 'object', 'balloon', 'bubble', 'coin', 'wheel', 'apple', 'flower'], 0),
  ...pluralised(['square', 'box', 'cube', 'block', 'rectangle', 'tile', 'card', 'book', 'window', 'door'], 1),
  ...pluralised(['triangle', 'pyramid', 'cone', 'mountain', 'tree', 'tent', 'arrow'], 2),
]);

/** Nouns that name the background: a colour directly before one colours the background. */
export const BACKGROUND_NOUNS: readonly string[] = [
  'background',
  'backdrop',
  'backgrounds',
  'bg',
  'sky',
  'wall',
  'walls',
  'canvas',
  'floor',
  'field',
  'sea',
  'ocean',
  'water',
  'grass',
  'paper',
  'scene',
  'setting',
  'surface',
];

/** Nouns that usually introduce rendered text; the quote marks themselves decide the layout. */
export const TEXT_NOUNS: readonly string[] = [
  'text',
  'word',
  'words',
  'sign',
  'signs',
  'caption',
  'title',
  'headline',
  'label',
  'banner',
  'poster',
  'letters',
  'lettering',
  'slogan',
  'says',
  'saying',
  'reads',
  'reading',
  'written',
];

/** Double-like quote marks: two or more of them in a prompt reserve a text panel. */
export const DOUBLE_QUOTES: readonly string[] = ['"', '“', '”', '「', '」', '『', '』', '«', '»'];
/** Single quote marks (apostrophes included): two or more reserve a text panel. */
export const SINGLE_QUOTES: readonly string[] = ["'", '‘', '’'];

/** Integers with a single token each; grid sizes (at most 64) are well inside. */
export const MAX_NUMBER_TOKEN = 256;

/** Frequent prompt words that carry no layout meaning but deserve one token each. */
export const COMMON_WORDS: readonly string[] = [
  ...'a an the on in with of and or that this is are it its at to by for from as be has have'.split(' '),
  ...'over under above below behind front top bottom left right center centre middle near next'.split(' '),
  ...'big small large little tiny huge bright dark light pale deep soft simple plain flat solid'.split(' '),
  ...'image picture photo painting drawing illustration render style minimal minimalist clean'.split(' '),
  ...'one two three four five many some single alone only very'.split(' '),
];

function pluralised(words: string[], kind: ShapeKind): Array<[string, ShapeKind]> {
  return words.flatMap((word): Array<[string, ShapeKind]> => {
    const plural = /(x|s|sh|ch)$/.test(word) ? `${word}es` : `${word}s`;
    return [
      [word, kind],
      [plural, kind],
    ];
  });
}

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
  ...pluralised(['lantern', 'cake', 'plate', 'clock', 'lamp', 'egg', 'cat', 'dog', 'bird', 'face'], 0),
  ...pluralised(['square', 'box', 'cube', 'block', 'rectangle', 'tile', 'card', 'book', 'window', 'door'], 1),
  ...pluralised(['house', 'building', 'tower', 'car', 'bus', 'truck', 'hedge', 'fence', 'board', 'frame'], 1),
  ...pluralised(['triangle', 'pyramid', 'cone', 'mountain', 'tree', 'tent', 'arrow', 'roof', 'kite'], 2),
]);

/** Nouns that name the background: a colour bound to one colours the whole canvas. */
export const BACKGROUND_NOUNS: readonly string[] = [
  'background',
  'backdrop',
  'backgrounds',
  'bg',
  'sky',
  'skies',
  'wall',
  'walls',
  'ceiling',
  'canvas',
  'paper',
  'scene',
  'setting',
  'surface',
];

/**
 * Nouns that name the ground: a band along the bottom of the image, in the colour
 * bound to the noun or, failing that, the colour the noun usually has.
 */
export const GROUND_NOUNS: ReadonlyMap<string, string | undefined> = new Map([
  ['ground', 'brown'],
  ['floor', undefined],
  ['road', 'gray'],
  ['street', 'gray'],
  ['pavement', 'gray'],
  ['path', 'brown'],
  ['field', 'green'],
  ['fields', 'green'],
  ['grass', 'green'],
  ['lawn', 'green'],
  ['meadow', 'green'],
  ['hill', 'green'],
  ['hills', 'green'],
  ['sea', 'blue'],
  ['ocean', 'blue'],
  ['water', 'blue'],
  ['lake', 'blue'],
  ['river', 'blue'],
  ['beach', 'gold'],
  ['sand', 'gold'],
  ['desert', 'gold'],
  ['table', 'brown'],
]);

/**
 * Words placing what comes before them relative to what comes after: +1 above, -1
 * below. They decide whether the text panel sits over or under the objects, and stack
 * objects instead of setting them side by side.
 */
export const RELATION_WORDS: ReadonlyMap<string, 1 | -1> = new Map([
  ['above', 1],
  ['over', 1],
  ['on', 1],
  ['atop', 1],
  ['upon', 1],
  ['under', -1],
  ['below', -1],
  ['beneath', -1],
  ['underneath', -1],
]);

/**
 * Words that may stand between a noun and a colour that follows it and is meant for it:
 * "make the background green", "the circle that is red", "turn the sky to purple".
 */
export const LINKING_WORDS: readonly string[] = [
  ...'to into is are be become becomes turn turns turned now in that which all fully completely'.split(' '),
  ...'painted colored coloured'.split(' '),
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
  // Adjectives that come between a colour and its noun, so that they stay one word.
  ...'tall short wide narrow round long pale vivid shiny glossy matte striped spotted'.split(' '),
  ...'wooden stone brick glass metal plastic old new young ancient modern evening morning'.split(' '),
  ...'night sunny cloudy rainy misty quiet busy happy sad warm cold cozy painted neon'.split(' '),
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

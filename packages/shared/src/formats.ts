/** The image formats a generation can be encoded in: the API accepts them, the decoder writes them. */
export const OUTPUT_FORMATS = ['png', 'webp', 'jpeg'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  png: 'image/png',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
};

/** File name extensions of stored images. */
export const FILE_EXTENSIONS: Readonly<Record<OutputFormat, string>> = {
  png: 'png',
  webp: 'webp',
  jpeg: 'jpg',
};

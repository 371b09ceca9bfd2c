/**
 * Image formats recognised by their first bytes that this build of sharp (libvips, without ImageMagick) cannot
 * decode. An upload in one of them is an image in a format we do not thumbnail (`UNSUPPORTED_IMAGE_FORMAT`), not
 * "not an image" (`NOT_AN_IMAGE`): the caller should convert it, not wonder what it sent.
 */
const BMP_HEADER_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

const SIGNATURES: readonly { format: string; matches: (bytes: Buffer) => boolean }[] = [
  {
    format: 'BMP',
    // "BM", then a DIB header of one of the sizes Windows and OS/2 bitmaps use.
    matches: (b) => b.length >= 26 && b.toString('latin1', 0, 2) === 'BM' && BMP_HEADER_SIZES.has(b.readUInt32LE(14)),
  },
  { format: 'ICO', matches: (b) => b.length >= 6 && b.readUInt32BE(0) === 0x00000100 && b.readUInt16LE(4) > 0 },
  { format: 'CUR', matches: (b) => b.length >= 6 && b.readUInt32BE(0) === 0x00000200 && b.readUInt16LE(4) > 0 },
  { format: 'PSD', matches: (b) => b.toString('latin1', 0, 4) === '8BPS' },
  { format: 'JPEG 2000', matches: (b) => b.toString('hex', 0, 12) === '0000000c6a5020200d0a870a' },
  { format: 'JPEG 2000', matches: (b) => b.toString('hex', 0, 4) === 'ff4fff51' },
  { format: 'JPEG XL', matches: (b) => b.toString('hex', 0, 2) === 'ff0a' },
  { format: 'JPEG XL', matches: (b) => b.toString('hex', 0, 12) === '0000000c4a584c200d0a870a' },
  { format: 'QOI', matches: (b) => b.toString('latin1', 0, 4) === 'qoif' },
  { format: 'ICNS', matches: (b) => b.toString('latin1', 0, 4) === 'icns' },
  { format: 'DDS', matches: (b) => b.toString('latin1', 0, 4) === 'DDS ' },
  { format: 'OpenEXR', matches: (b) => b.toString('hex', 0, 4) === '762f3101' },
  {
    format: 'HEIC',
    matches: (b) =>
      b.toString('latin1', 4, 8) === 'ftyp' && /^(heic|heix|hevc|hevx|heim|heis)$/.test(b.toString('latin1', 8, 12)),
  },
];

/** The name of a recognised image format this app cannot decode, or undefined. */
export function unsupportedImageFormat(bytes: Buffer): string | undefined {
  return SIGNATURES.find((signature) => signature.matches(bytes))?.format;
}

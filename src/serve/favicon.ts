/**
 * The site icon: an SVG (linked by the page) and the same drawing as /favicon.ico (an ICO file holding
 * one 32-pixel PNG, which every browser reads), made when the server starts.
 */
import sharp from 'sharp';

export const FAVICON_SVG = Buffer.from(
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">` +
    `<rect width="32" height="32" rx="7" fill="#4f46e5"/>` +
    `<path d="M4 16c3-6 7-9 12-9s9 3 12 9c-3 6-7 9-12 9s-9-3-12-9z" fill="#fff"/>` +
    `<circle cx="16" cy="16" r="5" fill="#4f46e5"/><circle cx="17.5" cy="14.5" r="1.6" fill="#fff"/></svg>`,
);

/** An ICO container around one PNG (ICONDIR, one ICONDIRENTRY, the PNG). */
export function icoFromPng(png: Buffer, size: number): Buffer {
  const header = Buffer.alloc(6 + 16);
  header.writeUInt16LE(0, 0); // reserved
  header.writeUInt16LE(1, 2); // type: icon
  header.writeUInt16LE(1, 4); // one image
  header.writeUInt8(size >= 256 ? 0 : size, 6); // width (0 means 256)
  header.writeUInt8(size >= 256 ? 0 : size, 7); // height
  header.writeUInt16LE(1, 10); // colour planes
  header.writeUInt16LE(32, 12); // bits per pixel
  header.writeUInt32LE(png.length, 14);
  header.writeUInt32LE(header.length, 18); // offset of the PNG
  return Buffer.concat([header, png]);
}

export async function faviconIco(size = 32): Promise<Buffer> {
  return icoFromPng(await sharp(FAVICON_SVG).resize(size, size).png().toBuffer(), size);
}

/**
 * Draws a photo scene: the square crop of the background photograph, then each cut-out thing far to
 * near, scaled by depth, lit like the background (its mean colour tints and dims the stamp) and set on
 * a soft contact shadow at its feet. Decoded photographs and stamps are cached per process (each worker
 * has its own cache).
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { composite, type Raster } from '../scenes/art.ts';
import { SIZE } from '../scenes/backgrounds.ts';
import type { Stamp } from './catalog.ts';
import type { PhotoScene } from './layout.ts';
import { backdropPath, stampPath } from './packages.ts';

interface Decoded {
  width: number;
  height: number;
  /** RGB (backgrounds) or straight RGBA trimmed to the opaque part (stamps). */
  data: Buffer;
}

const backgrounds = new Map<string, Promise<Decoded>>();
const stamps = new Map<string, Promise<Decoded>>();
const sized = new Map<string, Promise<Raster>>();
// Backgrounds are kept at this height: enough for the tightest crop at the largest output size.
const BACKGROUND_HEIGHT = 720;
const STAMP_MAX = 360;
const SIZE_STEP = 2;

function decodeBackground(file: string): Promise<Decoded> {
  let p = backgrounds.get(file);
  if (!p) {
    p = sharp(file)
      .resize({ height: BACKGROUND_HEIGHT })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true })
      .then(({ data, info }) => ({ width: info.width, height: info.height, data }));
    backgrounds.set(file, p);
  }
  return p;
}

/** Bounding box of the pixels with alpha above `threshold` in straight RGBA. */
export function opaqueBox(data: Uint8Array, width: number, height: number, threshold = 8): [number, number, number, number] {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4 + 3]! > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return [0, 0, width, height];
  return [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

/** A stamp decoded and trimmed to its opaque part, at most STAMP_MAX pixels on its longest side. */
export function decodeStamp(file: string): Promise<Decoded> {
  let p = stamps.get(file);
  if (!p) {
    p = (async () => {
      const { data, info } = await sharp(readFileSync(file)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const [left, top, width, height] = opaqueBox(data, info.width, info.height);
      const scale = Math.min(1, STAMP_MAX / Math.max(width, height));
      const out = await sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } })
        .extract({ left, top, width, height })
        .resize(Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale)))
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { width: out.info.width, height: out.info.height, data: out.data };
    })();
    stamps.set(file, p);
  }
  return p;
}

/** The stamp at a drawn size as premultiplied RGBA (what composite() blends). */
function stampRaster(stamp: Stamp, w: number, h: number, flip: boolean): Promise<Raster> {
  const key = `${stamp.file}|${w}|${h}|${flip ? 1 : 0}`;
  let p = sized.get(key);
  if (!p) {
    if (sized.size > 4000) sized.clear();
    p = (async () => {
      const src = await decodeStamp(stampPath(stamp.file));
      let img = sharp(src.data, { raw: { width: src.width, height: src.height, channels: 4 } }).resize(w, h, { fit: 'fill' });
      if (flip) img = img.flop();
      const data = await img.raw().toBuffer();
      for (let i = 0; i < data.length; i += 4) {
        const a = data[i + 3]! / 255;
        data[i] = data[i]! * a;
        data[i + 1] = data[i + 1]! * a;
        data[i + 2] = data[i + 2]! * a;
      }
      return { width: w, height: h, data };
    })();
    sized.set(key, p);
  }
  return p;
}

/** Light of the picture as RGB multipliers: the stamp takes the background's brightness and a little of its hue. */
export function lightFrom(canvas: Raster): [number, number, number] {
  const d = canvas.data;
  let r = 0;
  let g = 0;
  let b = 0;
  for (let i = 0; i < d.length; i += 4) {
    r += d[i]!;
    g += d[i + 1]!;
    b += d[i + 2]!;
  }
  const n = d.length / 4;
  [r, g, b] = [r / n, g / n, b / n];
  const lum = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
  const level = 0.8 + 0.35 * lum;
  const mean = (r + g + b) / 3 || 1;
  const hue = (c: number) => Math.pow(c / mean || 1, 0.25);
  const clamp = (v: number) => Math.max(0.6, Math.min(1.2, v));
  return [clamp(level * hue(r)), clamp(level * hue(g)), clamp(level * hue(b))];
}

/** Darkens a soft ellipse under a thing's feet (ground contact). */
function contactShadow(canvas: Raster, cx: number, feet: number, width: number, strength = 0.42): void {
  const rx = width * 0.5;
  const ry = Math.max(2, width * 0.09);
  const d = canvas.data;
  for (let y = Math.max(0, Math.floor(feet - ry)); y < Math.min(canvas.height, Math.ceil(feet + ry)); y++) {
    for (let x = Math.max(0, Math.floor(cx - rx)); x < Math.min(canvas.width, Math.ceil(cx + rx)); x++) {
      const dx = (x + 0.5 - cx) / rx;
      const dy = (y + 0.5 - feet) / ry;
      const r2 = dx * dx + dy * dy;
      if (r2 >= 1) continue;
      const k = 1 - strength * (1 - r2) * (1 - r2);
      const i = (y * canvas.width + x) * 4;
      d[i] = d[i]! * k;
      d[i + 1] = d[i + 1]! * k;
      d[i + 2] = d[i + 2]! * k;
    }
  }
}

/** The picture as raw RGBA (opaque), `size` pixels square; the scene's geometry is in 224-pixel units. */
export async function renderPhotoRgba(ps: PhotoScene, size = SIZE): Promise<Raster> {
  const bg = await decodeBackground(backdropPath(ps.backdrop));
  const px = bg.height;
  const side = Math.min(bg.height, Math.round(ps.crop.side * px));
  const left = Math.min(bg.width - side, Math.max(0, Math.round(ps.crop.x * px)));
  const top = Math.min(bg.height - side, Math.max(0, Math.round(ps.crop.y * px)));
  const rgba = await sharp(bg.data, { raw: { width: bg.width, height: bg.height, channels: 3 } })
    .extract({ left, top, width: side, height: side })
    .resize(size, size)
    .ensureAlpha()
    .raw()
    .toBuffer();
  const canvas: Raster = { width: size, height: size, data: new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.length) };
  const light = lightFrom(canvas);
  const k = size / SIZE;
  // Far to near: sky things first, then ground things from the back.
  const order = ps.drawn.flat().sort((a, b) => (a.feet ?? -1) - (b.feet ?? -1));
  for (const d of order) {
    const w = Math.max(SIZE_STEP, Math.round((d.box[2] * k) / SIZE_STEP) * SIZE_STEP);
    const h = Math.max(SIZE_STEP, Math.round((d.box[3] * k) / SIZE_STEP) * SIZE_STEP);
    const x = Math.round((d.box[0] + d.box[2] / 2) * k - w / 2);
    const y = d.feet === null ? Math.round((d.box[1] + d.box[3] / 2) * k - h / 2) : Math.round(d.feet * k) - h;
    if (d.feet !== null) contactShadow(canvas, x + w / 2, y + h, w);
    composite(canvas, await stampRaster(d.stamp, w, h, d.flip), x, y, light);
  }
  return canvas;
}

export async function renderPhotoPng(ps: PhotoScene, size = SIZE): Promise<Buffer> {
  const rgba = await renderPhotoRgba(ps, size);
  return sharp(Buffer.from(rgba.data.buffer, rgba.data.byteOffset, rgba.data.length), { raw: { width: size, height: size, channels: 4 } })
    .removeAlpha()
    .png({ compressionLevel: 6 })
    .toBuffer();
}

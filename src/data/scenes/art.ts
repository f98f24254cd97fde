/**
 * Icon artwork from @iconify-json/fluent-emoji-flat, rasterised with resvg and cached per
 * (icon, size, tint, flip) for the life of the process (each worker has its own cache).
 * Rasters are premultiplied RGBA, as resvg produces them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Resvg } from '@resvg/resvg-js';
import { UserError } from '../../util/errors.ts';
import { THINGS } from './catalog.ts';

export interface Raster {
  width: number;
  height: number;
  /** Premultiplied RGBA (the canvas is clamped, so blending never wraps around). */
  data: Uint8Array | Uint8ClampedArray;
}

interface IconData {
  body: string;
  width: number;
  height: number;
}

let icons: Map<string, IconData> | null = null;

function loadIcons(): Map<string, IconData> {
  if (icons) return icons;
  const require = createRequire(import.meta.url);
  let file: string;
  let set: { icons: Record<string, Partial<IconData>>; width?: number; height?: number };
  try {
    file = require.resolve('@iconify-json/fluent-emoji-flat/icons.json');
    set = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`cannot load the scene artwork (@iconify-json/fluent-emoji-flat): ${(e as Error).message}`);
  }
  icons = new Map();
  // Keep only what the scenes use: the whole set is 9 MB of SVG.
  for (const t of THINGS) {
    const icon = set.icons[t.icon];
    if (!icon?.body) throw new UserError(`${file}: icon "${t.icon}" (for "${t.name}") is missing`);
    icons.set(t.icon, { body: icon.body, width: icon.width ?? set.width ?? 16, height: icon.height ?? set.height ?? 16 });
  }
  return icons;
}

/** Hue (degrees) of each tint colour, and the lightness we aim its main colour at. */
const TINT_TARGETS: Record<string, { hue: number; light: number }> = {
  red: { hue: 2, light: 0.5 },
  orange: { hue: 28, light: 0.55 },
  yellow: { hue: 50, light: 0.58 },
  green: { hue: 118, light: 0.42 },
  blue: { hue: 214, light: 0.5 },
  purple: { hue: 278, light: 0.5 },
  pink: { hue: 330, light: 0.72 },
};

function rgbToHsl(r: number, g: number, b: number): [number, number, number] {
  const mx = Math.max(r, g, b);
  const mn = Math.min(r, g, b);
  const l = (mx + mn) / 2;
  if (mx === mn) return [0, 0, l];
  const d = mx - mn;
  const s = l > 0.5 ? d / (2 - mx - mn) : d / (mx + mn);
  let h: number;
  if (mx === r) h = (g - b) / d + (g < b ? 6 : 0);
  else if (mx === g) h = (b - r) / d + 2;
  else h = (r - g) / d + 4;
  return [h * 60, s, l];
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const hp = (((h % 360) + 360) % 360) / 60;
  const x = c * (1 - Math.abs((hp % 2) - 1));
  const [r1, g1, b1] =
    hp < 1 ? [c, x, 0] : hp < 2 ? [x, c, 0] : hp < 3 ? [0, c, x] : hp < 4 ? [0, x, c] : hp < 5 ? [x, 0, c] : [c, 0, x];
  const m = l - c / 2;
  return [r1 + m, g1 + m, b1 + m];
}

/** Pixels within this many degrees of the main hue take the tint. */
const HUE_WINDOW = 45;
const hueDistance = (a: number, b: number) => Math.min(Math.abs(a - b), 360 - Math.abs(a - b));

/**
 * Shifts the artwork's main colour (the most common saturated hue) to the tint's hue, keeping its
 * shading, so a red car becomes a blue car while its windows and wheels stay as they were.
 */
function applyTint(r: Raster, tint: string): void {
  const target = TINT_TARGETS[tint];
  if (!target) throw new Error(`unknown tint "${tint}"`);
  const d = r.data;
  const bins = new Float64Array(36);
  const px = (i: number) => {
    const a = d[i + 3]! / 255;
    return rgbToHsl(d[i]! / 255 / a, d[i + 1]! / 255 / a, d[i + 2]! / 255 / a);
  };
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3]! < 128) continue;
    const [h, s, l] = px(i);
    if (s > 0.35 && l > 0.12 && l < 0.9) bins[Math.floor(h / 10) % 36]! += 1;
  }
  let mainBin = 0;
  for (let b = 1; b < 36; b++) if (bins[b]! > bins[mainBin]!) mainBin = b;
  const mainHue = mainBin * 10 + 5;
  let lightSum = 0;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3]! < 128) continue;
    const [h, s, l] = px(i);
    if (s > 0.3 && hueDistance(h, mainHue) < HUE_WINDOW) {
      lightSum += l;
      n++;
    }
  }
  const lightShift = n ? target.light - lightSum / n : 0;
  for (let i = 0; i < d.length; i += 4) {
    const alpha = d[i + 3]!;
    if (alpha === 0) continue;
    const [h, s, l] = px(i);
    if (s <= 0.3 || hueDistance(h, mainHue) >= HUE_WINDOW) continue;
    // Muted artwork (the purple umbrella) would give a brownish orange: make the new colour vivid.
    const vivid = s + (1 - s) * 0.45;
    const [nr, ng, nb] = hslToRgb(target.hue + (h - mainHue) * 0.3, vivid, Math.min(0.97, Math.max(0.05, l + lightShift)));
    const a = alpha / 255;
    d[i] = Math.round(nr * 255 * a);
    d[i + 1] = Math.round(ng * 255 * a);
    d[i + 2] = Math.round(nb * 255 * a);
  }
}

function flipRaster(r: Raster): void {
  const { width, height, data } = r;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width >> 1; x++) {
      const a = (y * width + x) * 4;
      const b = (y * width + (width - 1 - x)) * 4;
      for (let c = 0; c < 4; c++) {
        const t = data[a + c]!;
        data[a + c] = data[b + c]!;
        data[b + c] = t;
      }
    }
  }
}

// No text is drawn; without this resvg scans the system fonts on every call (most of its time).
const RESVG_OPTIONS = { font: { loadSystemFonts: false } };

const cache = new Map<string, Raster>();

/** The icon as a size×size premultiplied raster, tinted and mirrored as asked (cached). */
export function iconRaster(icon: string, size: number, tint: string | null, flip: boolean): Raster {
  const key = `${icon}|${size}|${tint ?? ''}|${flip ? 1 : 0}`;
  let r = cache.get(key);
  if (r) return r;
  if (flip) {
    const base = iconRaster(icon, size, tint, false);
    r = { width: base.width, height: base.height, data: Uint8Array.from(base.data) };
    flipRaster(r);
  } else {
    r = renderIcon(icon, size);
    if (tint) applyTint(r, tint);
  }
  cache.set(key, r);
  return r;
}

function renderIcon(icon: string, size: number): Raster {
  const data = loadIcons().get(icon);
  if (!data) throw new Error(`unknown icon "${icon}"`);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${data.width} ${data.height}" ` +
    `width="${size}" height="${size}">${data.body}</svg>`;
  const img = new Resvg(svg, RESVG_OPTIONS).render();
  return { width: img.width, height: img.height, data: new Uint8Array(img.pixels) };
}

/** Renders any SVG text to a premultiplied raster. */
export function renderSvg(svg: string): Raster {
  const img = new Resvg(svg, RESVG_OPTIONS).render();
  return { width: img.width, height: img.height, data: new Uint8Array(img.pixels) };
}

/**
 * Draws a premultiplied raster over an opaque RGBA canvas with its top-left corner at (left, top),
 * multiplying its colour by `shade` (per channel, for dusk and night light). Parts outside are clipped.
 */
export function composite(
  canvas: Raster,
  src: Raster,
  left: number,
  top: number,
  shade: readonly [number, number, number] = [1, 1, 1],
): void {
  const [mr, mg, mb] = shade;
  const x0 = Math.max(0, left);
  const y0 = Math.max(0, top);
  const x1 = Math.min(canvas.width, left + src.width);
  const y1 = Math.min(canvas.height, top + src.height);
  const dst = canvas.data;
  const s = src.data;
  for (let y = y0; y < y1; y++) {
    let di = (y * canvas.width + x0) * 4;
    let si = ((y - top) * src.width + (x0 - left)) * 4;
    for (let x = x0; x < x1; x++, di += 4, si += 4) {
      const a = s[si + 3]!;
      if (a === 0) continue;
      const inv = (255 - a) / 255;
      dst[di] = s[si]! * mr + dst[di]! * inv;
      dst[di + 1] = s[si + 1]! * mg + dst[di + 1]! * inv;
      dst[di + 2] = s[si + 2]! * mb + dst[di + 2]! * inv;
    }
  }
}

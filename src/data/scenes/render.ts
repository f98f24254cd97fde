/** Turns a scene graph into a 224×224 PNG: SVG background, cached icon rasters, weather on top. */
import sharp from 'sharp';
import { Rng, hash32 } from '../../util/rng.ts';
import { composite, iconRaster, renderSvg, type Raster } from './art.ts';
import { BACKGROUND_SPECS, SIZE } from './backgrounds.ts';
import { paintOrder } from './layout.ts';
import { backgroundSvg, lightOf, weatherSvg } from './paint.ts';
import type { Scene } from './types.ts';

// Sizes are rounded to this step so the icon cache stays small (at most ~30 sizes per icon).
const SIZE_STEP = 4;
const WEATHER_VARIANTS = 6;
// Things that shine keep their colour at dusk and at night.
const GIVES_LIGHT = new Set(['sun', 'moon', 'star', 'fire', 'candle']);
const FULL_LIGHT: [number, number, number] = [1, 1, 1];
const weatherCache = new Map<string, Raster>();

function weatherLayer(kind: 'rainy' | 'snowy', variant: number): Raster {
  const key = `${kind}${variant}`;
  let r = weatherCache.get(key);
  if (!r) {
    r = renderSvg(weatherSvg(kind, new Rng(hash32(0x3ea7, variant + (kind === 'rainy' ? 0 : 100)))));
    weatherCache.set(key, r);
  }
  return r;
}

/** The picture as raw RGBA (opaque). */
export function renderSceneRgba(scene: Scene): Raster {
  // Drawing has its own random stream, so changing a background never moves the things.
  const rng = new Rng(hash32((scene.seed ^ 0xd7a3) >>> 0, scene.index));
  const bg = renderSvg(backgroundSvg(scene, rng));
  const canvas: Raster = { width: SIZE, height: SIZE, data: new Uint8ClampedArray(bg.data) };
  const light = lightOf(scene.time, BACKGROUND_SPECS[scene.background].outdoor);
  for (const { group, item } of paintOrder(scene)) {
    const size = Math.max(SIZE_STEP, Math.round(item.size / SIZE_STEP) * SIZE_STEP);
    const icon = iconRaster(group.icon, size, group.tint, item.flip);
    const shade = GIVES_LIGHT.has(group.name) ? FULL_LIGHT : light;
    composite(canvas, icon, Math.round(item.x - size / 2), Math.round(item.y - size / 2), shade);
  }
  if (scene.weather === 'rainy' || scene.weather === 'snowy') {
    composite(canvas, weatherLayer(scene.weather, rng.int(WEATHER_VARIANTS)), 0, 0);
  }
  return canvas;
}

/** The picture as PNG bytes. */
export async function renderScenePng(scene: Scene): Promise<Buffer> {
  const rgba = renderSceneRgba(scene);
  const rgb = Buffer.allocUnsafe(SIZE * SIZE * 3);
  const d = rgba.data;
  for (let i = 0, j = 0; i < d.length; i += 4, j += 3) {
    rgb[j] = d[i]!;
    rgb[j + 1] = d[i + 1]!;
    rgb[j + 2] = d[i + 2]!;
  }
  return sharp(rgb, { raw: { width: SIZE, height: SIZE, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

/**
 * Backgrounds and weather drawn as SVG (gradients and simple shapes), one per scene, with small random
 * variations so no two fields of grass look the same.
 */
import type { Rng } from '../../util/rng.ts';
import { SIZE } from './backgrounds.ts';
import { PLAIN_COLOURS } from './free-layout.ts';
import type { Scene, TimeOfDay, Weather } from './types.ts';

type RGB = [number, number, number];

function hex(c: string): RGB {
  const n = parseInt(c.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
function css([r, g, b]: RGB): string {
  const h = (v: number) => Math.max(0, Math.min(255, Math.round(v))).toString(16).padStart(2, '0');
  return `#${h(r)}${h(g)}${h(b)}`;
}
function mix(a: string, b: string, t: number): string {
  const x = hex(a);
  const y = hex(b);
  return css([x[0] + (y[0] - x[0]) * t, x[1] + (y[1] - x[1]) * t, x[2] + (y[2] - x[2]) * t]);
}

/** Per-channel light of the time of day, applied to ground colours and to the drawn things. */
export function lightOf(time: TimeOfDay, outdoor: boolean): [number, number, number] {
  if (!outdoor || time === 'day') return [1, 1, 1];
  return time === 'evening' ? [1, 0.86, 0.74] : [0.62, 0.66, 0.86];
}
function lit(c: string, light: readonly number[]): string {
  const [r, g, b] = hex(c);
  return css([r * light[0]!, g * light[1]!, b * light[2]!]);
}
/** A colour with a little random variation, so backgrounds differ. */
function vary(rng: Rng, c: string, amount = 14): string {
  const [r, g, b] = hex(c);
  const d = () => (rng.next() - 0.5) * 2 * amount;
  const k = d();
  return css([r + k + d() * 0.3, g + k + d() * 0.3, b + k + d() * 0.3]);
}

const SKIES: Record<TimeOfDay, Record<'clear' | 'grey', [string, string]>> = {
  day: { clear: ['#3f9be6', '#c4e8ff'], grey: ['#8197ad', '#cfd8e2'] },
  evening: { clear: ['#5a4aa0', '#ffa46e'], grey: ['#66597a', '#cf9a84'] },
  night: { clear: ['#070f2b', '#22336a'], grey: ['#10172b', '#2d3650'] },
};

function skyColours(time: TimeOfDay, weather: Weather): [string, string] {
  return SKIES[time][weather === 'cloudy' || weather === 'rainy' ? 'grey' : 'clear'];
}

const gradient = (id: string, top: string, bottom: string) =>
  `<linearGradient id="${id}" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${top}"/>` +
  `<stop offset="1" stop-color="${bottom}"/></linearGradient>`;

/** A wavy line across the picture at height y, closed down to the bottom: a hill or a shore. */
function hill(rng: Rng, y: number, amp: number, fill: string): string {
  const y0 = y + (rng.next() - 0.5) * amp;
  const c1 = y + (rng.next() - 0.5) * amp * 2;
  const c2 = y + (rng.next() - 0.5) * amp * 2;
  const y1 = y + (rng.next() - 0.5) * amp;
  return `<path d="M0 ${y0.toFixed(1)} C ${SIZE * 0.33} ${c1.toFixed(1)} ${SIZE * 0.66} ${c2.toFixed(1)} ${SIZE} ${y1.toFixed(1)} V${SIZE} H0Z" fill="${fill}"/>`;
}

function cloudShape(rng: Rng, cx: number, cy: number, w: number, fill: string): string {
  const parts: string[] = [];
  const n = 3 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const x = cx + (i / (n - 1) - 0.5) * w * 0.75;
    const r = w * (0.16 + 0.12 * Math.sin((Math.PI * i) / (n - 1))) * (0.85 + 0.3 * rng.next());
    parts.push(`<circle cx="${x.toFixed(1)}" cy="${(cy - r * 0.35).toFixed(1)}" r="${r.toFixed(1)}"/>`);
  }
  parts.push(`<rect x="${(cx - w * 0.45).toFixed(1)}" y="${cy.toFixed(1)}" width="${(w * 0.9).toFixed(1)}" height="${(w * 0.14).toFixed(1)}" rx="${(w * 0.07).toFixed(1)}"/>`);
  return `<g fill="${fill}">${parts.join('')}</g>`;
}

function dotStars(rng: Rng, bottom: number): string {
  const out: string[] = [];
  const n = 28 + rng.int(24);
  for (let i = 0; i < n; i++) {
    const r = 0.5 + rng.next() * 0.9;
    out.push(`<circle cx="${(rng.next() * SIZE).toFixed(1)}" cy="${(rng.next() * (bottom - 4)).toFixed(1)}" r="${r.toFixed(2)}"/>`);
  }
  return `<g fill="#fffbe0" fill-opacity="0.85">${out.join('')}</g>`;
}

/** The whole background of a scene as SVG text. */
export function backgroundSvg(scene: Scene, rng: Rng): string {
  const { background: bg, time, weather, horizon, shore } = scene;
  const outdoor = ['grass', 'sky', 'beach', 'snow', 'street', 'desert'].includes(bg);
  const light = lightOf(time, outdoor);
  const defs: string[] = [];
  const body: string[] = [];
  const [skyTop, skyBottom] = skyColours(time, weather);
  const skyLine = bg === 'sky' ? SIZE : horizon;
  if (outdoor) {
    defs.push(gradient('sky', vary(rng, skyTop, 8), vary(rng, skyBottom, 8)));
    body.push(`<rect width="${SIZE}" height="${SIZE}" fill="url(#sky)"/>`);
    if (scene.decor.dotStars) body.push(dotStars(rng, skyLine));
    const cloudFill = lit(weather === 'rainy' ? '#9aa3ad' : '#c9d0d8', light);
    for (let i = 0; i < scene.decor.clouds; i++) {
      const w = 50 + rng.next() * 50;
      const cx = ((i + 0.5) / scene.decor.clouds) * SIZE + (rng.next() - 0.5) * 30;
      const cy = Math.min(skyLine - 14, 14 + rng.next() * Math.max(8, skyLine * 0.45));
      body.push(cloudShape(rng, cx, cy, w, cloudFill));
    }
  }
  switch (bg) {
    case 'grass': {
      body.push(hill(rng, horizon - 6, 16, lit(vary(rng, '#8fce6a'), light)));
      body.push(hill(rng, horizon + 6, 10, lit(vary(rng, '#62b548'), light)));
      defs.push(gradient('g', lit('#5fb444', light), lit(vary(rng, '#4a9a36'), light)));
      body.push(`<rect y="${horizon + 18}" width="${SIZE}" height="${SIZE}" fill="url(#g)" opacity="0.6"/>`);
      break;
    }
    case 'snow': {
      body.push(hill(rng, horizon - 6, 18, lit(vary(rng, '#e4edf6', 6), light)));
      body.push(hill(rng, horizon + 8, 12, lit(vary(rng, '#f7fafd', 4), light)));
      break;
    }
    case 'desert': {
      body.push(hill(rng, horizon - 4, 20, lit(vary(rng, '#e2b26a'), light)));
      body.push(hill(rng, horizon + 10, 12, lit(vary(rng, '#f0cf8a'), light)));
      break;
    }
    case 'beach': {
      defs.push(gradient('w', lit(vary(rng, '#3aa6e0'), light), lit(vary(rng, '#1b72b8'), light)));
      body.push(`<rect y="${horizon}" width="${SIZE}" height="${SIZE - horizon}" fill="url(#w)"/>`);
      const wave = lit('#e8f6ff', light);
      for (let i = 0; i < 3; i++) {
        const y = horizon + ((i + 1) * (shore - horizon)) / 4 + (rng.next() - 0.5) * 4;
        body.push(`<path d="M0 ${y.toFixed(1)} q 14 -4 28 0 t 28 0 t 28 0 t 28 0 t 28 0 t 28 0 t 28 0 t 28 0" stroke="${wave}" stroke-opacity="0.35" fill="none" stroke-width="1.5"/>`);
      }
      body.push(hill(rng, shore, 6, lit(vary(rng, '#f4dc9c'), light)));
      break;
    }
    case 'street': {
      body.push(hill(rng, horizon, 6, lit(vary(rng, '#79c25a'), light)));
      const roadTop = horizon + (SIZE - horizon) * 0.32;
      body.push(`<rect y="${roadTop.toFixed(1)}" width="${SIZE}" height="${SIZE - roadTop}" fill="${lit(vary(rng, '#6b7079', 8), light)}"/>`);
      body.push(`<rect y="${(roadTop - 5).toFixed(1)}" width="${SIZE}" height="5" fill="${lit('#c9c9c9', light)}"/>`);
      const mid = roadTop + (SIZE - roadTop) * 0.55;
      for (let x = -rng.int(30); x < SIZE; x += 36) {
        body.push(`<rect x="${x}" y="${mid.toFixed(1)}" width="20" height="3" fill="${lit('#f4f1e0', light)}"/>`);
      }
      break;
    }
    case 'sky':
      break;
    case 'plain':
    case 'two-tone': {
      const p = scene.plain!;
      const [a, b] = p.colours.map((c) => vary(rng, PLAIN_COLOURS[c]!, 6));
      body.push(`<rect width="${SIZE}" height="${SIZE}" fill="${a}"/>`);
      if (b && p.split === 'across') body.push(`<rect y="${p.at}" width="${SIZE}" height="${SIZE - p.at}" fill="${b}"/>`);
      if (b && p.split === 'down') body.push(`<rect x="${p.at}" width="${SIZE - p.at}" height="${SIZE}" fill="${b}"/>`);
      break;
    }
    case 'sea': {
      defs.push(gradient('w', vary(rng, '#2fa3dc'), vary(rng, '#0c3f7a')));
      body.push(`<rect width="${SIZE}" height="${SIZE}" fill="url(#w)"/>`);
      for (let i = 0; i < 4; i++) {
        const x = rng.next() * SIZE;
        body.push(`<path d="M${x.toFixed(1)} 0 L${(x + 24).toFixed(1)} 0 L${(x - 30).toFixed(1)} ${SIZE} L${(x - 60).toFixed(1)} ${SIZE}Z" fill="#ffffff" fill-opacity="0.05"/>`);
      }
      body.push(hill(rng, SIZE - 16, 8, vary(rng, '#d9c27f')));
      const bubbles: string[] = [];
      for (let i = 0; i < 10 + rng.int(10); i++) {
        bubbles.push(`<circle cx="${(rng.next() * SIZE).toFixed(1)}" cy="${(rng.next() * SIZE).toFixed(1)}" r="${(1 + rng.next() * 2.5).toFixed(1)}"/>`);
      }
      body.push(`<g fill="none" stroke="#e6f6ff" stroke-opacity="0.6" stroke-width="0.8">${bubbles.join('')}</g>`);
      break;
    }
    case 'space': {
      defs.push(gradient('s', vary(rng, '#04061a', 4), vary(rng, '#1d1650', 8)));
      body.push(`<rect width="${SIZE}" height="${SIZE}" fill="url(#s)"/>`);
      if (scene.decor.dotStars) body.push(dotStars(rng, SIZE));
      break;
    }
    case 'room': {
      const wall = vary(rng, rng.pick(['#f6e7c8', '#d9ecf7', '#f8dce2', '#e2f0d9', '#ece2f6', '#fdf3d8']), 8);
      body.push(`<rect width="${SIZE}" height="${SIZE}" fill="${wall}"/>`);
      const floor = vary(rng, rng.pick(['#c8915a', '#b07a48', '#d8a36c', '#9c6b3f']), 8);
      body.push(`<rect y="${horizon}" width="${SIZE}" height="${SIZE - horizon}" fill="${floor}"/>`);
      for (let y = horizon + 14; y < SIZE; y += 16) {
        body.push(`<rect y="${y}" width="${SIZE}" height="1.2" fill="#000" fill-opacity="0.12"/>`);
      }
      body.push(`<rect y="${horizon - 6}" width="${SIZE}" height="6" fill="${mix(wall, '#ffffff', 0.5)}"/>`);
      if (rng.next() < 0.5) {
        const rug = rng.pick(['#d9534f', '#5b8fd9', '#7bbf6a', '#e0a43c', '#a573c9']);
        const cy = horizon + (SIZE - horizon) * 0.6;
        body.push(`<ellipse cx="${(SIZE / 2 + (rng.next() - 0.5) * 60).toFixed(1)}" cy="${cy.toFixed(1)}" rx="80" ry="${((SIZE - horizon) * 0.25).toFixed(1)}" fill="${rug}" fill-opacity="0.55"/>`);
      }
      break;
    }
    case 'kitchen': {
      const wall = vary(rng, rng.pick(['#eef3f6', '#fbefd9', '#e3f1ea', '#f4e4e4']), 6);
      body.push(`<rect width="${SIZE}" height="${SIZE}" fill="${wall}"/>`);
      const tile = mix(wall, '#8895a0', 0.18);
      for (let x = 28; x < SIZE; x += 28) body.push(`<rect x="${x}" width="1" height="${horizon}" fill="${tile}"/>`);
      for (let y = 28; y < horizon; y += 28) body.push(`<rect y="${y}" width="${SIZE}" height="1" fill="${tile}"/>`);
      const wood = vary(rng, rng.pick(['#b97a45', '#c98d55', '#a8683a', '#d7a46e']), 8);
      defs.push(gradient('t', mix(wood, '#ffffff', 0.15), mix(wood, '#000000', 0.15)));
      body.push(`<rect y="${horizon}" width="${SIZE}" height="${SIZE - horizon}" fill="url(#t)"/>`);
      body.push(`<rect y="${horizon}" width="${SIZE}" height="4" fill="${mix(wood, '#ffffff', 0.35)}"/>`);
      break;
    }
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}">` +
    `<defs>${defs.join('')}</defs>${body.join('')}</svg>`
  );
}

/** Falling rain or snow in front of everything. */
export function weatherSvg(kind: 'rainy' | 'snowy', rng: Rng): string {
  const out: string[] = [];
  if (kind === 'rainy') {
    for (let i = 0; i < 90; i++) {
      const x = rng.next() * (SIZE + 40);
      const y = rng.next() * SIZE;
      const len = 7 + rng.next() * 8;
      out.push(`<line x1="${x.toFixed(1)}" y1="${y.toFixed(1)}" x2="${(x - len * 0.35).toFixed(1)}" y2="${(y + len).toFixed(1)}"/>`);
    }
    return svgWrap(`<g stroke="#dce8ff" stroke-opacity="0.6" stroke-width="1.1" stroke-linecap="round">${out.join('')}</g>`);
  }
  for (let i = 0; i < 110; i++) {
    const r = 0.8 + rng.next() * 1.8;
    out.push(`<circle cx="${(rng.next() * SIZE).toFixed(1)}" cy="${(rng.next() * SIZE).toFixed(1)}" r="${r.toFixed(2)}"/>`);
  }
  return svgWrap(`<g fill="#ffffff" fill-opacity="0.9">${out.join('')}</g>`);
}

const svgWrap = (inner: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}">${inner}</svg>`;

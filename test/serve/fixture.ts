/** A freshly initialised tiny model (untrained: its text is gibberish, which protocol tests do not mind). */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { configFor, createModel, saveModel, type ModelConfig } from '../../src/model/index.ts';
import { startServer, type RunningServer, type ServeOptions } from '../../src/serve/index.ts';
import { loadModel } from '../../src/model/index.ts';
import { loadImage } from '../../src/data/image.ts';
import { renderScenePng, sceneAt } from '../../src/data/scenes/index.ts';
import type { Scene } from '../../src/data/scenes/types.ts';
import { AdamW } from '../../src/nn/index.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { MIN_VOCAB_SIZE, trainTokenizer } from '../../src/tokenizer/index.ts';

const SENTENCES = [
  'A red ball lies on the green grass next to a small brown dog.',
  'Two white boats float on the blue sea under a cloudy sky.',
  'A yellow car is parked in front of a tall house at night.',
  'Three birds fly over the snowy mountains in the evening.',
  'A cat sleeps on a sofa beside a lamp in the living room.',
];

export interface TinyModel {
  /** Folder holding the model folder (removed by cleanup). */
  root: string;
  dir: string;
  cleanup(): void;
}

/** Saves a tiny model to a temp folder named `tiny-vlm` (the id the server shows). */
export async function saveTinyModel(overrides: Partial<ModelConfig> = {}, seed = 1): Promise<TinyModel> {
  const tokenizer = trainTokenizer(SENTENCES, { vocabSize: MIN_VOCAB_SIZE + 40, minFrequency: 1 });
  const model = createModel({ ...configFor('tiny', tokenizer), dropout: 0, ...overrides }, { seed });
  const root = mkdtempSync(path.join(os.tmpdir(), 'nanovlm-serve-'));
  const dir = path.join(root, 'tiny-vlm');
  // Sampling by default, so untrained text varies (greedy decoding of an untrained model repeats itself).
  await saveModel(model, tokenizer, dir, {
    generation: { do_sample: true, temperature: 1, max_new_tokens: 24 },
  });
  return { root, dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** A small PNG with a few coloured shapes. */
export async function samplePng(width = 64, height = 48): Promise<Buffer<ArrayBuffer>> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="#8ecae6"/><circle cx="${width / 3}" cy="${height / 2}" r="${height / 4}" fill="#e63946"/>
    <rect x="${width / 2}" y="${height / 3}" width="${width / 3}" height="${height / 3}" fill="#2a9d8f"/></svg>`;
  return Buffer.from(await sharp(Buffer.from(svg)).png().toBuffer());
}

/** Starts a server on a free loopback port for a model folder. */
export async function serveTiny(dir: string, opts: ServeOptions = {}): Promise<RunningServer> {
  return startServer(await loadModel(dir), { port: 0, log: () => {}, ...opts });
}

/** A sample's value from Prometheus text, e.g. metric(text, 'nanovlm_http_errors_total{status="400"}'). */
export function metric(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** A short caption from a scene's ground truth, e.g. "a night picture of the street with 1 star and 3 dog." */
function sceneCaption(s: Scene): string {
  const things = s.groups.map((g) => `${g.count} ${g.name}`).join(' and ');
  return `a ${s.time} picture of the ${s.background.replace(/_/g, ' ')} with ${things}.`;
}

export interface TrainedTinyModel extends TinyModel {
  images: Buffer<ArrayBuffer>[];
  captions: string[];
}

/**
 * A tiny model overfitted (a few hundred AdamW steps, a few seconds) on four rendered scenes and their
 * captions, so it writes real words: for the web page's end-to-end test and its screenshot.
 */
export async function saveTrainedTinyModel(steps = 300): Promise<TrainedTinyModel> {
  const scenes = [0, 1, 2, 3].map((i) => sceneAt(7, i));
  const captions = scenes.map(sceneCaption);
  const images = await Promise.all(scenes.map(async (s) => Buffer.from(await renderScenePng(s))));
  const tokenizer = trainTokenizer(captions, { vocabSize: MIN_VOCAB_SIZE + 60, minFrequency: 1 });
  const cfg = { ...configFor('tiny', tokenizer), dropout: 0 };
  const model = createModel(cfg, { seed: 1 });
  const S = cfg.image_size;
  const B = images.length;
  const pixels = new Float32Array(B * 3 * S * S);
  (await Promise.all(images.map((p) => loadImage(p, S)))).forEach((im, b) => pixels.set(im, b * 3 * S * S));
  const rows = captions.map((c) => [cfg.bos_token_id, ...tokenizer.encode(c), cfg.eos_token_id]);
  const L = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(B * L).fill(cfg.pad_token_id);
  rows.forEach((r, b) => ids.set(r, b * L));
  const optimizer = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
  model.train();
  for (let step = 0; step < steps; step++) {
    model.zeroGrad();
    const { loss } = model.forward(new Tensor(pixels, [B, 3, S, S]), new Tensor(ids, [B, L]), {
      lengths: rows.map((r) => r.length),
    });
    loss.backward();
    optimizer.step();
  }
  model.eval();
  const root = mkdtempSync(path.join(os.tmpdir(), 'nanovlm-serve-'));
  const dir = path.join(root, 'scenes-tiny');
  await saveModel(model, tokenizer, dir, {
    generation: { do_sample: true, temperature: 0.7, max_new_tokens: 40 },
  });
  return { root, dir, images, captions, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** A freshly initialised tiny model (untrained: its text is gibberish, which protocol tests do not mind). */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { configFor, createModel, saveModel, type ModelConfig } from '../../src/model/index.ts';
import { startServer, type RunningServer, type ServeOptions } from '../../src/serve/index.ts';
import { loadModel } from '../../src/model/index.ts';
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
export async function samplePng(width = 64, height = 48): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="#8ecae6"/><circle cx="${width / 3}" cy="${height / 2}" r="${height / 4}" fill="#e63946"/>
    <rect x="${width / 2}" y="${height / 3}" width="${width / 3}" height="${height / 3}" fill="#2a9d8f"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
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

// The `nanovlm data ...` commands end to end (in-process), against a loopback fake LLM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { run } from '../../src/cli/data.ts';
import { openDataset } from '../../src/data/dataset.ts';
import { startFakeOpenAI, reply } from '../helpers/fake-openai.ts';
import { tempDir } from './dataset-fixtures.ts';

/** Captures console.log while fn runs. */
async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    return { code: await fn(), out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}

test('data coco → data describe → data check from the command line', async () => {
  const t = tempDir('nanovlm-cli-');
  const server = await startFakeOpenAI((req) => {
    const id = /image (\d+)/.exec(req.text)![1];
    return reply.text(`A kid sees picture ${id} with a big friendly dog. The dog runs fast and jumps over a small red ball.`);
  });
  try {
    const imgDir = path.join(t.dir, 'imgs');
    mkdirSync(imgDir);
    const images = [1, 2, 3, 4].map((id) => ({ id, file_name: `${id}.png` }));
    for (const im of images) {
      await sharp({ create: { width: 20, height: 10, channels: 3, background: '#123456' } }).png().toFile(path.join(imgDir, im.file_name));
    }
    const annotations = images.flatMap((im) => [0, 1, 2, 3, 4].map((k) => ({ id: im.id * 10 + k, image_id: im.id, caption: `image ${im.id} caption ${k}` })));
    writeFileSync(path.join(t.dir, 'c.json'), JSON.stringify({ images, annotations }));
    const out = path.join(t.dir, 'ds');
    const coco = await capture(() => run(['coco', '--captions', path.join(t.dir, 'c.json'), '--images', imgDir, '--out', out, '--test-count', '1', '--json']));
    assert.equal(coco.code, 0);
    assert.deepEqual(JSON.parse(coco.out).splits, { train: 3, val: 0, test: 1 });

    const desc = await capture(() =>
      run(['describe', '--in', out, '--kind', 'short', '--endpoint', server.url, '--model', 'gpt-4o-mini', '--concurrency', '2', '--json']),
    );
    assert.equal(desc.code, 0);
    const summary = JSON.parse(desc.out);
    assert.equal(summary.described, 4);
    assert.equal(summary.merged, 4);
    assert.ok(summary.costUsd > 0);
    assert.equal(server.requests[0]!.model, 'gpt-4o-mini');
    for (const r of openDataset(out).records) assert.match(r.short!, new RegExp(`picture ${r.id} `));

    const check = await capture(() => run(['check', '--in', out, '--size', '16', '--json']));
    assert.equal(check.code, 0);
    assert.deepEqual(JSON.parse(check.out).texts, { captions: 4, short: 4, long: 0 });

    await assert.rejects(run(['describe', '--in', out, '--kind', 'short']), /--endpoint is required/);
    await assert.rejects(run(['nope']), /unknown subcommand "nope"/);
    const help = await capture(() => run(['coco', '--help']));
    assert.equal(help.code, 0);
    assert.match(help.out, /--val-fraction <number>/);
  } finally {
    await server.close();
    t.cleanup();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { loadImage, decodeImage, rgbToCHW } from '../../src/data/image.ts';
import { tempDir } from './dataset-fixtures.ts';
import { bombPng } from '../../tools/fixtures/png-bomb.ts';

test('PNG, JPEG and WebP decode to normalised CHW RGB of the asked size', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const base = sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 255, g: 0, b: 51 } } });
    for (const ext of ['png', 'jpg', 'webp']) {
      const file = path.join(dir, `x.${ext}`);
      await base.clone().toFormat(ext === 'jpg' ? 'jpeg' : (ext as 'png' | 'webp'), { quality: 100 }).toFile(file);
      const t = await loadImage(file, 16);
      assert.equal(t.length, 3 * 16 * 16);
      const mean = (c: number) => t.subarray(c * 256, (c + 1) * 256).reduce((a, b) => a + b, 0) / 256;
      assert.ok(Math.abs(mean(0) - 1) < 0.03, `${ext} red ${mean(0)}`);
      assert.ok(Math.abs(mean(1) + 1) < 0.03, `${ext} green ${mean(1)}`);
      assert.ok(Math.abs(mean(2) - (51 / 127.5 - 1)) < 0.03, `${ext} blue ${mean(2)}`);
    }
    // Buffers and raw RGBA (transparent → white) work too; the layout is channel-major.
    const png = readFileSync(path.join(dir, 'x.png'));
    assert.deepEqual(await loadImage(png, 16), await loadImage(path.join(dir, 'x.png'), 16));
    const rgba = new Uint8Array(2 * 2 * 4); // all transparent
    const white = await loadImage({ data: rgba, width: 2, height: 2, channels: 4 }, 2);
    assert.ok(white.every((v) => v === 1));
    // A left-black / right-white picture keeps its orientation in CHW.
    const half = new Uint8Array(2 * 2 * 3);
    half.set([255, 255, 255], 3);
    half.set([255, 255, 255], 9);
    const t = await loadImage({ data: half, width: 2, height: 2, channels: 3 }, 2);
    assert.deepEqual(Array.from(t.subarray(0, 4)), [-1, 1, -1, 1]);
  } finally {
    cleanup();
  }
});

test('greyscale pictures become three equal channels', async () => {
  const grey = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
    .greyscale()
    .png()
    .toBuffer();
  const rgb = await decodeImage(grey, 4);
  assert.equal(rgb.length, 48);
  assert.ok(rgb.every((v) => v === rgb[0]));
});

test('rgbToCHW normalises to [-1, 1] and writes at an offset', () => {
  const out = new Float32Array(2 + 3);
  rgbToCHW(Uint8Array.from([0, 255, 51]), 1, out, 2);
  assert.deepEqual(Array.from(out), [0, 0, -1, 1, 51 / 127.5 - 1].map(Math.fround));
});

test('bad images: errors name the file and the problem', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const notImage = path.join(dir, 'notes.png');
    writeFileSync(notImage, 'this is text, not a picture');
    await assert.rejects(loadImage(notImage, 8), { name: 'UserError', message: `${notImage}: not a supported image (PNG, JPEG or WebP)` });

    const good = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    const truncated = path.join(dir, 'cut.png');
    writeFileSync(truncated, good.subarray(0, Math.floor(good.length / 2)));
    await assert.rejects(loadImage(truncated, 8), (e: Error) => {
      assert.equal(e.name, 'UserError');
      assert.ok(e.message.startsWith(`${truncated}: cannot decode image (`), e.message);
      return true;
    });

    const bomb = path.join(dir, 'bomb.png');
    writeFileSync(bomb, bombPng({ width: 100_000, height: 100_000 }));
    const t0 = Date.now();
    await assert.rejects(loadImage(bomb, 8), {
      name: 'UserError',
      message: `${bomb}: image too large to decode safely (100000×100000); the limit is 50000000 pixels`,
    });
    assert.ok(Date.now() - t0 < 2000, 'the bomb was refused without decoding');
    await assert.rejects(loadImage(path.join(dir, 'small.png'), 8, { maxPixels: 10 }), /file not found/);
    const ok = path.join(dir, 'ok.png');
    writeFileSync(ok, good);
    await assert.rejects(loadImage(ok, 8, { maxPixels: 1000 }), /too large to decode safely \(64×64\); the limit is 1000 pixels/);
    await assert.rejects(loadImage(Buffer.from('junk'), 8, { name: 'upload.png' }), /^UserError: upload.png: not a supported image/);
    await assert.rejects(loadImage({ data: new Uint8Array(5), width: 2, height: 2, channels: 3 }, 8), /raw image has 5 bytes/);
  } finally {
    cleanup();
  }
});

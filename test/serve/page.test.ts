/** The web page, end to end in headless Chromium (Debian's, driven by playwright-core). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { RunningServer } from '../../src/serve/index.ts';
import { saveTrainedTinyModel, serveTiny, type TrainedTinyModel } from './fixture.ts';

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
let model: TrainedTinyModel;
let server: RunningServer;
let browser: Browser;

before(async () => {
  [model, browser] = await Promise.all([
    saveTrainedTinyModel(),
    chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    }),
  ]);
  server = await serveTiny(model.dir);
  mkdirSync(ARTIFACTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.close();
  model?.cleanup();
});

test('upload a scene, stream its description token by token, show model and speed; screenshot', async () => {
  const page = await browser.newPage({ viewport: { width: 1040, height: 660 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(server.url);
  await page.waitForFunction(() => document.getElementById('model-name')!.textContent === 'scenes-tiny');
  assert.equal(await page.isDisabled('#describe'), true);

  const scene = 3;
  await page.setInputFiles('#file', {
    name: 'scene.png',
    mimeType: 'image/png',
    buffer: model.images[scene]!,
  });
  await page.waitForSelector('#drop img');
  assert.equal(await page.isDisabled('#describe'), false);
  await page.fill('#prompt', 'a night picture');
  await page.locator('#temperature').fill('0');
  assert.equal(await page.textContent('#temperature-value'), '0.00');

  // Count the text appended to the description as tokens arrive.
  await page.evaluate(() => {
    const w = window as unknown as { appends: number };
    w.appends = 0;
    new MutationObserver((records) => (w.appends += records.length)).observe(
      document.getElementById('output')!,
      {
        characterData: true,
        subtree: true,
      },
    );
  });
  await page.click('#describe');
  await page.waitForSelector('#output[data-done="true"]', { timeout: 15_000 });
  const shown = (await page.textContent('#output'))!;
  const tokens = Number(await page.textContent('#stat-tokens'));
  const appends = await page.evaluate(() => (window as unknown as { appends: number }).appends);

  // The page shows exactly what the API answers for the same request (greedy, so deterministic).
  const api = await fetch(`${server.url}/v1/describe?temperature=0&prompt=a%20night%20picture`, {
    method: 'POST',
    body: model.images[scene],
    headers: { 'Content-Type': 'image/png' },
  });
  const answer = (await api.json()) as { full_text: string; tokens: number };
  assert.equal(shown, answer.full_text);
  assert.equal(tokens, answer.tokens);
  assert.ok(shown.startsWith('a night picture of the '), shown);
  assert.ok(tokens >= 3 && appends >= tokens - 1, `${appends} appends for ${tokens} tokens`);
  assert.ok(Number(await page.textContent('#stat-speed')) > 0);
  assert.ok(Number(await page.textContent('#stat-total')) > 0);
  assert.equal(await page.isVisible('#error'), false);
  assert.deepEqual(pageErrors, []);
  await page.screenshot({ path: path.join(ARTIFACTS, 'serve-page.png') });
  await page.close();
});

test('a broken upload shows the server error on the page', async () => {
  const page = await browser.newPage();
  await page.goto(server.url);
  const broken = model.images[0]!.subarray(0, 200);
  await page.setInputFiles('#file', { name: 'broken.png', mimeType: 'image/png', buffer: broken });
  await page.click('#describe');
  await page.waitForSelector('#error', { state: 'visible' });
  assert.match((await page.textContent('#error'))!, /^image: cannot decode image/);
  assert.equal(await page.isDisabled('#describe'), false);
  await page.close();
});

test('dropping an image onto the page works too', async () => {
  const page = await browser.newPage();
  await page.goto(server.url);
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
    document
      .getElementById('drop')!
      .dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, model.images[1]!.toString('base64'));
  await page.waitForSelector('#drop img[alt="dropped.png"]');
  await page.click('#describe');
  await page.waitForSelector('#output[data-done="true"]', { timeout: 15_000 });
  assert.ok((await page.textContent('#output'))!.length > 0);
  assert.equal(await page.isVisible('#error'), false);
  await page.close();
});

/** The web page, end to end in headless Chromium (Debian's, driven by playwright-core). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadModel } from '../../src/model/index.ts';
import { sceneExamples, type Example, type RunningServer } from '../../src/serve/index.ts';
import {
  metric,
  saveTinyModel,
  saveTrainedTinyModel,
  serveTiny,
  type TinyModel,
  type TrainedTinyModel,
} from './fixture.ts';

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
let model: TrainedTinyModel;
/** Untrained, with room for 8192 tokens (the most a config may hold): decoding runs long enough to be stopped. */
let long: TinyModel;
let examples: Example[];
let server: RunningServer;
let browser: Browser;
const LONG = 8192;

before(async () => {
  [model, long, examples, browser] = await Promise.all([
    saveTrainedTinyModel(),
    saveTinyModel({ max_text_len: LONG }),
    sceneExamples(),
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
  server = await serveTiny(model.dir, { examples });
  mkdirSync(ARTIFACTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.close();
  model?.cleanup();
  long?.cleanup();
});

type Answer = { text: string; full_text: string; tokens: number };
/** What the API answers for an image and options (sent the way a script would: bytes + query). */
async function apiDescribe(s: RunningServer, image: Buffer, query: Record<string, string>, key?: string) {
  const res = await fetch(`${s.url}/v1/describe?${new URLSearchParams(query)}`, {
    method: 'POST',
    body: new Uint8Array(image),
    headers: { 'Content-Type': 'image/png', ...(key && { Authorization: `Bearer ${key}` }) },
  });
  assert.equal(res.status, 200);
  return (await res.json()) as Answer;
}
const stats = (page: Page) =>
  page.$$eval(['#stat-tokens', '#stat-speed', '#stat-first', '#stat-total'].join(','), (els) =>
    els.map((e) => e.textContent),
  );

test('upload a scene, stream its description token by token, show model and speed; screenshot', async () => {
  const page = await browser.newPage({ viewport: { width: 1040, height: 760 } });
  const pageErrors: string[] = [];
  const failed: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('response', (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
  await page.goto(server.url);
  await page.waitForFunction(() => document.getElementById('model-name')!.textContent === 'scenes-tiny');
  // Preset, parameters and image size beside the name, as the model folder has them.
  const vlm = await loadModel(model.dir);
  const millions = (vlm.model.parameterCount() / 1e6).toFixed(2);
  assert.equal(
    await page.textContent('#model-info'),
    `tiny · ${millions}M parameters · ${vlm.config.image_size}px images`,
  );
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
  assert.deepEqual(failed, [], 'no request of the page failed (favicon included)');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, 'serve-page.png'), fullPage: true });
  await page.close();
});

test('the icon: the page links an SVG, /favicon.ico is an ICO holding a PNG; neither needs a key', async () => {
  const page = await browser.newPage();
  await page.goto(server.url);
  const href = await page.$eval('link[rel="icon"]', (l) => (l as HTMLLinkElement).href);
  const keyed = await serveTiny(model.dir, { apiKey: 'nv-test-key-123456' });
  try {
    for (const base of [server.url, keyed.url]) {
      const svg = await fetch(new URL(new URL(href).pathname, base));
      assert.equal(svg.status, 200);
      assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
      assert.match(await svg.text(), /^<svg /);
      const ico = await fetch(`${base}/favicon.ico`);
      assert.equal(ico.status, 200);
      assert.equal(ico.headers.get('content-type'), 'image/x-icon');
      const bytes = Buffer.from(await ico.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 6)], [0, 0, 1, 0, 1, 0], 'ICONDIR: an icon with one image');
      const offset = bytes.readUInt32LE(18);
      assert.equal(bytes.readUInt32LE(14), bytes.length - offset);
      assert.equal(bytes.subarray(offset + 1, offset + 4).toString('latin1'), 'PNG');
    }
  } finally {
    await keyed.close();
  }
  await page.close();
});

test('example pictures: clicking one describes it as the API does for the same picture', async () => {
  const page = await browser.newPage();
  await page.goto(server.url);
  const thumbs = page.locator('#examples button img');
  await page.waitForFunction(
    (n) =>
      [...document.querySelectorAll<HTMLImageElement>('#examples img')].filter((i) => i.naturalWidth > 0)
        .length === n,
    examples.length,
  );
  assert.equal(await thumbs.count(), examples.length);
  assert.ok(examples.length >= 3);
  await thumbs.nth(1).click();
  await page.waitForSelector(`#drop img[alt="${examples[1]!.name}"]`);
  assert.equal(await page.isDisabled('#describe'), false);
  await page.locator('#temperature').fill('0');
  await page.click('#describe');
  await page.waitForSelector('#output[data-done="true"]', { timeout: 15_000 });
  const served = Buffer.from(await (await fetch(`${server.url}/examples/2.png`)).arrayBuffer());
  assert.deepEqual(served, examples[1]!.png);
  const answer = await apiDescribe(server, served, { temperature: '0' });
  assert.equal(await page.textContent('#output'), answer.full_text);
  assert.equal((await fetch(`${server.url}/examples/${examples.length + 1}.png`)).status, 404);
  await page.close();
});

test('max tokens, top-p and seed go to the API: the page writes what the API writes for them', async () => {
  const page = await browser.newPage();
  await page.goto(server.url);
  await page.setInputFiles('#file', { name: 'scene.png', mimeType: 'image/png', buffer: model.images[2]! });
  await page.locator('#temperature').fill('1.5');
  await page.locator('#top-p').fill('0.9');
  assert.equal(await page.textContent('#top-p-value'), '0.90');
  await page.fill('#max-tokens', '5');
  await page.fill('#seed', '4242');
  const sent: string[] = [];
  await page.route('**/v1/describe*', async (route) => {
    sent.push(route.request().postDataBuffer()?.toString('latin1') ?? '');
    await route.continue();
  });
  const shown: string[] = [];
  for (let i = 0; i < 2; i++) {
    await page.click('#describe');
    await page.waitForSelector('#output[data-done="true"]', { timeout: 15_000 });
    shown.push((await page.textContent('#output'))!);
    assert.ok(Number(await page.textContent('#stat-tokens')) <= 5);
  }
  assert.equal(shown[0], shown[1], 'the same seed writes the same text');
  for (const [field, value] of [
    ['max_new_tokens', '5'],
    ['top_p', '0.9'],
    ['seed', '4242'],
    ['temperature', '1.5'],
  ])
    assert.ok(sent[0]!.includes(`name="${field}"\r\n\r\n${value}\r\n`), `${field}=${value} sent`);
  const query = { temperature: '1.5', top_p: '0.9', max_new_tokens: '5', seed: '4242' };
  const answer = await apiDescribe(server, model.images[2]!, query);
  assert.equal(shown[0], answer.full_text);
  assert.equal(Number(await page.textContent('#stat-tokens')), answer.tokens);
  assert.equal(answer.tokens, 5);
  // Without the limit the model writes more: the page's max tokens is what stopped it.
  const longer = await apiDescribe(server, model.images[2]!, { ...query, max_new_tokens: '40' });
  assert.ok(longer.tokens > answer.tokens, `${longer.tokens} tokens without the limit`);
  await page.close();
});

test('Stop aborts a running generation: the server stops decoding for it', async () => {
  const slow = await serveTiny(long.dir);
  const page = await browser.newPage();
  try {
    await page.goto(slow.url);
    await page.setInputFiles('#file', { name: 'a.png', mimeType: 'image/png', buffer: model.images[0]! });
    await page.locator('#temperature').fill('0');
    await page.fill('#max-tokens', String(LONG));
    assert.equal(await page.isDisabled('#stop'), true, 'nothing to stop yet');
    await page.click('#describe');
    await page.waitForFunction(() => Number(document.getElementById('stat-tokens')!.textContent) >= 3);
    assert.equal(await page.isDisabled('#describe'), true);
    await page.click('#stop');
    await page.waitForSelector('#output[data-done="stopped"]');
    const shownTokens = Number(await page.textContent('#stat-tokens'));
    assert.ok(shownTokens >= 3 && shownTokens < LONG, `${shownTokens} tokens shown`);
    assert.equal(await page.isDisabled('#stop'), true);
    assert.equal(await page.isDisabled('#describe'), false);
    assert.ok(!(await stats(page)).includes('…'), 'no statistic left waiting');
    assert.equal(await page.isVisible('#error'), false);
    const deadline = Date.now() + 5000;
    let text = '';
    for (;;) {
      text = await (await fetch(`${slow.url}/metrics`)).text();
      const stopped = metric(text, 'nanovlm_http_requests_total{route="/v1/describe",status="499"}') === 1;
      const health = (await (await fetch(`${slow.url}/health`)).json()) as { generating: number };
      if (stopped && health.generating === 0) break;
      assert.ok(Date.now() < deadline, 'the server did not notice the stop: ' + text);
      await new Promise((r) => setTimeout(r, 20));
    }
    const generated = metric(text, 'nanovlm_generated_tokens_total');
    assert.ok(generated < LONG / 2, `the stopped request generated ${generated} of ${LONG} tokens`);
  } finally {
    await page.close();
    await slow.close();
  }
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
  assert.deepEqual(await stats(page), ['–', '–', '–', '–'], 'the statistics recover from the error');
  // The next, good upload works and fills them in.
  await page.setInputFiles('#file', { name: 'good.png', mimeType: 'image/png', buffer: model.images[0]! });
  await page.click('#describe');
  await page.waitForSelector('#output[data-done="true"]', { timeout: 15_000 });
  assert.equal(await page.isVisible('#error'), false);
  for (const v of await stats(page)) assert.ok(Number(v) > 0, `statistic ${v}`);
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

test('the API key: asked for when the server needs one, sent with every request, kept in the browser', async () => {
  const KEY = 'nv-page-key-0123456789';
  const keyed = await serveTiny(model.dir, { apiKey: KEY, examples });
  const page = await browser.newPage();
  try {
    await page.goto(keyed.url);
    await page.waitForFunction(() => document.getElementById('model-name')!.textContent === 'API key needed');
    assert.equal(await page.isVisible('#api-key'), true);
    assert.equal(await page.locator('#examples img').count(), examples.length, 'examples need no key');
    await page.setInputFiles('#file', { name: 'a.png', mimeType: 'image/png', buffer: model.images[1]! });
    await page.click('#describe');
    await page.waitForSelector('#error', { state: 'visible' });
    assert.match((await page.textContent('#error'))!, /needs an API key/);
    await page.fill('#api-key', 'nv-wrong-key-000000');
    await page.press('#api-key', 'Enter');
    await page.waitForFunction(
      () => document.getElementById('model-name')!.textContent === 'incorrect API key',
    );
    await page.fill('#api-key', KEY);
    await page.press('#api-key', 'Enter');
    await page.waitForFunction(() => document.getElementById('model-name')!.textContent === 'scenes-tiny');
    await page.locator('#temperature').fill('0');
    await page.click('#describe');
    await page.waitForSelector('#output[data-done="true"]', { timeout: 15_000 });
    const answer = await apiDescribe(keyed, model.images[1]!, { temperature: '0' }, KEY);
    assert.equal(await page.textContent('#output'), answer.full_text);
    // A reload keeps the key (localStorage) and loads the model with it at once.
    await page.reload();
    await page.waitForFunction(() => document.getElementById('model-name')!.textContent === 'scenes-tiny');
    assert.equal(await page.inputValue('#api-key'), KEY);
    assert.equal(await page.evaluate(() => localStorage.getItem('nanovlm-api-key')), KEY);
  } finally {
    await page.close();
    await keyed.close();
  }
});

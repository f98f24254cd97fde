import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError } from '../../src/serve/http-error.ts';
import { boundaryOf, parseMultipart, parseParams } from '../../src/serve/multipart.ts';
import { decodeImageString } from '../../src/serve/image-input.ts';

const body = (s: string) => Buffer.from(s, 'latin1');

test('parses fields and files, binary content with CRLFs and dashes intact', async () => {
  const bytes = '\r\n--not-the-boundary\r\n\x00\xff\r\n';
  const form = body(
    'preamble to ignore\r\n' +
      '--B0und\r\n' +
      'Content-Disposition: form-data; name="prompt"\r\n\r\n' +
      'A red ball\r\n' +
      '--B0und  \r\n' + // transport padding after a delimiter is allowed
      'Content-Disposition: form-data; name="image"; filename="a; b \\"c\\".png"\r\n' +
      'Content-Type: image/png\r\n\r\n' +
      bytes +
      '\r\n--B0und--\r\nepilogue',
  );
  const parts = parseMultipart(form, 'B0und');
  assert.deepEqual(
    parts.map((p) => [p.name, p.filename, p.contentType, p.data.toString('latin1')]),
    [
      ['prompt', undefined, undefined, 'A red ball'],
      ['image', 'a; b "c".png', 'image/png', bytes],
    ],
  );
  // The same through a real FormData serialisation (what browsers and fetch send).
  const fd = new FormData();
  fd.append('prompt', 'héllo');
  fd.append('image', new Blob([new Uint8Array([13, 10, 45, 45, 0, 255])]), 'x.png');
  const req = new Request('http://x/', { method: 'POST', body: fd });
  const parsed = parseMultipart(
    Buffer.from(await req.arrayBuffer()),
    boundaryOf(req.headers.get('content-type')!),
  );
  assert.equal(parsed[0]!.data.toString('utf8'), 'héllo');
  assert.deepEqual([...parsed[1]!.data], [13, 10, 45, 45, 0, 255]);
});

test('boundary parameter: quoted, unquoted, missing', () => {
  assert.equal(boundaryOf('multipart/form-data; boundary="a b;c"'), 'a b;c');
  assert.equal(boundaryOf('multipart/form-data;charset=utf-8; BOUNDARY=xyz'), 'xyz');
  assert.throws(() => boundaryOf('multipart/form-data'), /no boundary parameter/);
  assert.throws(() => boundaryOf(`multipart/form-data; boundary=${'x'.repeat(71)}`), /longer than 70/);
  assert.deepEqual(
    [...parseParams(' name="q\\"x"; filename=plain.png ')],
    [
      ['name', 'q"x'],
      ['filename', 'plain.png'],
    ],
  );
});

test('malformed bodies are 400s that say what is wrong', () => {
  const bad = (s: string, re: RegExp) =>
    assert.throws(
      () => parseMultipart(body(s), 'B'),
      (e: unknown) => e instanceof HttpError && e.status === 400 && re.test(e.message),
    );
  bad('no delimiter here', /never appears/);
  bad(
    '--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue without end',
    /ends before the closing boundary/,
  );
  bad('--B\r\nContent-Disposition: form-data; name="a"', /no end of headers/);
  bad('--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--', /lacks "Content-Disposition: form-data"/);
  bad('--B\r\nContent-Disposition: form-data; filename="x"\r\n\r\nx\r\n--B--', /no field name/);
  bad('--B\r\nbroken header\r\n\r\nx\r\n--B--', /bad part header line "broken header"/);
  bad('--Bjunk\r\n', /boundary line is malformed/);
  const many =
    Array.from(
      { length: 33 },
      (_, i) => `--B\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nx\r\n`,
    ).join('') + '--B--';
  bad(many, /more than 32 parts/);
});

test('image strings: data URLs and base64 decode; URLs, paths and junk are refused by kind', () => {
  const bytes = Buffer.from([137, 80, 78, 71, 1, 2, 3]);
  assert.deepEqual(decodeImageString(`data:image/png;base64,${bytes.toString('base64')}`, 'image'), bytes);
  assert.deepEqual(decodeImageString(bytes.toString('base64'), 'image'), bytes);
  assert.deepEqual(decodeImageString(bytes.toString('base64url'), 'image'), bytes);
  assert.deepEqual(
    decodeImageString(
      `${bytes.toString('base64').slice(0, 4)}\n${bytes.toString('base64').slice(4)}`,
      'image',
    ),
    bytes,
  );
  const refused = (s: string, re: RegExp) =>
    assert.throws(
      () => decodeImageString(s, 'image'),
      (e: unknown) => e instanceof HttpError && e.status === 400 && re.test(e.message),
    );
  refused('http://example.com/a.png', /remote URLs are not fetched/);
  refused('HTTPS://example.com/a.png', /remote URLs are not fetched/);
  refused('file:///etc/passwd', /file paths are not read/);
  refused('/etc/passwd', /file paths are not read/);
  refused('../secret.png', /file paths are not read/);
  refused('~/cat.jpg', /file paths are not read/);
  refused('C:\\Users\\cat.jpg', /file paths are not read/);
  refused('s3://bucket/cat.jpg', /only data: URLs are accepted \(got a "s3:" URL\)/);
  refused('data:image/png,rawbytes', /must be base64-encoded/);
  refused('data:image/png;base64,@@@@', /payload is malformed/);
  refused('data:text/html;base64,PGI+', /holds "text\/html", not an image/);
  refused('', /the image is empty/);
  refused('hello world!', /not valid base64 or a data: URL/);
});

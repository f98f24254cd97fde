// `npm run bench -- tokenizer [--scenes 30000]`: BPE training time on 30K scenes' texts (target: under a
// minute), and encode throughput against @huggingface/tokenizers reading the same tokenizer.json (the peer).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { trainTokenizer, Tokenizer } from '../src/tokenizer/index.ts';
import { sceneTexts } from '../tools/fixtures/texts.ts';

const arg = process.argv.indexOf('--scenes');
const scenes = arg > 0 ? Number(process.argv[arg + 1]) : 30_000;
const vocabSize = 4096;

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const out = fn();
  return [out, (performance.now() - t) / 1000];
}

const { short, long, captions } = sceneTexts(scenes, 1);
const descriptions = [...short, ...long];
const all = [...descriptions, ...captions];
const words = (list: string[]) => list.reduce((s, t) => s + t.split(' ').length, 0);
console.log(
  `${scenes} scenes: ${descriptions.length} descriptions (${words(descriptions)} words), ${captions.length} captions`,
);

const [, descSeconds] = time(() => trainTokenizer(descriptions, { vocabSize }));
console.log(`train on ShortDesc + LongDesc: ${descSeconds.toFixed(2)} s`);
const [ours, trainSeconds] = time(() => trainTokenizer(all, { vocabSize }));
console.log(
  `train on descriptions + captions (the CLI default): ${trainSeconds.toFixed(2)} s, vocab ${ours.vocabSize}`,
);

const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-bench-tok-'));
const file = path.join(dir, 'tokenizer.json');
await ours.save(file);
const json = JSON.parse(readFileSync(file, 'utf8'));
rmSync(dir, { recursive: true, force: true });

// Both read the same file; each gets a warm-up pass (fills the per-word caches) before the timed pass.
const chars = descriptions.reduce((s, t) => s + t.length, 0);
function measure(encode: (t: string) => number[]): { seconds: number; tokens: number } {
  for (const t of descriptions.slice(0, 2000)) encode(t);
  let tokens = 0;
  const [, seconds] = time(() => {
    for (const t of descriptions) tokens += encode(t).length;
  });
  return { seconds, tokens };
}
const loaded = Tokenizer.fromJSON(json, file);
const hf = new HfTokenizer(json, {});
const mine = measure((t) => loaded.encode(t));
const peer = measure((t) => hf.encode(t).ids);
if (mine.tokens !== peer.tokens)
  throw new Error(`token counts differ: ours ${mine.tokens}, library ${peer.tokens}`);
for (const t of descriptions.slice(0, 500)) {
  if (loaded.encode(t).join() !== hf.encode(t).ids.join())
    throw new Error(`ids differ on ${JSON.stringify(t)}`);
}
const ourRate = chars / mine.seconds;
const peerRate = chars / peer.seconds;
console.log(
  `encode ${descriptions.length} descriptions (${(chars / 1e6).toFixed(1)}M chars, ${mine.tokens} tokens):`,
);
console.log(
  `  ours     ${(ourRate / 1e6).toFixed(2)}M chars/s  ${(mine.tokens / mine.seconds / 1e6).toFixed(2)}M tokens/s`,
);
console.log(
  `  library  ${(peerRate / 1e6).toFixed(2)}M chars/s  ${(peer.tokens / peer.seconds / 1e6).toFixed(2)}M tokens/s`,
);
console.log('(the machine is shared: timings are noisy while other work runs)');

console.log(
  JSON.stringify({
    bench: 'tokenizer',
    speedup: Number((ourRate / peerRate).toFixed(2)),
    train_seconds: Number(trainSeconds.toFixed(2)),
    target_train_seconds: 60,
    train_seconds_descriptions_only: Number(descSeconds.toFixed(2)),
    scenes,
    texts: all.length,
    vocab_size: ours.vocabSize,
    encode_chars_per_second: Math.round(ourRate),
    encode_tokens_per_second: Math.round(mine.tokens / mine.seconds),
    peer_encode_chars_per_second: Math.round(peerRate),
    avg_tokens_short: Number(
      (short.reduce((s, t) => s + loaded.encode(t).length, 0) / short.length).toFixed(2),
    ),
  }),
);

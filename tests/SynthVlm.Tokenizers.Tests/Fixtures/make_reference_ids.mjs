// Regenerates reference_ids.json: the ids Hugging Face's Rust tokenizers (npm package
// tokenizers@0.23.2, native binding) produce for the tiny tokenizer folders next to this file.
//
//   mkdir -p /tmp/tokref && cd /tmp/tokref && npm install tokenizers@0.23.2
//   NODE_PATH=/tmp/tokref/node_modules node tests/SynthVlm.Tokenizers.Tests/Fixtures/make_reference_ids.mjs
//
// (run from the repository root; tiny_clip and tiny_clip_bang_pad are BpeTrainer.TrainTiny(400)
// written by BpeTrainer.WriteFolder with default options and with PadToken "!", see
// BpeTrainerTests; tiny_clip_added_flags is tiny_clip with three hand-added tokens in
// tokenizer_config.json and tokenizer.json that exercise lstrip/rstrip/single_word).
// Each text is encoded twice and the two must agree: (1) the folder's tokenizer.json loaded as is;
// (2) a pipeline assembled here from vocab.json + merges.txt with the package's BPE.fromFile,
// the CLIP normalizer / pre-tokenizer / post-processor spelled out below (not read from the
// folder's tokenizer.json) and the added tokens of tokenizer_config.json.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(path.join(process.env.NODE_PATH ?? '/tmp/tokref/node_modules', 'x.js'));
const tk = require('tokenizers');
const pkg = require('tokenizers/package.json');
if (pkg.version !== '0.23.2') {
  throw new Error(`expected tokenizers 0.23.2, found ${pkg.version}`);
}

const here = path.dirname(fileURLToPath(import.meta.url));

const longCaption = Array.from({ length: 12 }, (_, i) =>
  `a ${['red', 'blue', 'green'][i % 3]} bus number ${i} parked on a city street at night`).join(', ');

const texts = [
  'A red bus parked on a city street at night.',
  'Hello, world! What\'s up? (yes) [no] {maybe} -- "quoted" ...',
  "it's they're we've I'm you'll he'd don't can't won't",
  "Dog's bone: ''s '' ' 're 'RE 'S 'x",
  'café naïve Zürich',
  'cafe\u0301 nai\u0308ve Zu\u0308rich',
  'a\u0316\u0300 e\u0301\u0301 \u212B \u2126 \u212A',
  '東京 タワー 서울 한국어',
  '\u1112\u1161\u11AB\u1100\u1173\u11AF',
  '🙂👍🏽 🐈‍⬛ ❤️ 🇯🇵',
  '1024x1024 3.14 ½ ² Ⅻ 100% 2024-01-31',
  '  extra   whitespace\t\ttabs\nnew\nlines\r\n end  ',
  '\u00a0nbsp\u2003em\u3000ideographic\u0085nel',
  'zero\u200bwidth soft\u00adhyphen',
  'UPPER CASE AND MiXeD cAsE İstanbul ΣΊΣΥΦΟΣ ǅ ß ẞ',
  '<b>bold</b> &amp; <a href="x">link</a> &lt;3',
  '<|startoftext|>literal specials<|endoftext|> and <|ENDOFTEXT|>',
  'Wow!!! Amazing! ! ! end!',
  '! !! !!!',
  '𝐁𝐨𝐥𝐝 math letters 𠀀 ext-B 𐐀',
  'ﬁne ligature ﬀ',
  '',
  longCaption,
  // Words longer than 128 UTF-8 bytes take the tokenizer's pooled (not stack) buffers.
  'a ' + 'streetlamp'.repeat(20) + ' and ' + 'ü'.repeat(80) + ' end',
];

// Seeded random mixtures of the pieces above (mulberry32), so every rule meets every other.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pool = [
  'a', 'B', 'bus', 'Street', 'NIGHT', 'x', '0', '7', '42', ' ', ' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u0085',
  "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", '.', ',', '!', '!!', '?', '-', '...', '"', '(', ')', '<', '>', '&', '/', '#', '%',
  '\u0301', '\u0308', '\u0327', '\u0316', 'e\u0301', 'é', 'Ä', 'ñ', 'İ', 'ı', 'ß', 'ẞ', 'Σ', 'ς', 'ǅ', 'Ω', '\u212B', 'ﬁ', '½', '²', 'Ⅻ', '٣',
  'Москва', 'Ελλάδα', '東京', 'タワー', '한국', '\u1100\u1161', '\u11A8', 'العربية', 'हिन्दी', 'ไทย',
  '🙂', '👍🏽', '🐈\u200d⬛', '❤️', '🇯🇵', '𝐁', '𠀀', '𐐀', '\u200b', '\u00ad', '<|endoftext|>', '<|startoftext|>', '<|STARTOFTEXT|>',
];
const random = mulberry32(20251122);
for (let i = 0; i < 150; i++) {
  const n = 1 + Math.floor(random() * 12);
  let t = '';
  for (let k = 0; k < n; k++) {
    t += pool[Math.floor(random() * pool.length)];
  }
  texts.push(t);
}

function cleanDecode(s) {
  // transformers' CLIPTokenizerFast wraps decode: "</w>" -> " ", then strip.
  return s.replaceAll('</w>', ' ').trim();
}

async function independent(dir) {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  const spec = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFC' },
        { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
        { type: 'Lowercase' },
      ],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', vocab: {}, merges: [] },
  };
  const tokenizer = tk.Tokenizer.fromString(JSON.stringify(spec));
  const model = await tk.BPE.fromFile(path.join(dir, 'vocab.json'), path.join(dir, 'merges.txt'), {
    unkToken: '<|endoftext|>',
    continuingSubwordPrefix: '',
    endOfWordSuffix: '</w>',
    fuseUnk: false,
  });
  tokenizer.setModel(model);
  const added = Object.entries(config.added_tokens_decoder).map(([, t]) =>
    new tk.AddedToken(t.content, t.special, {
      singleWord: t.single_word, leftStrip: t.lstrip, rightStrip: t.rstrip, normalized: t.normalized,
    }));
  tokenizer.addAddedTokens(added);
  const bos = tokenizer.tokenToId(config.bos_token);
  const eos = tokenizer.tokenToId(config.eos_token);
  tokenizer.setPostProcessor(tk.robertaProcessing([config.eos_token, eos], [config.bos_token, bos], false, false));
  return tokenizer;
}

const folders = {};
// Added-token options CLIP itself does not use (lstrip/rstrip/single_word, a non-special token).
const flagTexts = [
  'a <img> b', 'a<img>b', '  <img>  x <img>', '<img><img>', 'cat catalog bobcat cat_x cat. (cat) Cat CAT',
  'the cat sat', 'cats', 'a [MASK] b', 'x   [MASK]y', '[mask]',
];

for (const name of ['tiny_clip', 'tiny_clip_bang_pad', 'tiny_clip_added_flags']) {
  const dir = path.join(here, name);
  const fast = tk.Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
  const built = await independent(dir);
  const rows = [];
  for (const text of name === 'tiny_clip_added_flags' ? [...texts.slice(0, 25), ...flagTexts] : texts) {
    const a = (await fast.encode(text)).getIds();
    const b = (await built.encode(text)).getIds();
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      throw new Error(`${name}: tokenizer.json and the assembled pipeline disagree on ${JSON.stringify(text)}:\n${a}\n${b}`);
    }
    fast.setTruncation(77);
    const truncated = (await fast.encode(text)).getIds();
    fast.disableTruncation();
    const decoded = cleanDecode(await fast.decode(a, true));
    rows.push({ text, ids: a, ids_max77: truncated, decoded });
  }
  folders[name] = {
    pad_token: JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')).pad_token,
    vocab_size_with_added: fast.getVocabSize(true),
    rows,
  };
}

const out = {
  generator: 'make_reference_ids.mjs',
  package: `tokenizers@${pkg.version} (npm, Hugging Face Rust tokenizers binding)`,
  folders,
};
fs.writeFileSync(path.join(here, 'reference_ids.json'), JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${Object.values(folders).reduce((n, f) => n + f.rows.length, 0)} rows`);

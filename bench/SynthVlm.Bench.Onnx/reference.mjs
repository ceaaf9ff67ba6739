// The same CLIP runs as Program.cs, through onnxruntime-node (the official Node binding of ONNX
// Runtime; an optional extra reference, used only when installed). Usage: node reference.mjs MODEL THREADS BATCH MODE ITERATIONS
// MODE is "images" (BATCH images, 1 text) or "texts" (BATCH texts, 1 image). Inputs are made
// exactly as Program.cs makes them; prints one JSON object with ms per run and output checksums.
import { createRequire } from 'node:module';
const require = createRequire(process.env.SYNTHVLM_BENCH_NODE_MODULES + '/');
const ort = require('onnxruntime-node');

const [model, threadsArg, batchArg, mode, itersArg] = process.argv.slice(2);
const threads = Number(threadsArg), batch = Number(batchArg), iterations = Number(itersArg);
const images = mode === 'images' ? batch : 1;
const texts = mode === 'texts' ? batch : 1;
const side = Number(process.env.SYNTHVLM_BENCH_IMAGE_SIDE || 224);
const seq = 77;
const vocab = Number(process.env.SYNTHVLM_BENCH_VOCAB);

function pixels(count) {
  const data = new Float32Array(count * 3 * side * side);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1000) / 500 - 1;
  return data;
}
function ids(count) {
  const data = new BigInt64Array(count * seq);
  const mask = new BigInt64Array(count * seq);
  for (let t = 0; t < count; t++) {
    const length = 8 + (t % 20);
    for (let j = 0; j < seq; j++) {
      let id;
      if (j === 0) id = vocab - 2;
      else if (j < length - 1) id = (t * 31 + j * 17) % (vocab - 2);
      else id = vocab - 1;
      data[t * seq + j] = BigInt(id);
      mask[t * seq + j] = j < length ? 1n : 0n;
    }
  }
  return [data, mask];
}

const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
});
const [idData, maskData] = ids(texts);
const feeds = {
  input_ids: new ort.Tensor('int64', idData, [texts, seq]),
  attention_mask: new ort.Tensor('int64', maskData, [texts, seq]),
  pixel_values: new ort.Tensor('float32', pixels(images), [images, 3, side, side]),
};
let out;
for (let i = 0; i < 3; i++) out = await session.run(feeds);
const start = process.hrtime.bigint();
for (let i = 0; i < iterations; i++) out = await session.run(feeds);
const ms = Number(process.hrtime.bigint() - start) / 1e6 / iterations;
const sum = (t) => Array.from(t.data).reduce((a, b) => a + b, 0);
console.log(JSON.stringify({ ms_per_run: ms, text_sum: sum(out.text_embeds), image_sum: sum(out.image_embeds), version: ort.env.versions.common }));

// Regenerates llama_reference_ids_transformersjs.json: the ids of npm @huggingface/transformers
// 4.3.2 (its JS tokenizers) for the texts of llama_reference_ids.json, from tokenizer.json files
// converted from the tiny_llama folders by llama_model_to_tokenizer_json.py (LlamaConverter
// semantics). An independent second reference for LlamaTokenizerTests; run from the repository root:
//
//   mkdir -p /tmp/hfref && (cd /tmp/hfref && npm install @huggingface/transformers@4.3.2)
//   for f in tiny_llama tiny_llama_nonlegacy; do /usr/bin/python3 \
//     tests/SynthVlm.Tokenizers.Tests/Fixtures/llama_model_to_tokenizer_json.py \
//     tests/SynthVlm.Tokenizers.Tests/Fixtures/$f /tmp/hfref/$f; done
//   NODE_PATH=/tmp/hfref/node_modules node tests/SynthVlm.Tokenizers.Tests/Fixtures/make_llama_reference_ids_transformersjs.mjs /tmp/hfref
//
// Each row also says whether the fast (tokenizer.json) ids equal the slow-rule ids of
// llama_reference_ids.json; where they do not, the difference is a known slow/fast one and the
// C# test checks that it is only that.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const nodePath = process.env.NODE_PATH ?? '/tmp/hfref/node_modules';
const require = createRequire(path.join(nodePath, 'x.js'));
const pkg = JSON.parse(fs.readFileSync(path.join(nodePath, '@huggingface', 'transformers', 'package.json'), 'utf8'));
if (pkg.version !== '4.3.2') {
  throw new Error(`expected @huggingface/transformers 4.3.2, found ${pkg.version}`);
}
const { LlamaTokenizer } = require('@huggingface/transformers');

const here = path.dirname(fileURLToPath(import.meta.url));
const converted = process.argv[2] ?? '/tmp/hfref';
const slow = JSON.parse(fs.readFileSync(path.join(here, 'llama_reference_ids.json'), 'utf8'));

const out = { package: `@huggingface/transformers@${pkg.version}`, folders: {} };
for (const [folder, { rows }] of Object.entries(slow.folders)) {
  const dir = path.join(converted, folder);
  const tokenizerJson = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  const configPath = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configPath) ? JSON.parse(fs.readFileSync(configPath, 'utf8')) : {};
  const tokenizer = new LlamaTokenizer(tokenizerJson, config);
  out.folders[folder] = rows.map((row) => {
    const ids = Array.from(tokenizer.encode(row.text));
    const idsNoSpecial = Array.from(tokenizer.encode(row.text, { add_special_tokens: false }));
    return {
      text: row.text,
      ids,
      ids_no_special: idsNoSpecial,
      same_as_slow: JSON.stringify(ids) === JSON.stringify(row.ids) && JSON.stringify(idsNoSpecial) === JSON.stringify(row.ids_no_special),
    };
  });
  const differ = out.folders[folder].filter((r) => !r.same_as_slow).map((r) => JSON.stringify(r.text));
  console.log(`${folder}: ${rows.length} texts, differ from slow rules: ${differ.join(', ') || 'none'}`);
}
fs.writeFileSync(path.join(here, 'llama_reference_ids_transformersjs.json'), JSON.stringify(out, null, 1) + '\n');

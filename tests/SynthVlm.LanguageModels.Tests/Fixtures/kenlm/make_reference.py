#!/usr/bin/python3
"""Regenerates the KenLM binary-format fixtures with KenLM's own tools.

Reference: github.com/kpu/kenlm, commit 4cb443e60b7bf2c0ddf3c745378f76cb59e254e5 (2025-03-30).
KENLM_BIN names a folder holding that commit's `build_binary` and `query`. Without Boost's
program_options (needed only by lmplz) they build as in the repository's compile_query_only.sh:
  cd $KENLM_SRC && for f in util/double-conversion/*.cc util/*.cc lm/*.cc; do   # minus *test.cc, *main.cc
    g++ -I. -O2 -DNDEBUG -DKENLM_MAX_ORDER=6 -c $f -o ${f%.cc}.o; done
  g++ -I. -O2 -DNDEBUG -DKENLM_MAX_ORDER=6 lm/build_binary_main.cc util/double-conversion/*.o util/*.o lm/*.o -lrt -o bin/build_binary
  (same for lm/query_main.cc -> bin/query)
Run:  KENLM_BIN=$KENLM_SRC/bin /usr/bin/python3 make_reference.py

Inputs (committed, next to this script):
  fourgram.arpa   hand-written 4-gram: no <unk> (KenLM substitutes -100), a zero, a missing and a
                  positive back-off, and n-grams whose suffixes are missing ("d e a" without "e a",
                  "a b c e" without "b c e"/"c e": KenLM fills them in, as it does for SRI-pruned models)
  sentences.txt   probe sentences for fourgram (unknown words, empty line, tabs and space runs, </s>
                  and <s> written in the text)
  ../trigram.arpa and the piece strings of ../lm_expected.json ("scores") as probe sentences.
Writes:
  fourgram.probing.bin   build_binary fourgram.arpa            (probing, the default; what CC-Net did
                                                                for the {lang}.arpa.bin Data-Juicer uses)
  fourgram.trie.bin      build_binary trie fourgram.arpa
  fourgram.qtrie.bin     build_binary -q 8 trie fourgram.arpa  (quantized: the reader refuses it)
  fourgram.atrie.bin     build_binary -a 22 trie fourgram.arpa (array-compressed pointers: refused)
  trigram.probing.bin, trigram.trie.bin   the same for ../trigram.arpa
  expected.json   for every model and both query modes (with <s>/</s>, and -n without them), what
                  `query -v word -v sentence` prints per sentence: the float32 total, the OOV count and,
                  for fourgram, per word [word, vocabulary id, n-gram length, log10 prob]. The script checks that query on the ARPA prints
                  the same numbers as on each binary (vocabulary ids differ between probing and trie).
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("KENLM_BIN")
COMMIT = "4cb443e60b7bf2c0ddf3c745378f76cb59e254e5"


def run(args, stdin=None):
    done = subprocess.run(args, input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{args} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return done.stdout


def build(arpa, out, *options):
    run([os.path.join(BIN, "build_binary"), *options, arpa, out])


def query(model, text, sentence_context):
    args = [os.path.join(BIN, "query"), "-v", "word", "-v", "sentence"]
    if not sentence_context:
        args.append("-n")
    out = run(args + [model], text.encode("utf-8")).decode("utf-8")
    rows = []
    for line in out.split("\n"):
        if not line.startswith(("Total:",)) and "Total:" not in line:
            continue
        head, _, tail = line.rpartition("Total: ")
        total, _, oov = tail.partition(" OOV: ")
        words = []
        for item in head.split("\t"):
            if not item:
                continue
            surface_id, length, prob = item.rsplit(" ", 2)
            surface, _, vocab_id = surface_id.rpartition("=")
            words.append({"word": surface, "id": int(vocab_id), "ngram_length": int(length), "prob": float(prob)})
        rows.append({"words": words, "total": float(total), "oov": int(oov)})
    return rows


def strip_ids(rows):
    return [{**r, "words": [{k: v for k, v in w.items() if k != "id"} for w in r["words"]]} for r in rows]


def main():
    if not BIN:
        sys.exit("set KENLM_BIN to the folder with KenLM's build_binary and query")
    fourgram = os.path.join(HERE, "fourgram.arpa")
    trigram = os.path.join(HERE, "..", "trigram.arpa")
    build(fourgram, os.path.join(HERE, "fourgram.probing.bin"))
    build(fourgram, os.path.join(HERE, "fourgram.trie.bin"), "trie")
    build(fourgram, os.path.join(HERE, "fourgram.qtrie.bin"), "-q", "8", "trie")
    build(fourgram, os.path.join(HERE, "fourgram.atrie.bin"), "-a", "22", "trie")
    build(trigram, os.path.join(HERE, "trigram.probing.bin"))
    build(trigram, os.path.join(HERE, "trigram.trie.bin"), "trie")

    with open(os.path.join(HERE, "sentences.txt"), encoding="utf-8") as f:
        four_sentences = f.read().split("\n")[:-1]
    with open(os.path.join(HERE, "..", "lm_expected.json"), encoding="utf-8") as f:
        seen = []
        for row in json.load(f)["scores"]:
            if row["sentence"] not in seen and "\n" not in row["sentence"]:
                seen.append(row["sentence"])
        tri_sentences = seen

    cases = []
    for name, arpa, sentences in (("fourgram", fourgram, four_sentences), ("trigram", trigram, tri_sentences)):
        text = "".join(s + "\n" for s in sentences)
        for context in (True, False):
            from_arpa = strip_ids(query(arpa, text, context))
            for kind in ("probing", "trie"):
                binary = f"{name}.{kind}.bin"
                rows = query(os.path.join(HERE, binary), text, context)
                if len(rows) != len(sentences):
                    sys.exit(f"{binary}: {len(rows)} query lines for {len(sentences)} sentences")
                if strip_ids(rows) != from_arpa:
                    sys.exit(f"{binary}: query differs from the ARPA's")
                for sentence, row in zip(sentences, rows):
                    row["sentence"] = sentence
                cases.append({"model": binary, "arpa": os.path.basename(arpa), "sentence_context": context,
                              "sentences": rows})
    # One sentence per line; words as [word, id, ngram_length, prob], kept for fourgram only.
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        f.write('{"kenlm": ' + json.dumps({"repository": "github.com/kpu/kenlm", "commit": COMMIT}) + ',\n "cases": [\n')
        for i, case in enumerate(cases):
            head = {k: v for k, v in case.items() if k != "sentences"}
            f.write(" " + json.dumps(head, ensure_ascii=False)[:-1] + ', "sentences": [\n')
            for j, row in enumerate(case["sentences"]):
                out = {"sentence": row["sentence"], "total": row["total"], "oov": row["oov"]}
                if case["model"].startswith("fourgram"):
                    out["words"] = [[w["word"], w["id"], w["ngram_length"], w["prob"]] for w in row["words"]]
                f.write("  " + json.dumps(out, ensure_ascii=False) + (",\n" if j + 1 < len(case["sentences"]) else "\n"))
            f.write(" ]}" + (",\n" if i + 1 < len(cases) else "\n"))
        f.write("]}\n")


if __name__ == "__main__":
    main()

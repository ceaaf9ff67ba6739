#!/usr/bin/python3
"""Times the plain Python statistics of tests/SynthVlm.Curation.Tests/Fixtures/dj_reference.py
(imported, not copied) over the benchmark's texts: only the statistics loop is timed, in CPU seconds of the process (as the C# side counts its own), so other load on a shared machine does not count.

usage: dj_bench.py DJ_REFERENCE.py TEXTS.json EMOJI_CODEPOINTS.txt FLAGGED_WORDS.txt REP_LEN SAMPLE_OUT.jsonl SAMPLE_COUNT
prints {"count": N, "seconds": S}; writes the statistics of the first SAMPLE_COUNT texts to SAMPLE_OUT.jsonl.
"""
import importlib.util
import json
import sys
import time


def main():
    ref_path, texts_path, emoji_path, flagged_path, rep_len, sample_path, sample_count = sys.argv[1:8]
    rep_len, sample_count = int(rep_len), int(sample_count)
    spec = importlib.util.spec_from_file_location("dj_reference", ref_path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    special = ref.load_special(emoji_path)
    with open(flagged_path, encoding="utf-8") as f:
        flagged = {line.strip() for line in f if line.strip()}
    with open(texts_path, encoding="utf-8") as f:
        texts = json.load(f)

    results = []
    start = time.process_time()
    for text in texts:
        n = len(text)
        words = ref.refined_words(text, special)
        results.append((
            sum(1 for c in text if c.isalnum()) / n if n else 0.0,
            ref.char_rep(text, rep_len),
            min(1.0, sum(1 for w in words if w in flagged) / len(words)) if words else 0.0,
            sum(1 for c in text if c in special) / n if n else 0.0,
            ref.word_rep(words, rep_len),
            len(words),
        ))
    seconds = time.process_time() - start

    with open(sample_path, "w", encoding="utf-8") as f:
        for r in results[:sample_count]:
            keys = ("alnum_ratio", "char_rep_ratio", "flagged_words_ratio", "special_char_ratio", "word_rep_ratio", "words")
            f.write(json.dumps(dict(zip(keys, r))) + "\n")
    print(json.dumps({"count": len(texts), "seconds": seconds}))


if __name__ == "__main__":
    main()

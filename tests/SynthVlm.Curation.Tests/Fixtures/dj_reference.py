#!/usr/bin/python3
"""A straightforward Python implementation of Data-Juicer's rule-filter statistics
(tokenization off), written from the definitions in data_juicer/ops/filter/*_filter.py and
data_juicer/ops/common/{helper_func,special_characters}.py, for differential tests.

usage: dj_reference.py TEXTS.json EMOJI_CODEPOINTS.txt FLAGGED_WORDS.txt REP_LEN [REP_LEN ...]
TEXTS.json is a JSON list of strings; prints one JSON object per text.
"""
import json
import math
import string
import sys

OTHER = (
    "\u0020\u0081\u0082\u0083\u0084\u0085\u0091\u0092\u0093\u0095\u0096\u0097\u0098\u0099\u009C\u009D"
    "\u00A1\u00A2\u00A3\u00A4\u00A5\u00A6\u00A7\u00A8\u00A9\u00AA\u00AB\u00AD\u00AE\u00AF\u00B0\u00B1"
    "\u00B2\u00B3\u00B4\u00B7\u00B8\u00B9\u00BA\u00BB\u00BC\u00BD\u00BE\u00BF\u00D7\u00F7\u00F8\u0131"
    "\u026A\u02BA\u02BB\u02BC\u02C8\u02CC\u02D0\u02D8\u02DA\u02DC\u03C0\u0413\u060C\u0647\u066A\u066C"
    "\u06E9\u093E\u0940\u0947\u094D\u097D\u09BE\u0E51\u2002\u2003\u2005\u2008\u2009\u200A\u200B\u2010"
    "\u2011\u2013\u2014\u2015\u2016\u2018\u2019\u201A\u201C\u201D\u201E\u201F\u2020\u2022\u2024\u2026"
    "\u202F\u2030\u2032\u2033\u2039\u203A\u203F\u2043\u2044\u20A8\u20AA\u20AC\u2103\u2122\u2190\u2191"
    "\u2192\u2193\u21D3\u2206\u2208\u2212\u221A\u221E\u221F\u223C\u2248\u2256\u2264\u2265\u2295\u22C5"
    "\u2550\u25A0\u25AC\u25B2\u25B4\u25B7\u25BA\u25BB\u25BC\u25C6\u25CF\u25E6\u2605\u2606\u261B\u263B"
    "\u2661\u2665\u266B\u2713\u2726\u2731\u2756\u27A4\u27A9\u2800\u3000\u3001\u3002\u300A\u300B\u300C"
    "\u300D\u3010\u3011\u309C\u30B7\u30C3\u30C4\u30F3\u30FB\u30FC\u4E00\u4E0A\u58EB\uFD3E\uFD3F\uFEFF"
    "\uFF01\uFF08\uFF09\uFF0C\uFF0E\uFF11\uFF1A\uFF1B\uFF1F\uFF3E\uFF5E\uFFFC\uFFFD"
)


def load_special(emoji_path):
    special = set(string.punctuation + string.digits + string.whitespace + OTHER)
    with open(emoji_path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                special.add(chr(int(line, 16)))
    return special


def strip(word, chars):
    b, e = 0, len(word)
    while b < e and word[b] in chars:
        b += 1
    while e > b and word[e - 1] in chars:
        e -= 1
    return word[b:e]


def refined_words(text, special):
    words = [w for w in text.replace("\n", " ").replace("\t", " ").split(" ") if w]
    words = [strip(w.lower(), special) for w in words]
    return [w for w in words if w]


def char_rep(text, n):
    freq = {}
    for i in range(len(text) - n + 1):
        g = text[i:i + n]
        freq[g] = freq.get(g, 0) + 1
    if not freq:
        return 0.0
    values = sorted(freq.values(), reverse=True)
    singles = len([v for v in values if v == 1])
    k = min(int(math.sqrt(len(values))), len(values) - singles)
    return sum(values[:k]) / sum(values)


def word_rep(words, n):
    freq = {}
    for i in range(len(words) - n + 1):
        g = " ".join(words[i:i + n])
        freq[g] = freq.get(g, 0) + 1
    if not freq:
        return 0.0
    return sum(v for v in freq.values() if v > 1) / sum(freq.values())


def main():
    texts_path, emoji_path, flagged_path = sys.argv[1:4]
    rep_lens = [int(a) for a in sys.argv[4:]]
    special = load_special(emoji_path)
    with open(flagged_path, encoding="utf-8") as f:
        flagged = {line.strip() for line in f if line.strip()}
    with open(texts_path, encoding="utf-8") as f:
        texts = json.load(f)
    for text in texts:
        n = len(text)
        words = refined_words(text, special)
        out = {
            "alnum_ratio": sum(1 for c in text if c.isalnum()) / n if n else 0.0,
            "special_char_ratio": sum(1 for c in text if c in special) / n if n else 0.0,
            "flagged_words_ratio": min(1.0, sum(1 for w in words if w in flagged) / len(words)) if words else 0.0,
            "words": words,
            "char_rep_ratio": {str(r): char_rep(text, r) for r in rep_lens},
            "word_rep_ratio": {str(r): word_rep(words, r) for r in rep_lens},
        }
        print(json.dumps(out))


if __name__ == "__main__":
    main()

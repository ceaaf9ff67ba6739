#!/usr/bin/python3
"""Regenerates the LanguageModels test fixtures.

Run with Debian's interpreter and sentencepiece 0.1.97 unpacked (not installed) into /tmp:
  cd /tmp && apt-get download python3-sentencepiece libsentencepiece0
  for f in *sentencepiece*.deb; do dpkg-deb -x "$f" /tmp/spdeb/root; done
  PYTHONPATH=/tmp/spdeb/root/usr/lib/python3/dist-packages \
  LD_LIBRARY_PATH=/tmp/spdeb/root/usr/lib/x86_64-linux-gnu \
  /usr/bin/python3 make_fixtures.py

Writes, next to this script:
  corpus.txt            deterministic synthetic caption corpus (training text for both models)
  sp_identity.model     unigram model, --normalization_rule_name=identity
  sp_nfkc.model         unigram model, default nmt_nfkc normalization (precompiled charsmap)
  sp_userdef_bytes.model  nmt_nfkc with user-defined symbols and byte fallback
  sp_suffix.model       nmt_nfkc, treat_whitespace_as_suffix, remove_extra_whitespaces off
  texts.json            ~200 probe texts (ASCII, whitespace runs, NFKC-relevant code points, unknowns)
  sp_expected.json      ids and pieces that sentencepiece 0.1.97 produces for every probe text
  trigram.arpa          trigram back-off model over sp_nfkc pieces, absolute discounting (written here)
  lm_expected.json      KenLM-style scores from the independent back-off scorer below, and
                        Data-Juicer perplexity_filter values (real sentencepiece + that scorer)
"""
import json
import math
import os
import random
from collections import defaultdict

import numpy as np
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))

SUBJECTS = ["a dog", "two cats", "an old man", "a young woman", "a red car", "the city skyline",
            "a bowl of fruit", "three children", "a wooden table", "a small boat", "the mountain",
            "a black horse", "a bicycle", "an airplane", "a group of people", "a cup of coffee"]
VERBS = ["sitting on", "running across", "standing next to", "flying over", "lying under",
         "parked near", "floating on", "walking along", "looking at", "resting beside"]
OBJECTS = ["the beach", "a green field", "the river", "a busy street", "the snow", "a kitchen counter",
           "the park", "a sandy road", "the lake", "an empty room", "the forest", "a stone bridge"]
EXTRAS = ["at sunset", "in the rain", "during the day", "at night", "in winter", "on a sunny morning",
          "with a blue sky", "in black and white", "", "", ""]
ODD = ["café", "naïve", "Ｔｏｋｙｏ", "ﬁsh", "½ price", "№ 5", "Ⅻ", "ｶﾀｶﾅ", "Straße", "déjà vu",
       "A\u00a0B", "x²", "co\u2010op", "“quoted”", "…", "１２３"]


def make_corpus(rng):
    lines = []
    for i in range(2500):
        s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(EXTRAS)}".strip()
        if i % 3 == 0:
            s = s[0].upper() + s[1:] + "."
        if i % 7 == 0:
            s += f" Photo {rng.randint(1, 999)}"
        if i % 11 == 0:
            s = f"{s}, {rng.choice(ODD)}"
        lines.append(s)
    return lines


def make_texts(rng, corpus):
    texts = ["", " ", "   ", "\t", "a", "A.", "hello", "Hello world", "  leading and trailing  ",
             "multiple    inner     spaces", "tab\tseparated\twords", "line one\nline two",
             "line one\r\nline two\n\nline four", "zebra quokka xylophone", "UPPER CASE WORDS",
             "numbers 12345 and 3.14159", "punctuation!?;:()[]{}", "emoji 😀 here", "中文字符 test",
             "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ", "ﬁnal ﬂight", "e\u0301clair vs \u00e9clair", "non\u00a0breaking",
             "ideographic\u3000space", "zero\u200bwidth", "next\x85line", "form\x0cfeed", "vertical\x0btab",
             "group\x1dsep", "para\u2029graph", "nbsp\u00a0only", "control\x01char", "ｶﾀｶﾅ half width",
             "Ⅷ roman", "x² + y³", "ellipsis… and “quotes”", "café naïve Straße", "\u2028separator",
             "a dog sitting on the beach", "The city skyline at night.", "▁already escaped", "<cap> a dog@@cat <cap>", "photo of a photo", "<ca p> @ @",
             "under_score and-hyphen", "ALLCAPS", "mixedCASEword", "  \n  ", "end with newline\n"]
    while len(texts) < 200:
        base = rng.choice(corpus)
        k = rng.randrange(6)
        if k == 0:
            base = base.upper()
        elif k == 1:
            base = "  " + base.replace(" ", "   ") + " "
        elif k == 2:
            base = base + " " + rng.choice(ODD)
        elif k == 3:
            words = base.split()
            rng.shuffle(words)
            base = " ".join(words)
        elif k == 4:
            base = base + " unseenword" + str(rng.randint(0, 99))
        texts.append(base)
    return texts


def train(corpus_path, prefix, extra):
    options = {"vocab_size": 300, **extra}
    spm.SentencePieceTrainer.train(
        input=corpus_path, model_prefix=os.path.join(HERE, prefix), model_type="unigram",
        hard_vocab_limit=False, character_coverage=1.0, num_threads=1, minloglevel=2, **options)
    os.remove(os.path.join(HERE, prefix + ".vocab"))


# ---------------------------------------------------------------- n-gram model (written here)
BOS, EOS, UNK = "<s>", "</s>", "<unk>"
DISCOUNT = 0.5


def build_arpa(sentences, path):
    """Trigram Katz-style back-off model with absolute discounting, written as ARPA."""
    counts = [defaultdict(int) for _ in range(4)]
    for words in sentences:
        seq = [BOS] + words + [EOS]
        for n in (1, 2, 3):
            for i in range(len(seq) - n + 1):
                g = tuple(seq[i:i + n])
                if g == (BOS,):
                    continue
                counts[n][g] += 1
    total = sum(counts[1].values())
    prob = {}
    uni_vocab = sorted(g[0] for g in counts[1])
    # Unigram: ML with one pseudo-count for <unk>.
    for w in uni_vocab:
        prob[(w,)] = counts[1][(w,)] / (total + 1)
    prob[(UNK,)] = 1 / (total + 1)

    backoff = {}

    def prob_of(g):
        if g in prob:
            return prob[g]
        if len(g) == 1:
            return prob[(UNK,)]
        return backoff.get(g[:-1], 1.0) * prob_of(g[1:])

    for n in (2, 3):
        ctx_total = defaultdict(int)
        ctx_types = defaultdict(int)
        for g, c in counts[n].items():
            ctx_total[g[:-1]] += c
            ctx_types[g[:-1]] += 1
        for g, c in counts[n].items():
            prob[g] = (c - DISCOUNT) / ctx_total[g[:-1]]
        for h in ctx_total:
            alpha = DISCOUNT * ctx_types[h] / ctx_total[h]
            seen_lower = sum(prob_of(h[1:] + (g[-1],)) for g in counts[n] if g[:-1] == h)
            backoff[h] = alpha / (1.0 - seen_lower)

    grams = {1: [(BOS,)] + [(w,) for w in uni_vocab] + [(UNK,)]}
    grams[2] = sorted(counts[2])
    grams[3] = sorted(counts[3])
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\\data\\\n")
        for n in (1, 2, 3):
            f.write(f"ngram {n}={len(grams[n])}\n")
        for n in (1, 2, 3):
            f.write(f"\n\\{n}-grams:\n")
            for g in grams[n]:
                p = -99.0 if g == (BOS,) else math.log10(prob[g])
                line = f"{p:.7g}\t{' '.join(g)}"
                if n < 3 and g in backoff:
                    line += f"\t{math.log10(backoff[g]):.7g}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


class ReferenceBackoff:
    """Independent ARPA reader and back-off scorer, summing in float32 in KenLM's order
    (matched n-gram's probability first, then the back-offs of the longer contexts from the
    shortest up, then the per-word sum as in kenlm.pyx `cdef float total`)."""

    def __init__(self, path):
        self.p, self.b, self.order = {}, {}, 0
        section = 0
        for raw in open(path, encoding="utf-8"):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1:-7])
                self.order = max(self.order, section)
                continue
            if section == 0 or line == "\\end\\":
                continue
            parts = line.split("\t")
            words = tuple(parts[1].split(" "))
            self.p[words] = np.float32(float(parts[0]))
            if len(parts) > 2:
                self.b[words] = np.float32(float(parts[2]))

    def word_score(self, history, w):
        h = tuple(history[-(self.order - 1):]) if self.order > 1 else ()
        # Longest matching n-gram: h[k:] + (w,)
        for k in range(len(h) + 1):
            if h[k:] + (w,) in self.p:
                matched_ctx = len(h) - k
                break
        else:
            raise AssertionError("unigram missing")
        score = self.p[h[len(h) - matched_ctx:] + (w,)]
        for ctx_len in range(matched_ctx + 1, len(h) + 1):
            score = np.float32(score + self.b.get(h[len(h) - ctx_len:], np.float32(0)))
        return score

    def score(self, sentence, bos=True, eos=True):
        words = sentence.encode("utf-8").split()
        words = [w.decode("utf-8") for w in words]
        history = [BOS] if bos else []
        total = np.float32(0)
        for w in words + ([EOS] if eos else []):
            w = w if (w,) in self.p else UNK
            total = np.float32(total + self.word_score(history, w))
            history.append(w)
        return float(total)


def dj_perplexity(sp, lm, text):
    """Data-Juicer perplexity_filter.compute_stats_single on one text."""
    words = sp.encode_as_pieces(text)
    join_text = " ".join(words)
    logits, length = 0, 0
    for line in join_text.splitlines():
        logits += lm.score(line)
        length += len(line.split()) + 1
    ppl = (10.0 ** (-logits / length)) if length != 0 else 0.0
    return round(ppl, 1), ppl


def main():
    rng = random.Random(20261122)
    corpus = make_corpus(rng)
    corpus_path = os.path.join(HERE, "corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus) + "\n")
    train(corpus_path, "sp_identity", {"normalization_rule_name": "identity"})
    train(corpus_path, "sp_nfkc", {})
    # User-defined symbols (matched before normalization, preferred by Viterbi) and byte fallback.
    train(corpus_path, "sp_userdef_bytes", {"user_defined_symbols": ["<cap>", "@@", "▁photo"],
                                            "byte_fallback": True, "vocab_size": 600})
    # Whitespace as suffix, whitespace runs kept, no dummy prefix handling differences.
    train(corpus_path, "sp_suffix", {"treat_whitespace_as_suffix": True,
                                     "remove_extra_whitespaces": False})
    texts = make_texts(rng, corpus)
    with open(os.path.join(HERE, "texts.json"), "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=True, indent=0)

    expected = {}
    models = {}
    for name in ("sp_identity", "sp_nfkc", "sp_userdef_bytes", "sp_suffix"):
        sp = spm.SentencePieceProcessor(model_file=os.path.join(HERE, name + ".model"))
        models[name] = sp
        expected[name] = [{"ids": sp.encode(t, out_type=int), "pieces": sp.encode(t, out_type=str)}
                          for t in texts]
    with open(os.path.join(HERE, "sp_expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=True)

    sp = models["sp_nfkc"]
    # Train the LM on the even lines so that odd lines and probe texts meet unseen n-grams.
    sentences = [sp.encode_as_pieces(line) for line in corpus[::2]]
    arpa = os.path.join(HERE, "trigram.arpa")
    build_arpa(sentences, arpa)
    lm = ReferenceBackoff(arpa)
    scored = []
    for line in corpus[1:200:2] + ["", "zzz qqq", "<s> inside", "</s>"]:
        joined = " ".join(sp.encode_as_pieces(line)) if line not in ("<s> inside", "</s>") else line
        for bos, eos in ((True, True), (True, False), (False, True), (False, False)):
            scored.append({"sentence": joined, "bos": bos, "eos": eos, "score": lm.score(joined, bos, eos)})
    # The identity model keeps newlines and other line breaks inside pieces, which exercises
    # Data-Juicer's per-line loop; its pieces are mostly unknown to the LM, which is fine here.
    perplexities = {}
    for name in ("sp_nfkc", "sp_identity"):
        perplexities[name] = []
        for t in texts:
            rounded, raw = dj_perplexity(models[name], lm, t)
            perplexities[name].append({"text": t, "perplexity": rounded, "raw": raw})
    with open(os.path.join(HERE, "lm_expected.json"), "w", encoding="utf-8") as f:
        json.dump({"scores": scored, "perplexities": perplexities}, f, ensure_ascii=True)


if __name__ == "__main__":
    main()

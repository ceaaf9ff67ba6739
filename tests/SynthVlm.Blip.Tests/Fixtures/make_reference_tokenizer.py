#!/usr/bin/python3
"""Reference BERT uncased WordPiece tokenization for the C# tokenizer parity test.

Runs the ORIGINAL BasicTokenizer + WordpieceTokenizer (do_lower_case=True; WordPiece limited to 100 characters per word as in Hugging Face) of
google-research/bert's tokenization.py — an implementation independent of both Hugging Face and
Microsoft.ML.Tokenizers — on the committed texts and vocabulary.

    BERT_REPO=/work/official/bert /usr/bin/python3 tests/SynthVlm.Blip.Tests/Fixtures/make_reference_tokenizer.py

BERT_REPO: a folder holding tokenization.py from https://github.com/google-research/bert at commit
eedf5716ce1268e56f0a50264a88cafad334ac61 (2020-03-11). That file imports tensorflow only for
tf.gfile.GFile when reading the vocabulary; a stub module mapping it to open() is installed before
the import (tensorflow is not needed). `six` (Debian python3-six) must be importable.

Inputs: tokenizer/vocab.txt (a small vocabulary written for the edge cases) and tokenizer/texts.json
(accents, CJK, punctuation, emoji, "&amp;", control and zero-width characters, words longer than 100
characters, empty and whitespace-only text). Output: tokenizer/expected.json with, per text, the
WordPiece tokens and their ids WITHOUT [CLS]/[SEP].
"""
import json
import os
import sys
import types

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokenizer")


def load_reference():
    repo = os.environ.get("BERT_REPO")
    if not repo or not os.path.isfile(os.path.join(repo, "tokenization.py")):
        sys.exit("set BERT_REPO to a folder holding google-research/bert's tokenization.py")
    tf = types.ModuleType("tensorflow")
    tf.gfile = types.SimpleNamespace(GFile=lambda path, mode: open(path, mode, encoding="utf-8"))
    sys.modules["tensorflow"] = tf
    sys.path.insert(0, repo)
    import tokenization  # noqa: E402  (google-research/bert)
    return tokenization


def main():
    tokenization = load_reference()
    vocab = tokenization.load_vocab(os.path.join(HERE, "vocab.txt"))
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    # FullTokenizer's WordpieceTokenizer keeps its default of 200 characters per word; Hugging Face's
    # BertTokenizer (what BLIP's processor uses) maps words longer than 100 characters to [UNK]. The
    # reference class is run with Hugging Face's limit so the fixture states BLIP's behaviour.
    wordpiece = tokenization.WordpieceTokenizer(vocab=vocab, max_input_chars_per_word=100)
    with open(os.path.join(HERE, "texts.json"), encoding="utf-8") as f:
        texts = json.load(f)
    cases = []
    for text in texts:
        tokens = [piece for word in basic.tokenize(text) for piece in wordpiece.tokenize(word)]
        cases.append({"text": text, "tokens": tokens, "ids": tokenization.convert_tokens_to_ids(vocab, tokens)})
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": "google-research/bert tokenization.py@eedf5716ce1268e56f0a50264a88cafad334ac61",
                   "do_lower_case": True, "cases": cases}, f, ensure_ascii=True, indent=1)
    for c in cases:
        print(repr(c["text"])[:40], c["tokens"])


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Derives punkt-english-ortho.txt (embedded next to this script) from the English Punkt model's
orthographic-context table, nltk punkt_tab english/ortho_context.tab.

Source: github.com/open-webui/open-webui, nltk_data/tokenizers/punkt_tab/english/ortho_context.tab at
commit 83a051190763fc198b524ee19dfbcf5e1e41182b (the same copy the other three punkt_tab files of
punkt-english.txt come from; 236,303 bytes, sha256 below, which is also the Git LFS pin of that file).
It is not committed here: put it in a folder and run

    /usr/bin/python3 make_punkt_ortho.py FOLDER      (or set CHAIR_PUNKT_DIR=FOLDER)

Why only a few lines are kept. The table maps a word type to flags (nltk punkt.py): 2 seen upper-case
at a sentence start, 4 upper-case mid-sentence, 8 upper-case in an unknown position, 16 lower-case at a
sentence start, 32 lower-case mid-sentence, 64 lower-case in an unknown position. Punkt's tokenizer reads
it only in its orthographic heuristic (PunktSentenceTokenizer._ortho_heuristic), asked about the token
after a period-final word. CHAIR (utils/chair.py) lower-cases captions before nltk.word_tokenize, so that
token never starts with an upper-case letter, and for a token that starts lower-case the heuristic says
"not a sentence starter" unless the type was seen lower-case at a sentence start (16) and never upper-case
(2, 4, 8), in which case it says "unknown". Every other type - listed or not - answers like an empty table.
This script keeps exactly the types that answer "unknown", with their flags.
"""
import hashlib
import os
import sys

SHA256 = "4bbcca25ed3d3f06c02402abf8419b9f033b8adc06e7b482eca4e45f81a5dc4c"
SOURCE = ("github.com/open-webui/open-webui nltk_data/tokenizers/punkt_tab/english/ortho_context.tab "
          "at 83a051190763fc198b524ee19dfbcf5e1e41182b")
BEG_UC, MID_UC, UNK_UC, BEG_LC = 1 << 1, 1 << 2, 1 << 3, 1 << 4
UC = BEG_UC | MID_UC | UNK_UC


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CHAIR_PUNKT_DIR")
    if not folder:
        sys.exit("usage: make_punkt_ortho.py FOLDER (the punkt_tab english folder holding ortho_context.tab), or set CHAIR_PUNKT_DIR")
    path = os.path.join(folder, "ortho_context.tab")
    if not os.path.isfile(path):
        sys.exit("%s: not found (expected punkt_tab english/ortho_context.tab, see the docstring)" % path)
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        sys.exit("%s: expected sha256 %s, found %s" % (path, SHA256, digest))
    kept = []
    for number, line in enumerate(data.decode("utf-8").split("\n"), 1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[1].isdigit():
            sys.exit("%s line %d: expected 'type<TAB>flags', found %r" % (path, number, line))
        flags = int(fields[1])
        if flags & BEG_LC and not flags & UC:
            kept.append((fields[0], flags))
    kept.sort()
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "punkt-english-ortho.txt")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write("# Orthographic context of the English Punkt model that decides anything for lower-case text: the word\n")
        f.write("# types whose flags have 16 (seen lower-case at a sentence start) and none of 2, 4, 8 (seen upper-case),\n")
        f.write("# for which Punkt's orthographic heuristic answers 'unknown' about a lower-case token; for every other\n")
        f.write("# type it answers 'not a sentence starter'. Type<TAB>flags. Written by make_punkt_ortho.py from\n")
        f.write("# %s\n" % SOURCE)
        f.write("# (sha256 %s).\n" % SHA256)
        for word, flags in kept:
            f.write("%s\t%d\n" % (word, flags))
    print("%d of the table's types kept in %s" % (len(kept), out))


if __name__ == "__main__":
    main()

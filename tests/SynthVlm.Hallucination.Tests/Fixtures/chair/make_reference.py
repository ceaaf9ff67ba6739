#!/usr/bin/python3
"""Expected CHAIR results for the committed fixture, computed by running the OFFICIAL CHAIR code.

Reference: github.com/LisaAnne/Hallucination, utils/chair.py and data/synonyms.txt at commit
6e4d33c4bedf6dfcd24c61bf527f40714717be47 (2019-03-29). Its requirements.txt pins nltk==3.2.5 and
pattern==3.6, which this script uses from their GitHub sources (PyPI is not reachable here):

  CHAIR_OFFICIAL_DIR  checkout of LisaAnne/Hallucination (the commit above)
  CHAIR_NLTK_DIR      checkout of github.com/nltk/nltk at tag 3.2.5
                      (9b6beb8bd0e1530754fa52d360688bac5d1c9cb3)
  CHAIR_PATTERN_DIR   checkout of github.com/clips/pattern at d25511f9ca7ed9356b801d8663b8b5168464e68f
                      (master, version 3.6; pattern/text/en/inflect.py is unchanged since
                      2017-08-24, i.e. the same as in the 3.6 release); only pattern/__init__.py,
                      pattern/helpers.py and pattern/text/ are needed
  CHAIR_PUNKT_DIR     folder with the English Punkt model as nltk's punkt_tab text files:
                      abbrev_types.txt, collocations.tab, sent_starters.txt, ortho_context.tab

Run:  CHAIR_OFFICIAL_DIR=... CHAIR_NLTK_DIR=... CHAIR_PATTERN_DIR=... CHAIR_PUNKT_DIR=... \
      /usr/bin/python3 make_reference.py      (writes expected.json next to this script)

What could not be run exactly as the authors did, and what was done instead:
- chair.py is Python 2; only Python 3.11 exists here. Its source is loaded and its `print x`
  statements are rewritten to `print(x)` (the only Python 2 syntax in it); `from misc import *`
  (which imports the Python 2 analysis modules) is replaced by a module providing `os`, the only
  name chair.py takes from it. Nothing else in chair.py is changed; `CHAIR`, `caption_to_words`,
  `get_annotations` and `compute_chair` run as written.
- nltk 3.2.5 calls inspect.formatargspec/getargspec, removed in Python 3.11: both are restored
  below from inspect.getfullargspec (used only to build decorator signatures).
- `from pattern.en import singularize`: pattern.en's package __init__ needs its WordNet data (not
  in the mirror), so a `pattern.en` module is provided that loads pattern/text/en/inflect.py, the
  file that defines singularize.
- nltk's English punkt model (tokenizers/punkt/PY3/english.pickle from nltk_data) is absent from
  the nltk_data mirror. The same model's parameters, as nltk published them in punkt_tab
  (english/abbrev_types.txt, collocations.tab, sent_starters.txt, ortho_context.tab; here copied
  from github.com/open-webui/open-webui nltk_data/tokenizers/punkt_tab/english at
  83a051190763fc198b524ee19dfbcf5e1e41182b), are loaded into nltk 3.2.5's own PunktParameters /
  PunktSentenceTokenizer, which word_tokenize then uses. ortho_context.tab must have the sha256
  pinned below (ORTHO_SHA256, the Git LFS pin of that file).

Inputs: annotations/ (the four COCO 2014 files chair.py reads; val and train category lists
disagree on purpose), captions.json (scored by compute_chair), tokens.json (texts given to
nltk.word_tokenize, singularize and caption_to_words: 13 written by hand, 120 drawn from 4,000
generated from COCO object words, plurals, Punkt abbreviations and punctuation; all 8,000 generated
texts of two such batches matched the C# code when this fixture was made; then 11 written by hand
where ortho_context.tab decides: an initial or a number with a period before one of the four types the
table lets start a sentence in lower case ("administrators", "b-week", "r-revised", "z-holiday"), and
controls: other words, abbreviations and ellipses before those types, no space after the period).
The last caption of captions.json is such a case too.

The captions are given to chair.py in its own format ({"overall": ..., "imgToEval": {...}} with
zero metrics) in a temporary folder; imgToEval keys are the caption's index, so several captions
per image are kept in input order.
"""
import collections
import hashlib
import importlib.util
import inspect
import io
import json
import os
import re
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))


def env(name):
    value = os.environ.get(name)
    if not value or not os.path.isdir(value):
        sys.exit("%s must name a folder (see the docstring); found %r" % (name, value))
    return os.path.abspath(value)


OFFICIAL = env("CHAIR_OFFICIAL_DIR")
NLTK_DIR = env("CHAIR_NLTK_DIR")
PATTERN_DIR = env("CHAIR_PATTERN_DIR")
PUNKT_DIR = env("CHAIR_PUNKT_DIR")

# nltk 3.2.5 on Python 3.11
if not hasattr(inspect, "getargspec"):
    def _getargspec(func):
        spec = inspect.getfullargspec(func)
        return spec.args, spec.varargs, spec.varkw, spec.defaults
    inspect.getargspec = _getargspec
if not hasattr(inspect, "formatargspec"):
    def _formatargspec(args, varargs=None, varkw=None, defaults=None, *unused, **unused_kw):
        parts = []
        first_default = len(args) - (len(defaults) if defaults else 0)
        for i, arg in enumerate(args):
            parts.append(str(arg) + ("=" + repr(defaults[i - first_default]) if i >= first_default else ""))
        if varargs:
            parts.append("*" + varargs)
        if varkw:
            parts.append("**" + varkw)
        return "(" + ", ".join(parts) + ")"
    inspect.formatargspec = _formatargspec

sys.path.insert(0, NLTK_DIR)
sys.path.insert(0, PATTERN_DIR)
import warnings
warnings.simplefilter("ignore")
import nltk  # noqa: E402
import nltk.tokenize  # noqa: E402
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer  # noqa: E402

assert nltk.__version__ == "3.2.5", nltk.__version__

# The English punkt model from its punkt_tab files, into nltk 3.2.5's own classes.
params = PunktParameters()
with open(os.path.join(PUNKT_DIR, "abbrev_types.txt"), encoding="utf-8") as f:
    params.abbrev_types = set(line.rstrip("\n") for line in f if line.rstrip("\n"))
with open(os.path.join(PUNKT_DIR, "collocations.tab"), encoding="utf-8") as f:
    params.collocations = set(tuple(line.rstrip("\n").split("\t")) for line in f if line.strip())
with open(os.path.join(PUNKT_DIR, "sent_starters.txt"), encoding="utf-8") as f:
    params.sent_starters = set(line.strip() for line in f if line.strip())
params.ortho_context = collections.defaultdict(int)
ORTHO_SHA256 = "4bbcca25ed3d3f06c02402abf8419b9f033b8adc06e7b482eca4e45f81a5dc4c"
ortho = os.path.join(PUNKT_DIR, "ortho_context.tab")
with open(ortho, "rb") as f:
    ortho_bytes = f.read()
if hashlib.sha256(ortho_bytes).hexdigest() != ORTHO_SHA256:
    sys.exit("%s: expected sha256 %s, found %s" % (ortho, ORTHO_SHA256, hashlib.sha256(ortho_bytes).hexdigest()))
for line in ortho_bytes.decode("utf-8").split("\n"):
    if line:
        word, flags = line.split("\t")
        params.ortho_context[word] = int(flags)
english = PunktSentenceTokenizer(params)
_load = nltk.tokenize.load
nltk.tokenize.load = lambda resource, *a, **k: english if resource == "tokenizers/punkt/english.pickle" else _load(resource, *a, **k)

# pattern.en.singularize = pattern/text/en/inflect.py's singularize
import pattern.text  # noqa: E402,F401
spec = importlib.util.spec_from_file_location("pattern_text_en_inflect", os.path.join(PATTERN_DIR, "pattern", "text", "en", "inflect.py"))
inflect = importlib.util.module_from_spec(spec)
spec.loader.exec_module(inflect)
pattern_en = types.ModuleType("pattern.en")
pattern_en.singularize = inflect.singularize
sys.modules["pattern.en"] = pattern_en
misc = types.ModuleType("misc")
misc.os = os
sys.modules["misc"] = misc

# utils/chair.py with its Python 2 print statements as calls
with open(os.path.join(OFFICIAL, "utils", "chair.py"), encoding="utf-8") as f:
    source = f.read()
source = re.sub(r"^(\s*)print (.+)$", r"\1print(\2)", source, flags=re.M)
chair = types.ModuleType("chair")
chair.__file__ = os.path.join(OFFICIAL, "utils", "chair.py")
exec(compile(source, chair.__file__, "exec"), chair.__dict__)

with open(os.path.join(HERE, "captions.json"), encoding="utf-8") as f:
    captions = json.load(f)
with open(os.path.join(HERE, "tokens.json"), encoding="utf-8") as f:
    token_cases = json.load(f)["texts"]

metric_names = ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "CIDEr", "SPICE", "ROUGE_L"]
with tempfile.TemporaryDirectory() as tmp:
    cap_file = os.path.join(tmp, "captions_official.json")
    img_to_eval = collections.OrderedDict()
    for i, c in enumerate(captions):
        entry = {"image_id": c["image_id"], "caption": c["caption"]}
        entry.update({m: 0.0 for m in metric_names})
        img_to_eval[str(i)] = entry
    with open(cap_file, "w") as f:
        json.dump({"overall": {m: 0.0 for m in metric_names}, "imgToEval": img_to_eval}, f)

    cwd = os.getcwd()
    os.chdir(OFFICIAL)  # chair.py opens data/synonyms.txt relative to the working folder
    stdout = sys.stdout
    sys.stdout = io.StringIO()  # progress lines
    try:
        _, imids, _ = chair.load_generated_captions(cap_file)
        evaluator = chair.CHAIR(imids, os.path.join(HERE, "annotations"))
        evaluator.get_annotations()
        result = evaluator.compute_chair(cap_file)
        tokenised = []
        for text in token_cases:
            words = nltk.word_tokenize(text.lower())
            tokenised.append({"text": text, "tokens": words,
                              "singular": [inflect.singularize(w) for w in words],
                              "objects": evaluator.caption_to_words(text)[1]})
    finally:
        sys.stdout = stdout
        os.chdir(cwd)

sentences = result["sentences"]
assert len(sentences) == len(captions)
expected = {
    "reference": "LisaAnne/Hallucination utils/chair.py @ 6e4d33c4bedf6dfcd24c61bf527f40714717be47 "
                 "with nltk 3.2.5 (English punkt_tab model incl. ortho_context.tab) and pattern 3.6 "
                 "(see make_reference.py)",
    "chair_s": result["overall_metrics"]["CHAIRs"],
    "chair_i": result["overall_metrics"]["CHAIRi"],
    "ground_truth": {str(k): sorted(v) for k, v in sorted(evaluator.imid_to_objects.items())},
    "captions": [
        {
            "image_id": s["image_id"],
            "caption": s["caption"],
            "words": s["words"],
            "mentioned_objects": s["mscoco_generated_words"],
            "hallucinated_objects": [node for _, node in s["mscoco_hallucinated_words"]],
            "chair_i": s["metrics"]["CHAIRi"],
        }
        for s in sentences
    ],
    "tokenisation": tokenised,
}
with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
    json.dump(expected, f, indent=1, ensure_ascii=False)
    f.write("\n")
print("chair_s %.6f chair_i %.6f over %d captions" % (expected["chair_s"], expected["chair_i"], len(sentences)))

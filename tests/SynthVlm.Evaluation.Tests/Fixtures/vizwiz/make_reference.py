"""Reference numbers for the VizWiz parity tests (VizWizBenchmarkTests), from the OFFICIAL code.

Runs, on the committed inputs in this folder:
  1. LLaVA's scripts/convert_vizwiz_for_submission.py (haotian-liu/LLaVA @ c121f0432da27facab705978f83c4ada465e46fd,
     with llava/eval/m4c_evaluator.py's EvalAIAnswerProcessor), twice:
       - on llava_test.jsonl -> submission.json (the upload, compared byte for byte);
       - on llava_val.jsonl  -> the val upload scored in step 2.
  2. The VizWiz challenge's VQA evaluation: the VizWiz-VQA Python API by Qing Li distributed by
     vizwiz.org (https://vizwiz.org/tasks-and-datasets/vqa/), files vqa.py (VQA class, __version__ 1.0,
     3,142 characters) and vqaEval.py (VQAEval with caption metrics and evaluate_unanswerability, 11,454
     characters), unmodified: VQA('val.json'), VQA(upload, use_all_ans=False), VQAEval(n=2).evaluate().
     No GitHub repository holding these two files could be identified; the copies used were taken from
     the public-code index this project's sessions use and their lengths checked against it.
     vizwiz.org is not reachable from the machines this was made on. A second public copy of vqaEval.py
     (reformatted, taking gts/res dicts, 10,008 characters) was read side by side: the same accuracy rule
     (human answers raw, the prediction normalised, leave-one-out min(1, matches/3), round(100*x, n)); it
     writes its contraction table's apostrophes as "`" where this copy has "’", and has no per-type accuracy.
and writes expected.json: the accuracy dict, evalQA per image, the answers-file lines that are not
usable, processPunctuation/processDigitArticle on single strings, and the contraction table.

Environment:
  LLAVA_DIR    a checkout of github.com/haotian-liu/LLaVA (the commit above)
  VIZWIZ_DIR   a folder holding the VizWiz API's vqa.py and vqaEval.py
Run:  LLAVA_DIR=... VIZWIZ_DIR=... /usr/bin/python3 make_reference.py

Not from the official code (said here so the reference is honest):
  - Stubs: `tqdm` (progress bar), `nltk` (only vqa.py's get_vocab uses it), `sklearn.metrics` (only
    evaluate_unanswerability) and `pycocoevalcap` (caption metrics): the stub tokenizer stops evaluate()
    right after the accuracy is set, before the caption metrics, which are not reproduced.
  - LLaVA's package __init__ imports torch; only m4c_evaluator.py is loaded, by path.
  - The converter crashes on a line that is not a JSON object with "question_id" and "text", and asserts
    that every question is answered. Unusable lines are dropped (listed in expected.json["problem_lines"])
    and, for the val run only, an empty answer is supplied for each unanswered question (SynthVlm's
    rule for missing answers; listed in expected.json["filled"]).
"""
import contextlib
import importlib.util
import io
import json
import os
import runpy
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
LLAVA = os.environ["LLAVA_DIR"]
VIZWIZ = os.environ["VIZWIZ_DIR"]


class StopAfterAccuracy(Exception):
    pass


def stub_modules():
    sys.modules.setdefault("tqdm", types.SimpleNamespace(tqdm=lambda x, *a, **k: x))
    nltk = types.ModuleType("nltk")
    nltk.__path__ = []
    tokenize = types.ModuleType("nltk.tokenize")
    tokenize.RegexpTokenizer = object
    sys.modules.update({"nltk": nltk, "nltk.tokenize": tokenize})
    sklearn = types.ModuleType("sklearn")
    sklearn.__path__ = []
    metrics = types.ModuleType("sklearn.metrics")
    metrics.average_precision_score = metrics.f1_score = None
    sys.modules.update({"sklearn": sklearn, "sklearn.metrics": metrics})

    class Tokenizer:
        def tokenize(self, *_):
            raise StopAfterAccuracy()

    for name in ("pycocoevalcap", "pycocoevalcap.tokenizer", "pycocoevalcap.tokenizer.ptbtokenizer", "pycocoevalcap.bleu",
                 "pycocoevalcap.bleu.bleu", "pycocoevalcap.meteor", "pycocoevalcap.meteor.meteor", "pycocoevalcap.rouge",
                 "pycocoevalcap.rouge.rouge", "pycocoevalcap.cider", "pycocoevalcap.cider.cider"):
        module = types.ModuleType(name)
        module.__path__ = []
        module.PTBTokenizer = Tokenizer
        module.Bleu = module.Meteor = module.Rouge = module.Cider = object
        sys.modules[name] = module
    for name in ("llava", "llava.eval"):
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module
    spec = importlib.util.spec_from_file_location("llava.eval.m4c_evaluator", os.path.join(LLAVA, "llava/eval/m4c_evaluator.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["llava.eval.m4c_evaluator"] = module
    spec.loader.exec_module(module)


def convert(answer_lines, question_file, work, name):
    result_file = os.path.join(work, name + ".jsonl")
    with open(result_file, "w", encoding="utf-8") as f:
        f.writelines(l if l.endswith("\n") else l + "\n" for l in answer_lines)
    upload = os.path.join(work, "upload", name + ".json")
    argv = sys.argv
    sys.argv = ["convert_vizwiz_for_submission.py", "--annotation-file", question_file, "--result-file", result_file,
                "--result-upload-file", upload]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(os.path.join(LLAVA, "scripts/convert_vizwiz_for_submission.py"), run_name="__main__")
    finally:
        sys.argv = argv
    return upload


CASE_STRINGS = ["Two", "2", "two.", "a dog", "dogs", "yes!", "it's", "10,000", "", "I dont know", "dont", "whats up?",
                "Unanswerable", "Coca-Cola.", "٣,٤", "1,2", "The Man's hat", "U.S.A.", "somebody'd", "wheres", "weve"]


def main():
    stub_modules()
    kept, problems = [], []
    with open(os.path.join(HERE, "answers.jsonl"), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                problems.append(number)
                continue
            qid = obj.get("question_id") if isinstance(obj, dict) else None
            if not isinstance(qid, (int, str)) or isinstance(qid, bool) or not isinstance(obj.get("text"), str):
                problems.append(number)
                continue
            kept.append(line)

    answered = {json.loads(l)["question_id"] for l in kept}
    with open(os.path.join(HERE, "llava_val.jsonl"), encoding="utf-8") as f:
        val_questions = [json.loads(l) for l in f if l.strip()]
    filled = [q["question_id"] for q in val_questions if q["question_id"] not in answered]

    sys.path.insert(0, VIZWIZ)
    from vqa import VQA
    from vqaEval import VQAEval

    with tempfile.TemporaryDirectory() as work:
        submission = convert(kept, os.path.join(HERE, "llava_test.jsonl"), work, "test")
        with open(submission, encoding="utf-8") as f, open(os.path.join(HERE, "submission.json"), "w", encoding="utf-8") as out:
            out.write(f.read())
        val_upload = convert(kept + [json.dumps({"question_id": qid, "text": ""}) for qid in filled],
                             os.path.join(HERE, "llava_val.jsonl"), work, "val")
        with contextlib.redirect_stdout(io.StringIO()):
            vqa = VQA(os.path.join(HERE, "val.json"))
            res = VQA(val_upload, use_all_ans=False)
            ev = VQAEval(vqa, res, n=2)
            try:
                ev.evaluate()
            except StopAfterAccuracy:
                pass

    expected = {
        "accuracy": ev.accuracy,
        "evalQA": ev.evalQA,
        "problem_lines": problems,
        "filled": filled,
        "normalisation": [[c, ev.processPunctuation(c), ev.processDigitArticle(ev.processPunctuation(c))] for c in CASE_STRINGS],
        "contractions": ev.contractions,
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

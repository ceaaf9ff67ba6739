"""Reference numbers for the VQAv2 parity tests (Vqav2BenchmarkTests), from the OFFICIAL code.

Runs, on the committed inputs in this folder:
  1. LLaVA's scripts/convert_vqav2_for_submission.py (haotian-liu/LLaVA @ c121f0432da27facab705978f83c4ada465e46fd)
     with its llava/eval/m4c_evaluator.py EvalAIAnswerProcessor, twice:
       - on llava_vqav2_mscoco_test2015.jsonl  -> submission.json (the upload, compared byte for byte);
       - on a question list made of the annotated val questions -> the results file scored in step 2.
  2. The VQA challenge's evaluation, GT-Vision-Lab/VQA @ a013f0043c1e2cdc995922dfe257f7149aa9af06
     (PythonHelperTools/vqaTools/vqa.py + PythonEvaluationTools/vqaEvaluation/vqaEval.py), unmodified, under
     Python 2.7 as written: VQA(annotations, questions), loadRes, VQAEval(n=2).evaluate().
and writes expected.json: the accuracy dict, evalQA per question, the answers-file lines that are not
usable, normalisation cases (EvalAI processor and vqaEval's processPunctuation/processDigitArticle on
single strings), the contraction table, and Python 2 / Python 3 round() probes.

Environment:
  LLAVA_DIR   a checkout of github.com/haotian-liu/LLaVA (the commit above)
  VQA_DIR     a checkout of github.com/GT-Vision-Lab/VQA (the commit above)
  PYTHON2     a Python 2.7 interpreter (default "python2"; with pyenv: PYENV_VERSION=2.7.18)
Run:  LLAVA_DIR=... VQA_DIR=... PYENV_VERSION=2.7.18 /usr/bin/python3 make_reference.py

Not from the official code (said here so the reference is honest):
  - LLaVA's package __init__ imports torch; only m4c_evaluator.py is loaded (by path), with `llava`,
    `llava.eval` and `tqdm` stubbed (tqdm is only a progress bar).
  - The converter crashes on a JSON line without "text" (KeyError) or that is not an object; lines that
    are not a JSON object with an integer/string "question_id" and a string "text" are dropped before it
    runs (SynthVlm reports them as problems) and listed in expected.json["problem_lines"].
"""
import importlib.util
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
LLAVA = os.environ["LLAVA_DIR"]
VQA = os.environ["VQA_DIR"]
PYTHON2 = os.environ.get("PYTHON2", "python2")
SPLIT = "llava_vqav2_mscoco_test-dev2015"
CKPT = "fixture"


def load_m4c():
    sys.modules.setdefault("tqdm", types.SimpleNamespace(tqdm=lambda x, *a, **k: x))
    for name in ("llava", "llava.eval"):
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module
    spec = importlib.util.spec_from_file_location("llava.eval.m4c_evaluator", os.path.join(LLAVA, "llava/eval/m4c_evaluator.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["llava.eval.m4c_evaluator"] = module
    spec.loader.exec_module(module)
    return module


def usable_lines(path):
    kept, problems = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                problems.append(number)
                continue
            ok = isinstance(obj, dict) and isinstance(obj.get("question_id"), (int, str)) and not isinstance(obj.get("question_id"), bool) \
                and isinstance(obj.get("text"), str)
            (kept.append(line) if ok else problems.append(number))
    return kept, problems


def convert(lines, test_split_lines):
    """Runs convert_vqav2_for_submission.py in a scratch --dir laid out as it expects; returns the upload text."""
    work = tempfile.mkdtemp()
    try:
        answers = os.path.join(work, "answers", SPLIT, CKPT)
        os.makedirs(answers)
        with open(os.path.join(answers, "merge.jsonl"), "w", encoding="utf-8") as f:
            f.writelines(l if l.endswith("\n") else l + "\n" for l in lines)
        with open(os.path.join(work, "llava_vqav2_mscoco_test2015.jsonl"), "w", encoding="utf-8") as f:
            f.writelines(test_split_lines)
        argv = sys.argv
        sys.argv = ["convert_vqav2_for_submission.py", "--dir", work, "--ckpt", CKPT, "--split", SPLIT]
        try:
            runpy.run_path(os.path.join(LLAVA, "scripts/convert_vqav2_for_submission.py"), run_name="__main__")
        finally:
            sys.argv = argv
        with open(os.path.join(work, "answers_upload", SPLIT, CKPT + ".json"), encoding="utf-8") as f:
            return f.read()
    finally:
        shutil.rmtree(work)


PY2_DRIVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1] + '/PythonHelperTools/vqaTools')
sys.path.insert(0, sys.argv[1] + '/PythonEvaluationTools')
from vqa import VQA
from vqaEvaluation.vqaEval import VQAEval
ann, ques, res, cases, out = sys.argv[2:7]
vqa = VQA(ann, ques)
vqaRes = vqa.loadRes(res, ques)
ev = VQAEval(vqa, vqaRes, n=2)
ev.evaluate()
probe = VQAEval(vqa, vqaRes, n=2)
cases = json.load(open(cases))
norm = [[c, probe.processPunctuation(c), probe.processDigitArticle(probe.processPunctuation(c))] for c in cases['strings']]
rounds = [[x, round(x, 2)] for x in cases['round_probes']]
json.dump({'accuracy': ev.accuracy, 'evalQA': dict((str(k), v) for k, v in ev.evalQA.items()),
           'vqaEval_normalisation': norm, 'py2_round': rounds, 'contractions': probe.contractions}, open(out, 'w'))
"""

CASE_STRINGS = [
    "Two", "2", "two.", "a dog", "dogs", "yes!", "it's", "its", "10,000", "10 000", "", "  spaced  out  ",
    "The dog", "The man's dog", "I dont know", "Sure, it is a cat.", "3.5.", "3.5", "12:30 PM", "stop-sign",
    "left/right", "left / right", "(stop)", "wow!", "." * 40 + "wow", "Café", "ÉCOLE", "None", "one.", "ten",
    "Yes, it is.", "no,it isn't", "1,2", "a,b", "it is 5.5 m.", "\"quoted\"", "tab\there", "new\nline",
    "somebody'd", "Im here", "shes", "hes", "yall", "whats up?", "x_y+z=w", "a@b`c", "<html>", "[1]{2}",
    "U.S.A.", "Mr. Smith", "2.", "٣,٤", "١٠", "an apple", "the the the", "zero", "none of them",
]
ROUND_PROBES = [0.125, 0.375, 0.625, 2.675, 12.125, 1.005, 99.995, 66.66666666666667, 33.333333333333336,
                0.5, 1e-10, 123456.785, 57.14285714285714, 42.857142857142854, 83.33333333333333, 16.666666666666668,
                71.42857142857143, 100.0, 0.0, 14.285714285714286, 62.5, 87.5, 0.005, 0.015, 0.025, 45.675]


def main():
    m4c = load_m4c()
    kept, problems = usable_lines(os.path.join(HERE, "answers.jsonl"))

    with open(os.path.join(HERE, "llava_vqav2_mscoco_test2015.jsonl"), encoding="utf-8") as f:
        test_lines = f.readlines()
    submission = convert(kept, test_lines)
    with open(os.path.join(HERE, "submission.json"), "w", encoding="utf-8") as f:
        f.write(submission)

    with open(os.path.join(HERE, "v2_mscoco_val2014_annotations.json"), encoding="utf-8") as f:
        annotations = json.load(f)["annotations"]
    val_split = [json.dumps({"question_id": a["question_id"], "image": "x.jpg", "text": "?"}) + "\n" for a in annotations]
    results = convert(kept, val_split)

    work = tempfile.mkdtemp()
    try:
        res_path = os.path.join(work, "results.json")
        with open(res_path, "w", encoding="utf-8") as f:
            f.write(results)
        cases_path = os.path.join(work, "cases.json")
        with open(cases_path, "w", encoding="utf-8") as f:
            json.dump({"strings": CASE_STRINGS, "round_probes": ROUND_PROBES}, f)
        out_path = os.path.join(work, "out.json")
        subprocess.run([PYTHON2, "-c", PY2_DRIVER, VQA,
                        os.path.join(HERE, "v2_mscoco_val2014_annotations.json"),
                        os.path.join(HERE, "v2_OpenEnded_mscoco_val2014_questions.json"),
                        res_path, cases_path, out_path], check=True, stdout=subprocess.DEVNULL)
        with open(out_path, encoding="utf-8") as f:
            official = json.load(f)
    finally:
        shutil.rmtree(work)

    processor = m4c.EvalAIAnswerProcessor()
    expected = {
        "accuracy": official["accuracy"],
        "evalQA": official["evalQA"],
        "problem_lines": problems,
        "vqaEval_normalisation": official["vqaEval_normalisation"],
        "evalai_normalisation": [[c, processor(c)] for c in CASE_STRINGS],
        "contractions": official["contractions"],
        "evalai_contractions": m4c.EvalAIAnswerProcessor.CONTRACTIONS,
        "py2_round": official["py2_round"],
        "py3_round": [[x, round(x, 2)] for x in ROUND_PROBES],
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

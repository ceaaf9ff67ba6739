"""Reference numbers for the GQA parity tests (GqaBenchmarkTests), from the OFFICIAL code.

Runs, on the committed inputs in this folder:
  1. LLaVA's scripts/convert_gqa_for_eval.py (haotian-liu/LLaVA @ c121f0432da27facab705978f83c4ada465e46fd)
     on answers.jsonl -> testdev_balanced_predictions.json;
  2. the GQA eval.py as LLaVA runs it (gqadataset.org's script with LLaVA's patch for the v1.2 release,
     which skips missing scene graphs and choices; the copy used is SHI-Labs/VCoder @
     4e85acef896cee7843257d5d844ec945407efb13, playground/data/eval/gqa/data/eval/eval.py), unmodified,
     as `eval.py --tier testdev_balanced` in a scratch folder holding data/testdev_balanced_questions.json
     and the predictions; once without a choices file (as LLaVA has it) and once with
     choices_testdev_balanced.json copied in as testdev_balanced_choices.json.
and writes expected.json: eval.py's `scores` after averaging (unrounded) and its printed lines, for both runs.

Environment:
  LLAVA_DIR   a checkout of github.com/haotian-liu/LLaVA (the commit above)
  GQA_EVAL    the eval.py file above
Run:  LLAVA_DIR=... GQA_EVAL=.../eval.py /usr/bin/python3 make_reference.py

Not from the official code (said here so the reference is honest):
  - `tqdm` is stubbed (a progress bar only).
  - convert_gqa_for_eval.py crashes on a line that is not JSON or has no "text"; such lines are dropped
    before it runs (SynthVlm reports them) and listed in expected.json["problem_lines"].
  - eval.py refuses to run when a balanced question has no prediction; SynthVlm scores it as the empty
    prediction, so "" is appended for such questions before eval.py runs (listed in expected.json["filled"]).
"""
import contextlib
import io
import json
import os
import runpy
import shutil
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
LLAVA = os.environ["LLAVA_DIR"]
GQA_EVAL = os.environ["GQA_EVAL"]


def run(path, argv, cwd):
    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = argv
    os.chdir(cwd)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            result = runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return result, printed.getvalue()


def plain(scores):
    out = {}
    for k, v in scores.items():
        if isinstance(v, dict):
            out[k] = {str(t): list(x) for t, x in v.items()}
        else:
            out[k] = v
    return out


def main():
    sys.modules.setdefault("tqdm", types.SimpleNamespace(tqdm=lambda x, *a, **k: x))
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

    with open(os.path.join(HERE, "data", "testdev_balanced_questions.json"), encoding="utf-8") as f:
        questions = json.load(f)

    expected = {"problem_lines": problems}
    for name, with_choices in (("without_choices", False), ("with_choices", True)):
        work = tempfile.mkdtemp()
        try:
            src = os.path.join(work, "merge.jsonl")
            with open(src, "w", encoding="utf-8") as f:
                f.writelines(kept)
            predictions_path = os.path.join(work, "testdev_balanced_predictions.json")
            run(os.path.join(LLAVA, "scripts/convert_gqa_for_eval.py"), ["convert_gqa_for_eval.py", "--src", src, "--dst", predictions_path], work)
            with open(predictions_path, encoding="utf-8") as f:
                predictions = json.load(f)
            have = {p["questionId"] for p in predictions}
            filled = [qid for qid, q in questions.items() if q["isBalanced"] and qid not in have]
            predictions += [{"questionId": qid, "prediction": ""} for qid in filled]
            with open(predictions_path, "w", encoding="utf-8") as f:
                json.dump(predictions, f)
            shutil.copy(os.path.join(HERE, "data", "testdev_balanced_questions.json"), work)
            if with_choices:
                shutil.copy(os.path.join(HERE, "choices_testdev_balanced.json"), os.path.join(work, "testdev_balanced_choices.json"))
            result, printed = run(GQA_EVAL, ["eval.py", "--tier", "testdev_balanced"], work)
            expected[name] = {"scores": plain(result["scores"]), "printed": printed.splitlines()}
            expected["filled"] = filled
        finally:
            shutil.rmtree(work)

    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

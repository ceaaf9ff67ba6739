"""Reference numbers for the TextVQA parity tests (TextVqaBenchmarkTests), from the OFFICIAL code.

Runs LLaVA's llava/eval/eval_textvqa.py (eval_single, its prompt_processor) with
llava/eval/m4c_evaluator.py's TextVQAAccuracyEvaluator and EvalAIAnswerProcessor, from
haotian-liu/LLaVA @ c121f0432da27facab705978f83c4ada465e46fd, on the committed inputs
(answers.jsonl, TextVQA_0.5.1_val.json) and writes expected.json: the accuracy as the evaluator
returns it (a fraction), the line the script prints, the sample count, each scored line's score, and
the answers-file lines SynthVlm must report as problems.

Environment:
  LLAVA_DIR   a checkout of github.com/haotian-liu/LLaVA (the commit above)
Run:  LLAVA_DIR=... /usr/bin/python3 make_reference.py

Not from the official code (said here so the reference is honest):
  - LLaVA's package __init__ imports torch; only the two eval modules are loaded (by path), with
    `llava`, `llava.eval` and `tqdm` stubbed (tqdm is only a progress bar).
  - eval_textvqa.py stops at the first line it cannot use (not JSON, no "prompt", a prompt of another
    shape -> AssertionError, no annotation for (question_id, question) -> KeyError). Those lines are
    found with the official prompt_processor and annotation keys, listed in
    expected.json["problem_lines"], and dropped before eval_single runs on the rest; SynthVlm reports
    them and scores the rest the same way.
"""
import contextlib
import importlib.util
import io
import json
import os
import re
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
LLAVA = os.environ["LLAVA_DIR"]


def load(name, relative):
    spec = importlib.util.spec_from_file_location(name, os.path.join(LLAVA, relative))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    sys.modules.setdefault("tqdm", types.SimpleNamespace(tqdm=lambda x, *a, **k: x))
    for name in ("llava", "llava.eval"):
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module
    m4c = load("llava.eval.m4c_evaluator", "llava/eval/m4c_evaluator.py")
    ev = load("llava.eval.eval_textvqa", "llava/eval/eval_textvqa.py")

    annotation_file = os.path.join(HERE, "TextVQA_0.5.1_val.json")
    annotations = json.load(open(annotation_file))["data"]
    keys = {(a["image_id"], a["question"].lower()): a for a in annotations}

    kept, problems, per_line = [], [], []
    evaluator = m4c.TextVQAAccuracyEvaluator()
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
            if not isinstance(qid, (int, str)) or isinstance(qid, bool) or not isinstance(obj.get("text"), str) \
                    or not isinstance(obj.get("prompt"), str):
                problems.append(number)
                continue
            try:
                question = ev.prompt_processor(obj["prompt"])
            except (AssertionError, AttributeError):
                problems.append(number)
                continue
            if (qid, question) not in keys:
                problems.append(number)
                continue
            kept.append(line)
            entry = {"pred_answer": obj["text"], "gt_answers": keys[(qid, question)]["answers"]}
            per_line.append([number, evaluator.eval_pred_list([entry])])

    returned = []
    original = m4c.TextVQAAccuracyEvaluator.eval_pred_list

    def recording(self, pred_list):
        value = original(self, pred_list)
        returned.append(value)
        return value

    ev.TextVQAAccuracyEvaluator.eval_pred_list = recording
    with tempfile.TemporaryDirectory() as work:
        result_file = os.path.join(work, "answers.jsonl")
        with open(result_file, "w", encoding="utf-8") as f:
            f.writelines(kept)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            ev.eval_single(annotation_file, result_file)
    text = printed.getvalue()
    samples = int(re.search(r"Samples: (\d+)", text).group(1))
    accuracy_printed = re.search(r"Accuracy: ([0-9.]+)%", text).group(1)

    expected = {
        "accuracy_fraction": returned[0],
        "accuracy_printed": accuracy_printed,
        "samples": samples,
        "problem_lines": problems,
        "line_scores": per_line,
        "prompt_questions": [[p, ev.prompt_processor(p)] for p in [
            "OCR tokens: a, b. Question: What Is It? Short answer:",
            "OCR tokens: multi\nline. Question: first\nsecond Short answer: x Short answer:",
            "Reference OCR token: X\nWhat Is It?\nAnswer the question using a single word or phrase.",
            "What Is It?\nReference OCR token: X, Y\nAnswer the question using a single word or phrase.",
            "What Is It?\nAnswer the question using a single word or phrase.",
            "What\n",
        ]],
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

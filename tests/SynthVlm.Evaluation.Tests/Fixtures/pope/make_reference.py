"""Writes expected.json for PopeBenchmarkTests by running the official POPE evaluation.

Official code (never committed here):
  * LLAVA_REPO: a checkout of https://github.com/haotian-liu/LLaVA at commit
    c121f0432da27facab705978f83c4ada465e46fd; llava/eval/eval_pope.py is run as a script
    (the way scripts/v1_5/eval/pope.sh runs it) and its printed metrics are read back.
  * LMMS_EVAL_POPE: a checkout (or a folder holding lmms_eval/tasks/pope/utils.py) of
    https://github.com/EvolvingLMMs-Lab/lmms-eval at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3 (utils.py last changed in 9596fbd7)
    (the variant "lmms-eval"); its process_results and aggregate functions are called per split,
    each split's answers paired with the annotation file's labels by position, as eval_pope.py pairs them.

Inputs (committed beside this script): llava_pope_test.jsonl, coco/coco_pope_*.json, answers.jsonl,
and parse_cases.json (answer texts: Unicode spaces, U+0130, astral characters, commas, dots, tabs),
each read by eval_pope.eval_pope (which rewrites every answer's text to "yes" or "no" in place)
and by lmms-eval's pope_process_results (its "prediction"), for "parsing" and "lmms-eval-parsing".
The official script cannot read a malformed answers line, so lines that are not JSON objects
with "question_id" and a "text" string are dropped first (SynthVlm reports them as InputProblems).

Run: LLAVA_REPO=... LMMS_EVAL_POPE=... /usr/bin/python3 make_reference.py
"""
import contextlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def usable_answers():
    rows = []
    for line in open(os.path.join(HERE, "answers.jsonl")):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("question_id"), (int, str)) and isinstance(row.get("text"), str):
            rows.append(row)
    return rows


def official(rows):
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "answers.jsonl")
        with open(result, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        out = subprocess.run(
            [sys.executable, os.path.join(os.environ["LLAVA_REPO"], "llava", "eval", "eval_pope.py"),
             "--annotation-dir", os.path.join(HERE, "coco"),
             "--question-file", os.path.join(HERE, "llava_pope_test.jsonl"),
             "--result-file", result],
            check=True, capture_output=True, text=True).stdout
    metrics = {}
    for block in out.split("Category: ")[1:]:
        split = block.split(",")[0]
        counts = block.split("TP\tFP\tTN\tFN\t\n")[1].splitlines()[0].split("\t")
        values = dict(re.findall(r"^(Accuracy|Precision|Recall|F1 score|Yes ratio): (\S+)$", block, re.M))
        metrics[split] = {
            "accuracy": float(values["Accuracy"]), "precision": float(values["Precision"]),
            "recall": float(values["Recall"]), "f1": float(values["F1 score"]),
            "yes_ratio": float(values["Yes ratio"]),
            "TP": int(counts[0]), "FP": int(counts[1]), "TN": int(counts[2]), "FN": int(counts[3]),
        }
    return metrics


def lmms_eval(rows):
    spec = importlib.util.spec_from_file_location("pope_utils", os.path.join(os.environ["LMMS_EVAL_POPE"], "lmms_eval", "tasks", "pope", "utils.py"))
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    questions = {q["question_id"]: q for q in map(json.loads, open(os.path.join(HERE, "llava_pope_test.jsonl")))}
    metrics = {}
    for file in sorted(os.listdir(os.path.join(HERE, "coco"))):
        split = file[10:-5]
        labels = [json.loads(line) for line in open(os.path.join(HERE, "coco", file))]
        answers = [r for r in rows if questions[r["question_id"]]["category"] == split]
        processed = [utils.pope_process_results({"question_id": i, "answer": label["label"]}, [answer["text"]])
                     for i, (answer, label) in enumerate(zip(answers, labels))]
        metrics[split] = {
            "accuracy": utils.pope_aggregate_accuracy([p["pope_accuracy"] for p in processed]),
            "precision": utils.pope_aggregate_precision([p["pope_precision"] for p in processed]),
            "recall": utils.pope_aggregate_recall([p["pope_recall"] for p in processed]),
            "f1": utils.pope_aggregate_f1_score([p["pope_f1_score"] for p in processed]),
            "yes_ratio": utils.pope_aggregate_yes_ratio([p["pope_yes_ratio"] for p in processed]),
        }
    return metrics


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parsing():
    cases = json.load(open(os.path.join(HERE, "parse_cases.json")))
    eval_pope = load("eval_pope", os.path.join(os.environ["LLAVA_REPO"], "llava", "eval", "eval_pope.py"))
    answers = [{"text": c} for c in cases]
    with tempfile.TemporaryDirectory() as tmp:
        labels = os.path.join(tmp, "labels.json")
        with open(labels, "w") as f:
            f.write("".join(json.dumps({"label": "yes" if i % 2 else "no"}) + "\n" for i in range(len(cases))))
        with contextlib.redirect_stdout(io.StringIO()):
            eval_pope.eval_pope(answers, labels)
    utils = load("pope_utils", os.path.join(os.environ["LMMS_EVAL_POPE"], "lmms_eval", "tasks", "pope", "utils.py"))
    lmms = [utils.pope_process_results({"question_id": 0, "answer": "yes"}, [c])["pope_accuracy"]["prediction"] for c in cases]
    return [[c, a["text"]] for c, a in zip(cases, answers)], [[c, p] for c, p in zip(cases, lmms)]


if __name__ == "__main__":
    rows = usable_answers()
    official_parsing, lmms_parsing = parsing()
    expected = {"official": official(rows), "lmms-eval": lmms_eval(rows), "parsing": official_parsing, "lmms-eval-parsing": lmms_parsing}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")

"""Writes expected_lmms_eval.json for ScienceQaLmmsEvalVariantTests by running lmms-eval's ScienceQA task code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/tasks/scienceqa/utils.py) of
    https://github.com/EvolvingLMMs-Lab/lmms-eval at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3.
    sqa_process_results is called per problem and its "exact_match" values averaged, as the
    yaml's "aggregation: mean" does (lmms_eval.api.metrics.mean: sum / len), once over the test
    split (task "scienceqa", ScienceQA-FULL) and once over its problems with an image
    ("scienceqa_img", ScienceQA-IMG); SynthVlm reports both means times 100. Every generation is
    first stripped as lmms_eval/api/task.py's Task.process_results strips it (`res.strip()`, the
    one line reproduced here). utils.py's imports it does not need here (datasets, PIL, yaml, the
    task utils) are stubbed when missing.

Inputs: the official fixture's own files beside this script (pid_splits.json, problems.json,
answers.jsonl), unchanged. lmms-eval's docs are the problems ({"choices", "answer"}); each
problem's generation is the answer found as eval_science_qa.py finds it (a dict keyed by
question_id as JSON types it, the last line winning), "" when there is none (lmms-eval always
generates). Lines that are not JSON objects with "question_id" and a "text" string are dropped
(SynthVlm reports them as InputProblems). "cases" holds [text, letter, sqa_process_results] for
extra texts (lower case, dots, Unicode capitals and spaces).

Run: LMMS_EVAL=... /usr/bin/python3 make_reference_lmms_eval.py
"""
import importlib.util
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = ["B", "b", "B.", "b.", " B ", "B\n", "B. y", "(B)", "B)", "Bx", "B .", "\u3000B.", "\u212a.", "Answer: B", "The answer is B.", "", ".", "BB", "B.B", "\U0001F600.", "\u0130.", "ba"]


def load_utils():
    for name in ["datasets", "yaml", "PIL", "PIL.Image"]:
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    spec = importlib.util.spec_from_file_location("sqa_utils", os.path.join(os.environ["LMMS_EVAL"], "lmms_eval", "tasks", "scienceqa", "utils.py"))
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    return utils


def usable_answers():
    rows = {}
    for line in open(os.path.join(HERE, "answers.jsonl")):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("question_id"), (int, str)) and isinstance(row.get("text"), str):
            rows[row["question_id"]] = row
    return rows


def mean(values):
    return sum(values) / len(values)


def main():
    utils = load_utils()
    problems = json.load(open(os.path.join(HERE, "problems.json")))
    test = json.load(open(os.path.join(HERE, "pid_splits.json")))["test"]
    answers = usable_answers()
    full, img = [], []
    for pid in dict.fromkeys(test):
        doc = problems[pid]
        generation = answers[pid]["text"] if pid in answers else ""
        results = [res.strip() if res is not None else "" for res in [generation]]
        score = utils.sqa_process_results(doc, results)["exact_match"]
        full.append(score)
        if doc.get("image") is not None:
            img.append(score)
    metrics = {
        "acc": mean(full) * 100, "correct": int(sum(full)), "count": len(full),
        "img_acc": mean(img) * 100, "img_correct": int(sum(img)), "img_count": len(img),
    }
    cases = []
    for text in CASES:
        for answer in range(3):
            doc = {"choices": ["x", "y", "z"], "answer": answer}
            cases.append([text, "ABC"[answer], utils.sqa_process_results(doc, [text.strip()])["exact_match"] == 1.0])
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump({"metrics": metrics, "cases": cases}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

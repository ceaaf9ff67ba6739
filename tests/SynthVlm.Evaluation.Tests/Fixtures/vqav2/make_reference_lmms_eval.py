"""Writes expected_lmms_eval.json for Vqav2LmmsEvalVariantTests by running lmms-eval's VQAv2 task code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/tasks/vqav2/utils.py and
    lmms_eval/tasks/_task_utils/vqa_eval_metric.py) of https://github.com/EvolvingLMMs-Lab/lmms-eval
    at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3. vqav2_process_results_val (task "vqav2_val")
    is called per annotated question on a deep copy of its annotation (it rewrites the answers in
    place) and the "exact_match" values are averaged as the yaml's "aggregation: mean" does
    (sum / len); SynthVlm reports the mean times 100 as "overall". Every generation is first
    stripped as lmms_eval/api/task.py's Task.process_results strips it (`res.strip()`, the one line
    reproduced here). vqa_eval_metric.py is loaded by path under its package name; the package
    modules (whose __init__ files import the whole framework), file_utils and loguru are stubbed.

Inputs: the official fixture's own files beside this script (v2_mscoco_val2014_annotations.json,
answers.jsonl), unchanged. lmms-eval's docs are the annotations ({"question_id", "answers": [{"answer",
"answer_confidence", "answer_id"}]}, as lmms-lab/VQAv2 has them); each question's generation is its
answer looked up by id text (the last line winning, as SynthVlm's official path does), "" when there is
none (lmms-eval always generates). Lines that are not JSON objects with an integer/string
"question_id" and a "text" string are dropped (SynthVlm reports them). "cases" holds
[text, ten human answers, accuracy] for extra questions (answer_id 1..10).

Run: LMMS_EVAL=... /usr/bin/python3 make_reference_lmms_eval.py
"""
import copy
import importlib.util
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [
    ["2", ["two"] * 10], ["two", ["2"] * 10], ["Two.", ["2"] * 10], ["a dog", ["dog"] * 10], ["Dog", ["dog"] * 10],
    ["yes!", ["yes"] * 10], ["dont", ["don't"] * 10], ["10,000", ["10000"] * 10], ["10, 000", ["10000"] * 10],
    ["what's up?", ["whats up"] * 5 + ["what's up"] * 5], ["2", ["2"] * 3 + ["3"] * 7], ["2", ["2"] * 2 + ["two"] * 2 + ["3"] * 6],
    ["  blue\n", ["blue"] * 1 + ["navy"] * 9], ["", [""] * 10], ["the", ["a"] * 10], ["\u0130", ["i\u0307"] * 10],
    ["\u039f\u0394\u039f\u03a3", ["\u03bf\u03b4\u03bf\u03c2"] * 10], ["\u039f\u0394\u039f\u03a3", ["\u03bf\u03b4\u03bf\u03c3"] * 10], ["\u0391\u03a3'\u0392", ["\u03b1\u03c3\u03b2"] * 10],
    ["\u0391\u03a3'\u0392", ["\u03b1\u03c2 \u03b2"] * 10], ["\u0391\u03a3' \u0392", ["\u03b1\u03c2 \u03b2"] * 10],
]


def load_utils():
    root = os.environ["LMMS_EVAL"]
    for name in ["lmms_eval", "lmms_eval.tasks", "lmms_eval.tasks._task_utils"]:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["lmms_eval.tasks._task_utils.file_utils"] = types.ModuleType("file_utils")
    sys.modules["lmms_eval.tasks._task_utils"].file_utils = sys.modules["lmms_eval.tasks._task_utils.file_utils"]
    try:
        import loguru  # noqa: F401
    except ImportError:
        stub = types.ModuleType("loguru")
        stub.logger = types.SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None, debug=lambda *a, **k: None)
        sys.modules["loguru"] = stub
    spec = importlib.util.spec_from_file_location("lmms_eval.tasks._task_utils.vqa_eval_metric", os.path.join(root, "lmms_eval", "tasks", "_task_utils", "vqa_eval_metric.py"))
    metric = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = metric
    spec.loader.exec_module(metric)
    spec = importlib.util.spec_from_file_location("vqav2_utils", os.path.join(root, "lmms_eval", "tasks", "vqav2", "utils.py"))
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
        if isinstance(row, dict) and isinstance(row.get("question_id"), (int, str)) and not isinstance(row.get("question_id"), bool) and isinstance(row.get("text"), str):
            rows[str(row["question_id"])] = row["text"]
    return rows


def accuracy(utils, doc, text):
    results = [res.strip() if res is not None else "" for res in [text]]
    return utils.vqav2_process_results_val(copy.deepcopy(doc), results)["exact_match"]


def main():
    utils = load_utils()
    annotations = json.load(open(os.path.join(HERE, "v2_mscoco_val2014_annotations.json")))["annotations"]
    answers = usable_answers()
    scores = [accuracy(utils, a, answers.get(str(a["question_id"]), "")) for a in annotations]
    metrics = {"overall": sum(scores) / len(scores) * 100}
    cases = []
    for text, humans in CASES:
        doc = {"question_id": 0, "answers": [{"answer": h, "answer_confidence": "yes", "answer_id": i + 1} for i, h in enumerate(humans)]}
        cases.append([text, humans, accuracy(utils, doc, text)])
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump({"metrics": metrics, "cases": cases}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

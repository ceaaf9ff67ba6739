"""Writes expected_lmms_eval.json for VizWizLmmsEvalVariantTests by running lmms-eval's VizWiz-VQA task code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/tasks/vizwiz_vqa/utils.py and
    lmms_eval/tasks/_task_utils/vqa_eval_metric.py) of https://github.com/EvolvingLMMs-Lab/lmms-eval
    at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3. vizwiz_vqa_process_results (task
    "vizwiz_vqa_val") is called per annotated image on a copy of its doc (it rewrites the answers in
    place) and the "exact_match" values are averaged as the yaml's "aggregation: mean" does
    (sum / len); SynthVlm reports the mean times 100 as "overall". Every generation is first stripped
    as lmms_eval/api/task.py's Task.process_results strips it (`res.strip()`, the one line reproduced
    here). vqa_eval_metric.py is loaded by path under its package name; the package modules (whose
    __init__ files import the whole framework), file_utils and loguru are stubbed.

Inputs: the official fixture's own files beside this script (val.json, llava_val.jsonl,
answers.jsonl), unchanged. lmms-eval's docs are the annotated images ({"question_id", "answers":
[ten answer strings]}, as lmms-lab/VizWiz-VQA has them; a repeated image keeps its first position and
its last entry, as SynthVlm's official path reads val.json); each image's generation is the answer to
the last question of llava_val.jsonl on that image (answers looked up by id text, the last line
winning; a later unanswered question on the image removes it), "" when there is none (lmms-eval always
generates). Lines that are not JSON objects with an integer/string "question_id" and a "text" string
are dropped (SynthVlm reports them). "cases" holds [text, human answers, accuracy] for extra images.

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
    ["2", ["two"] * 10], ["Unanswerable.", ["unanswerable"] * 10], ["It's a dog's toy?", ["its dog 's toy"] * 10],
    ["10,000", ["10000"] * 10], ["2", ["2"] * 3 + ["3"] * 7], ["  blue\n", ["Blue"] * 1 + ["navy"] * 9], ["", [""] * 10],
    ["\u0130", ["i\u0307"] * 10], ["\u039f\u0394\u039f\u03a3", ["\u03bf\u03b4\u03bf\u03c2"] * 10], ["x", []],
]


def load_utils():
    root = os.environ["LMMS_EVAL"]
    for name in ["lmms_eval", "lmms_eval.tasks", "lmms_eval.tasks._task_utils"]:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["lmms_eval.tasks._task_utils.file_utils"] = types.ModuleType("file_utils")
    sys.modules["lmms_eval.tasks._task_utils.file_utils"].generate_submission_file = None
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
    spec = importlib.util.spec_from_file_location("vizwiz_utils", os.path.join(root, "lmms_eval", "tasks", "vizwiz_vqa", "utils.py"))
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
    return utils.vizwiz_vqa_process_results(copy.deepcopy(doc), results)["exact_match"]


def main():
    utils = load_utils()
    annotations = {}
    for item in json.load(open(os.path.join(HERE, "val.json"))):
        annotations[item["image"]] = item
    answers = usable_answers()
    by_image = {}
    for line in open(os.path.join(HERE, "llava_val.jsonl")):
        q = json.loads(line)
        if str(q["question_id"]) in answers:
            by_image[q["image"]] = answers[str(q["question_id"])]
        else:
            by_image.pop(q["image"], None)
    scores = []
    for image, item in annotations.items():
        doc = {"question_id": image[:-4], "answers": [a["answer"] for a in item["answers"]]}
        scores.append(accuracy(utils, doc, by_image.get(image, "")))
    metrics = {"overall": sum(scores) / len(scores) * 100}
    cases = [[text, humans, accuracy(utils, {"question_id": "x", "answers": humans}, text)] for text, humans in CASES]
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump({"metrics": metrics, "cases": cases}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

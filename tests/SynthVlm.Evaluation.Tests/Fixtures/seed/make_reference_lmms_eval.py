"""Writes expected_lmms_eval.json for SeedLmmsEvalVariantTests by running lmms-eval's SEED-Bench task code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/tasks/seedbench/utils.py) of
    https://github.com/EvolvingLMMs-Lab/lmms-eval at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3.
    seed_process_result is called per question and seed_aggregation_result per metric key
    (seed_image, seed_video, seed_all), as the evaluator does; SynthVlm reports them times 100 as
    "image", "video" and "total". Every generation is first stripped as lmms_eval/api/task.py's
    Task.process_results strips it (`res.strip()`, the one line reproduced here).

Inputs: the official fixture's own files beside this script (SEED-Bench.json, answers.jsonl),
unchanged. lmms-eval's docs are the annotation's questions ({"question_id", "data_type",
"answer"}); each question's generation is the answer found as convert_seed_for_submission.py finds
it (a dict keyed by question_id as JSON types it, the last line winning, looked up by
int(question_id) where that parses), "" when there is none (lmms-eval always generates). Lines that
are not JSON objects with "question_id" and a "text" string are dropped (SynthVlm reports them).
"cases" holds [text, answer, right] for extra texts.

Run: LMMS_EVAL=... /usr/bin/python3 make_reference_lmms_eval.py
"""
import importlib.util
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [["B", "B"], ["B.", "B"], ["b", "B"], [" B", "B"], ["Because", "B"], ["(B)", "B"], ["The answer is B.", "B"], ["", "B"],
         ["B", " b "], ["\u3000B\u3000", "B"], ["\U0001F600B", "B"], ["\u0130", "i\u0307"], ["A", "B"], ["\nB\n", "B"]]


def load_utils():
    spec = importlib.util.spec_from_file_location("seed_utils", os.path.join(os.environ["LMMS_EVAL"], "lmms_eval", "tasks", "seedbench", "utils.py"))
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


def main():
    utils = load_utils()
    data = json.load(open(os.path.join(HERE, "SEED-Bench.json")))
    answers = usable_answers()
    per_metric = {}
    for q in data["questions"]:
        try:
            key = int(q["question_id"])
        except ValueError:
            key = q["question_id"]
        generation = answers[key]["text"] if key in answers else ""
        results = [res.strip() if res is not None else "" for res in [generation]]
        for metric, value in utils.seed_process_result(q, results).items():
            per_metric.setdefault(metric, []).append(value)
    names = {"seed_image": "image", "seed_video": "video", "seed_all": "total"}
    metrics = {names[m]: utils.seed_aggregation_result(values) * 100 for m, values in per_metric.items()}
    cases = []
    for text, answer in CASES:
        doc = {"answer": answer, "data_type": "image", "question_id": "x"}
        result = utils.seed_process_result(doc, [text.strip()])["seed_all"]
        cases.append([text, answer, utils.seed_aggregation_result([result]) == 1.0])
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump({"metrics": metrics, "cases": cases}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

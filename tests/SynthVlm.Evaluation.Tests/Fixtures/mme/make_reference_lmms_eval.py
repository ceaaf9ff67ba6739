"""Writes expected_lmms_eval.json for MmeLmmsEvalVariantTests by running lmms-eval's MME task code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/tasks/mme/utils.py) of
    https://github.com/EvolvingLMMs-Lab/lmms-eval at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3.
    Its mme_process_results is called per question and mme_aggregate_results per metric key, as
    lmms-eval's evaluator does; every generation is first stripped as lmms_eval/api/task.py's
    Task.process_results strips it (`res.strip()`, the one line reproduced here). loguru, which
    utils.py imports only to log, is stubbed when it is not installed.

Inputs: the official fixture's own files beside this script (llava_mme.jsonl, answers.jsonl,
MME_Benchmark_release_version/, parse_cases.json); nothing is changed there. lmms-eval reads its
docs from the lmms-lab MME dataset ({"question_id": "<subtask>/<image>", "question", "answer":
"Yes"|"No", "category"}); here each question of llava_mme.jsonl becomes such a doc, its answer the
ground truth found in the release folder as convert_answer_to_mme.py finds it (the prompt without
"Answer the question using a single word or phrase.", stripped, " Please answer yes or no."
appended, tried with two spaces when one does not match), and its generation the first usable
answers line with the same question_id and prompt ("" when there is none: lmms-eval always
generates). Malformed answers lines are dropped first (SynthVlm reports them as InputProblems).
"parsing" holds [text, parse_pred_ans(text.strip())] for every parse case and for EXTRA_CASES
(single characters and dots, which only lmms-eval's parser treats specially).

Run: LMMS_EVAL=... /usr/bin/python3 make_reference_lmms_eval.py
"""
import importlib.util
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
RELEASE = os.path.join(HERE, "MME_Benchmark_release_version")
SINGLE_WORD = "Answer the question using a single word or phrase."
YES_NO = " Please answer yes or no."
EXTRA_CASES = ["y", "n", "Y", "N", "y.", "N.", ".n.", " y ", "x", "Y es", "yy", "nn", "no.no", "\u03a3", "y\u3000", "\u0130", "ye.s", "n.o", "\U0001F600"]


def load_utils():
    try:
        import loguru  # noqa: F401
    except ImportError:
        stub = types.ModuleType("loguru")
        stub.logger = types.SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None, debug=lambda *a, **k: None)
        sys.modules["loguru"] = stub
    spec = importlib.util.spec_from_file_location("mme_utils", os.path.join(os.environ["LMMS_EVAL"], "lmms_eval", "tasks", "mme", "utils.py"))
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    return utils


def ground_truth():
    truth = {}
    for category in sorted(os.listdir(RELEASE)):
        folder = os.path.join(RELEASE, category)
        if os.path.isdir(os.path.join(folder, "images")):
            folder = os.path.join(folder, "questions_answers_YN")
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".txt"):
                continue
            for line in open(os.path.join(folder, name)):
                line = line.strip()
                if line:
                    question, answer = line.split("\t")
                    truth[(category, name, question)] = answer
    return truth


def key(truth, question_id, prompt):
    subtask = question_id.split("/")[0]
    name = question_id.split("/")[-1].split(".")[0] + ".txt"
    if SINGLE_WORD in prompt:
        prompt = prompt.replace(SINGLE_WORD, "").strip()
    if YES_NO[1:] not in prompt:
        prompt += YES_NO
        if (subtask, name, prompt) not in truth:
            prompt = prompt.replace(YES_NO, " " + YES_NO)
    return (subtask, name, prompt)


def usable_answers():
    rows = {}
    for line in open(os.path.join(HERE, "answers.jsonl")):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("question_id"), str) and isinstance(row.get("text"), str) and isinstance(row.get("prompt"), str):
            rows.setdefault((row["question_id"], row["prompt"]), row["text"])
    return rows


def main():
    utils = load_utils()
    truth = ground_truth()
    answers = usable_answers()
    per_metric = {}
    for line in open(os.path.join(HERE, "llava_mme.jsonl")):
        q = json.loads(line)
        k = key(truth, q["question_id"], q["text"])
        doc = {"question_id": q["question_id"], "question": k[2], "answer": truth[k], "category": k[0]}
        generation = answers.get((q["question_id"], q["text"]), "")
        results = [res.strip() if res is not None else "" for res in [generation]]
        for metric, value in utils.mme_process_results(doc, results).items():
            per_metric.setdefault(metric, []).append(value)
    metrics = {}
    for metric, values in per_metric.items():
        metrics[{"mme_perception_score": "perception", "mme_cognition_score": "cognition"}[metric]] = utils.mme_aggregate_results(values)
    # the per-subtask scores mme_aggregate_results computes (and logs) before summing them
    for metric, values in per_metric.items():
        for category in dict.fromkeys(v["category"] for v in values):
            metrics[category] = utils.mme_aggregate_results([v for v in values if v["category"] == category])
    cases = json.load(open(os.path.join(HERE, "parse_cases.json"))) + EXTRA_CASES
    parsing = [[c, utils.parse_pred_ans(c.strip())] for c in cases]
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump({"metrics": metrics, "parsing": parsing}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

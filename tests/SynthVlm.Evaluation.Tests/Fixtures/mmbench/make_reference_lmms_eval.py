"""Writes expected_lmms_eval.json for MmBenchLmmsEvalVariantTests by running lmms-eval's MMBench task code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/tasks/mmbench/{en_utils.py,mmbench_evals.py,mmbench.yaml})
    of https://github.com/EvolvingLMMs-Lab/lmms-eval at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3.
    en_utils.mmbench_process_results is called per doc and en_utils.mmbench_aggregate_dev_results_eval (the
    mmbench_en_dev task's metric: MMBench_Evaluator.eval_result with eval_method="openai") on the results, as
    lmms-eval's evaluator does; every generation is first stripped as lmms_eval/api/task.py strips it
    (`res.strip()`, the one line reproduced here).
    Stubs: loguru (not installed) logs nothing; time.sleep returns at once; the lmms_eval package is entered
    without its __init__ (file_utils.generate_submission_file writes into a temporary folder); the evaluator's
    _post_request (the HTTP call) answers from judge_replies_lmms_eval.json, keyed by the prediction in the
    prompt ("Answer: ...\\nYour output: "): the n-th call for a key gets the n-th reply, then the last again;
    "!error" raises (an API failure), "" is an empty reply. Every judge payload is recorded.

Inputs: the official fixture's own files beside this script (mmbench_dev_20230712.tsv, answers.jsonl), unchanged,
and judge_replies_lmms_eval.json. lmms-eval reads lmms-lab's MMBench dataset; here each TSV row (pandas,
text columns, default missing values -> NaN) is a doc, its l2-category column as "L2-category", and its
generation the last usable answer to its index (lines that are not JSON objects with question_id and a text
string are dropped first: SynthVlm reports them), "" when there is none (lmms-eval always generates).
The same results also go through en_utils.mmbench_aggregate_dev_results_static (the mmbench_en_dev_static task:
eval_method="static", lmms_eval/tasks/_task_utils/mcq_extract.py instead of the judge) -> "static_metrics";
"extract" = [text, choices, extract_mcq_answer(text, choices)] for EXTRACT_CASES. Also written: "infer" = [text, options, can_infer(text, options)] for INFER_CASES, and "draws" = the first
20 random.randint(0, 4) after random.seed(2680) (the fallback's generator).

Run: LMMS_EVAL=... /usr/bin/python3 make_reference_lmms_eval.py
"""
import importlib.util
import json
import math
import os
import random
import sys
import tempfile
import time
import types

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
TASK = os.path.join(os.environ["LMMS_EVAL"], "lmms_eval", "tasks", "mmbench")
OPTIONS = {"A": "teddy bear", "B": "rabbit", "C": "cat", "D": "dog"}
INFER_CASES = [
    "A", "E", "B.", "(C)", "D).", ":B", "A B", "A dog is here", "B is not A", "A rabbit or B maybe", "I pick B", "I pick (B) not (C)",
    "Cat", "a cute TEDDY BEAR", "cat and dog", "(a)", "a", "Failed to obtain answer via API: A", "Failed to obtain answer via API, cat",
    "The answer is C.", "C, D", "A. teddy bear", "Z", "", "B\u3000", "\u00a0C", "answer:C", "answer :C", "F", "bb", "It is a rabbit. B",
]

EXTRACT_CASES = [
    "", "   ", "B", "b", "(B)", "B.", "B:", "B)", "B is it", "The answer is C", "the answer is: (D).", "I choose A but the correct answer is B",
    "A cat", "Answer: A", "AB", "ABBA", "\"C\"", "...D...", "Option (C) or (A)", "C.D.", "BAD", "Bird", "xB", "x B", "\u00c9A",
    "\u0130the answer is B", "\u7b54\u6848\u662fC", "\u9009B", "\U0001F600 A", "E", "none", "F.", "H",
]


class OutOfReplies(BaseException):
    pass


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    out = tempfile.mkdtemp(prefix="mmbench-lmms-")
    loguru = types.ModuleType("loguru")
    loguru.logger = types.SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None, error=lambda *a, **k: None, debug=lambda *a, **k: None)
    sys.modules["loguru"] = loguru
    for name in ["lmms_eval", "lmms_eval.tasks", "lmms_eval.tasks._task_utils", "lmms_eval.tasks.mmbench"]:
        sys.modules[name] = types.ModuleType(name)
    file_utils = types.ModuleType("lmms_eval.tasks._task_utils.file_utils")
    file_utils.generate_submission_file = lambda name, args, subpath="submissions": os.path.join(out, name)
    sys.modules["lmms_eval.tasks._task_utils.file_utils"] = file_utils
    time.sleep = lambda *_: None
    mcq = load("lmms_eval.tasks._task_utils.mcq_extract", os.path.join(TASK, "..", "_task_utils", "mcq_extract.py"))
    load("lmms_eval.tasks.mmbench.mmbench_evals", os.path.join(TASK, "mmbench_evals.py"))
    en_utils = load("mmbench_en_utils", os.path.join(TASK, "en_utils.py"))
    evaluator = en_utils.mmbench_evaluator

    replies = json.load(open(os.path.join(HERE, "judge_replies_lmms_eval.json")))
    asked = {}
    payloads = []

    def post(payload):
        payloads.append(payload)
        prompt = payload["messages"][0]["content"]
        key = prompt[prompt.rindex("\nAnswer: ") + len("\nAnswer: "):-len("\nYour output: ")]
        if key not in replies:
            raise OutOfReplies(repr(key))
        n = asked.get(key, 0)
        asked[key] = n + 1
        reply = replies[key][min(n, len(replies[key]) - 1)]
        if reply == "!error":
            raise RuntimeError("stub API failure")
        return {"choices": [{"message": {"content": reply}}]}

    evaluator._post_request = post

    answers = {}
    for line in open(os.path.join(HERE, "answers.jsonl")):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "question_id" in row and isinstance(row.get("text"), str):
            answers[int(row["question_id"])] = row["text"]
    table = pd.read_csv(os.path.join(HERE, "mmbench_dev_20230712.tsv"), sep="\t", dtype=str)
    results = []
    for record in table.drop(columns=["image"]).to_dict("records"):
        doc = {("L2-category" if k == "l2-category" else k): v for k, v in record.items()}
        doc["index"] = int(doc["index"])
        generation = [res.strip() for res in [answers.get(doc["index"], "")]]
        results.append(en_utils.mmbench_process_results(doc, generation)["gpt_eval_score"])
    score = en_utils.mmbench_aggregate_dev_results_eval(results, None)
    details = json.load(open(os.path.join(out, "mmbench_en_dev_results.json")))
    calls = len(payloads)
    static_score = en_utils.mmbench_aggregate_dev_results_static(results, None)
    assert len(payloads) == calls, "the static evaluation asked the judge"
    static = json.load(open(os.path.join(out, "mmbench_en_dev_static_results.json")))

    infer = [[text, OPTIONS, evaluator.can_infer(text, dict(OPTIONS)) or None] for text in INFER_CASES]
    random.seed(2680)
    draws = [random.randint(0, 4) for _ in range(20)]
    expected = {
        "metrics": {"Overall": details["overall_acc"], "gpt_eval_score": score, "category_acc": details["category_acc"], "l2_category_acc": details["l2_category_acc"]},
        "judge_prompts": [p["messages"][0]["content"] for p in payloads],
        "judge_requests": sorted({json.dumps({k: v for k, v in p.items() if k != "messages"}, sort_keys=True) for p in payloads}),
        "infer": infer,
        "static_metrics": {"Overall": static["overall_acc"], "gpt_eval_score": static_score, "category_acc": static["category_acc"], "l2_category_acc": static["l2_category_acc"]},
        "extract": [[text, choices, mcq.extract_mcq_answer(text, choices=choices)] for text in EXTRACT_CASES for choices in (["A", "B", "C", "D"], ["A", "B"], [])],
        "draws": draws,
    }
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()

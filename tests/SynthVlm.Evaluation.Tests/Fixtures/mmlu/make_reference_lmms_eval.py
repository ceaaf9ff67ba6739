"""Writes expected_lmms_eval.json for MmluLmmsEvalVariantTests by running lmms-eval's MMLU (generative) metric code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/api/metrics.py) of
    https://github.com/EvolvingLMMs-Lab/lmms-eval at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3.
    lmms_eval/tasks/mmlu/generative/_default_template_yaml has no process_results: lmms_eval/api/task.py's
    Task.process_results strips the generation (`res.strip()`) and calls the registered metric
    "exact_match" (metrics.exact_match_hf_evaluate) with references=[the letter of doc["answer"]] and
    predictions=[stripped], no options; "aggregation: mean" averages per subject (sum / len), and the
    groups' "weight_by_size" aggregation is metrics.aggregate_subtask_metrics(subject means, subject
    sizes), computed here over all subjects as "Average accuracy" (lmms-eval's mmlu_generative names
    the metric "acc" there and so prints no group value; see MmluBenchmark's docs). The two task.py
    lines are reproduced here; exact_match_hf_evaluate and aggregate_subtask_metrics are loaded from
    metrics.py (their own text executed with numpy, re and string only; the rest of the file imports
    torch, evaluate, sacrebleu, ... and is not run). Needs numpy (/usr/bin/python3 has numpy 1.24.2).

Inputs: the official fixture's own files beside this script (data/test/*_test.csv, answers.jsonl),
unchanged. lmms-eval's docs are the test rows of each subject (subjects sorted as file names, rows
read as the official evaluate.py reads them, pandas.read_csv(path, header=None), so blank lines are
no rows; needs pandas: Debian's python3-pandas); each row's generation is the answer whose question_id is "SUBJECT/ROW"
(the last usable line winning), "" when there is none (lmms-eval always generates). A row without
an answer letter (hails/mmlu_no_train has none) counts as wrong, as in SynthVlm's official path.
Lines that are not JSON objects with a "question_id" and a "text" string are dropped (SynthVlm
reports them). "cases" holds [text, letter, exact_match] for extra texts.

Run: LMMS_EVAL=... /usr/bin/python3 make_reference_lmms_eval.py
"""
import ast
import json
import os
import re
import string

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [["A", "A"], ["a", "A"], ["A.", "A"], ["(A)", "A"], [" A\n", "A"], ["The answer is A", "A"], ["A\u0000", "A"], ["\u3000A", "A"], ["", "A"], ["B", "A"]]


def load(names):
    source = open(os.path.join(os.environ["LMMS_EVAL"], "lmms_eval", "api", "metrics.py")).read()
    nodes = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name in names]
    namespace = {"np": np, "re": re, "string": string}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), "metrics.py", "exec"), namespace)
    return [namespace[n] for n in names]


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


def main():
    exact_match, aggregate = load(["exact_match_hf_evaluate", "aggregate_subtask_metrics"])
    answers = usable_answers()
    folder = os.path.join(HERE, "data", "test")
    subjects, means, sizes = {}, [], []
    for name in sorted(os.listdir(folder)):
        subject = name[: -len("_test.csv")]
        scores = []
        table = pd.read_csv(os.path.join(folder, name), header=None)
        for i in range(len(table)):
            label = table.iloc[i, 5] if table.shape[1] > 5 else None
            if not isinstance(label, str):
                scores.append(0.0)
                continue
            result = [res.strip() if res is not None else "" for res in [answers.get(f"{subject}/{i}", "")]]
            scores.append(exact_match(references=[label], predictions=result)["exact_match"])
        subjects[subject] = float(sum(scores) / len(scores))
        means.append(subjects[subject])
        sizes.append(len(scores))
    metrics = {"Average accuracy": aggregate(means, sizes, weight_by_size=True), "subjects": subjects}
    cases = [[t, letter, bool(exact_match(references=[letter], predictions=[t.strip()])["exact_match"] == 1.0)] for t, letter in CASES]
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump({"metrics": metrics, "cases": cases}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

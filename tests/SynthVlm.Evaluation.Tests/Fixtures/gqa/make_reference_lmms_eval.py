"""Writes expected_lmms_eval.json for GqaLmmsEvalVariantTests by running lmms-eval's GQA metric code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/api/metrics.py) of
    https://github.com/EvolvingLMMs-Lab/lmms-eval at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3.
    lmms_eval/tasks/gqa/gqa.yaml has no process_results: lmms_eval/api/task.py's
    Task.process_results strips the generation (`res.strip()`) and calls the registered metric
    "exact_match" (metrics.exact_match_hf_evaluate) with references=[doc["answer"]],
    predictions=[stripped], ignore_case=True, ignore_punctuation=True; the yaml's "aggregation: mean"
    averages the per-question values (metrics.mean is sum / len). Those two lines of task.py are
    reproduced here; exact_match_hf_evaluate itself is loaded from metrics.py (its own module text is
    executed with only the imports it needs: numpy, re, string; the rest of the file, which imports
    torch, evaluate, sacrebleu, ..., is not run). Needs numpy (/usr/bin/python3 has numpy 1.24.2).

Inputs: the official fixture's own files beside this script (data/testdev_balanced_questions.json,
answers.jsonl), unchanged, and answers_lmms_eval.jsonl (answers the two definitions score
differently: leading and trailing spaces, "No!", "Dog?", "N.O.", "dog's", "out-doors", "10000" for
"10,000", a trailing NUL, U+0130, a missing answer, a malformed line, a repeated answer), scored
into "metrics" and "metrics_more". lmms-eval's docs are the balanced questions (lmms-lab GQA
testdev_balanced_instructions); each question's generation is its answer looked up by id text (the
last line winning, as SynthVlm's official path does), "" when there is none (lmms-eval always
generates). Lines that are not JSON objects with "question_id" and a "text" string are dropped.
"cases" holds [text, reference, exact_match] for extra pairs (punctuation, NUL characters, U+0130,
final sigma, Unicode punctuation that string.punctuation does not hold).

Run: LMMS_EVAL=... /usr/bin/python3 make_reference_lmms_eval.py
"""
import ast
import json
import os
import re
import string

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [
    ["Yes.", "yes"], ["yes!", "yes"], ["  Red ", "red"], ["10,000", "10000"], ["10 000", "10000"],
    ["a\u0000", "a"], ["a\u0000.", "a"], ["a\u0000b", "ab"], ["\u0130", "i"], ["\u0130x", "i\u0307"], ["\u0130x", "i\u0307x"],
    ["\u0391\u03a3", "\u03b1\u03c2"], ["\u0391\u03a3", "\u03b1\u03c3"], ["don't", "dont"], ["t-shirt", "tshirt"], ["t\u2013shirt", "tshirt"],
    ["\u00bfqu\u00e9?", "\u00bfqu\u00e9"], ["white\u3000", "white"], ["", ""], [".", ""], ["The dog.", "dog"], ["\U0001F600!", "\U0001F600"],
]


def load_exact_match():
    source = open(os.path.join(os.environ["LMMS_EVAL"], "lmms_eval", "api", "metrics.py")).read()
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "exact_match_hf_evaluate")
    namespace = {"np": np, "re": re, "string": string}
    exec(compile(ast.Module(body=[node], type_ignores=[]), "metrics.py", "exec"), namespace)
    return namespace["exact_match_hf_evaluate"]


def usable_answers(name):
    rows = {}
    for line in open(os.path.join(HERE, name)):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("question_id"), (int, str)) and isinstance(row.get("text"), str):
            rows[str(row["question_id"])] = row["text"]
    return rows


def score(exact_match, questions, answers):
    scores = []
    for qid, q in questions.items():
        if not q["isBalanced"]:
            continue
        result = [res.strip() if res is not None else "" for res in [answers.get(qid, "")]]
        scores.append(exact_match(references=[q["answer"]], predictions=result, ignore_case=True, ignore_punctuation=True)["exact_match"])
    return {"accuracy": float(sum(scores) / len(scores)) * 100, "correct": int(sum(scores)), "count": len(scores)}


def main():
    exact_match = load_exact_match()
    questions = json.load(open(os.path.join(HERE, "data", "testdev_balanced_questions.json")))
    metrics = score(exact_match, questions, usable_answers("answers.jsonl"))
    more = score(exact_match, questions, usable_answers("answers_lmms_eval.jsonl"))
    cases = [[p, r, bool(exact_match(references=[r], predictions=[p.strip()], ignore_case=True, ignore_punctuation=True)["exact_match"] == 1.0)] for p, r in CASES]
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump({"metrics": metrics, "metrics_more": more, "cases": cases}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

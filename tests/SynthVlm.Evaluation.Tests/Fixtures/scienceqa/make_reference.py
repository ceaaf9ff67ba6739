"""Writes expected.json for ScienceQaBenchmarkTests by running the official ScienceQA evaluation.

Official code (never committed here):
  * LLAVA_REPO: a checkout of https://github.com/haotian-liu/LLaVA at commit
    c121f0432da27facab705978f83c4ada465e46fd; llava/eval/eval_science_qa.py is run as a script the
    way scripts/v1_5/eval/sqa.sh runs it (--base-dir this folder, split "test"). Its result file
    gives acc, correct and count; its output file (the correct and incorrect analyses with
    is_multimodal) gives the IMG counts, and img_acc is computed from them with the expression the
    script prints (multimodal_correct / multimodal_total * 100). Each analysis's "pred" and
    "parsed_ans" are kept too, to test the letter parsing answer by answer.

Inputs (committed beside this script): pid_splits.json, problems.json (a "test" split of 28
problems and one "val" problem), llava_test_CQM-A.json, answers.jsonl (a missing answer, an integer
question_id, a repeated answer, an image problem answered with a prompt without <image>, and the
letter forms "B", "C. z", "(B)", "b", "", "E" beyond the choices, "The answer is D" without a
following character, two "The answer is" matches, " A", "B\\n", an astral character after the
letter, "The answer is Z.", "A" and an ideographic space). The official script cannot read a
malformed answers line, so lines that are not JSON objects with "question_id" and a "text"
string are dropped first (SynthVlm reports them as InputProblems).

Run: LLAVA_REPO=... /usr/bin/python3 make_reference.py
"""
import json
import os
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


def main():
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "answers.jsonl")
        with open(result, "w") as f:
            for row in usable_answers():
                f.write(json.dumps(row) + "\n")
        output_file = os.path.join(tmp, "output.json")
        output_result = os.path.join(tmp, "result.json")
        subprocess.run(
            [sys.executable, os.path.join(os.environ["LLAVA_REPO"], "llava", "eval", "eval_science_qa.py"),
             "--base-dir", HERE, "--result-file", result, "--output-file", output_file, "--output-result", output_result],
            check=True)
        sqa = json.load(open(output_result))
        outputs = json.load(open(output_file))
    img_correct = len([x for x in outputs["correct"] if x["is_multimodal"]])
    img_count = img_correct + len([x for x in outputs["incorrect"] if x["is_multimodal"]])
    expected = {
        "metrics": {
            "acc": sqa["acc"], "correct": sqa["correct"], "count": sqa["count"],
            "img_acc": img_correct / img_count * 100, "img_correct": img_correct, "img_count": img_count,
        },
        "parsed": [[x["pred"], x["parsed_ans"]] for x in outputs["correct"] + outputs["incorrect"]],
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

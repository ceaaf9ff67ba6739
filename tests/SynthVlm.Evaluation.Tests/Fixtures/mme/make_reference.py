"""Writes expected.json for MmeBenchmarkTests by running the official MME evaluation.

Official code (never committed here):
  * LLAVA_MME_CONVERT: LLaVA's convert_answer_to_mme.py, shipped in LLaVA's eval.zip as
    playground/data/eval/MME/convert_answer_to_mme.py; the copy used is the one in
    https://github.com/haotian-liu/LLaVA at commit 32cebc3809441cc40d8ac7b2855d148308741f2a
    (blob b34808c4045b480024c5f123ebbdc246bfc0c953). It is run as scripts/v1_5/eval/mme.sh runs
    it: from a folder holding MME_Benchmark_release_version/ and answers/<experiment>.jsonl.
  * MME_EVAL_TOOL: the folder holding MME's calculation.py, from eval_tool.zip on the
    Evaluation branch of https://github.com/BradyFU/Awesome-Multimodal-Large-Language-Models
    (commit dd2950902889cd614d4edf606827240166d29381, tools/eval_tool.zip). It needs scikit-learn
    (Debian's python3-sklearn 1.2.1 was used: `apt-get install python3-sklearn`).
    calculation_metrics.process_result only prints, so compute_metric is wrapped to keep each
    subtask's metric dict (acc, and acc_plus which process_result adds to it) and the printed
    subtask scores and totals are read back.

Inputs (committed beside this script): MME_Benchmark_release_version/ (ground truth for all 14
subtasks, both folder layouts, a double-space "  Please answer yes or no." line, CRLF line ends),
llava_mme.jsonl, answers.jsonl (every question answered once; the count subtask's answers out of
question order, since acc+ pairs lines in answers-file order), and parse_cases.json (answer texts:
Unicode spaces, U+0130, astral characters, ...), each read as process_result reads a line's last
field: calculate_metrics.parse_pred_ans((text + "\n").lower()), the "\n" being the line end that
readlines() leaves on it ("parsing"; texts with a tab or line break, which break the .txt format
and the official code, are left out). The official code cannot read a
malformed answers line or one without "prompt", so those are dropped first (SynthVlm reports them).

Run: LLAVA_MME_CONVERT=... MME_EVAL_TOOL=... /usr/bin/python3 make_reference.py
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
        if isinstance(row, dict) and isinstance(row.get("question_id"), str) and isinstance(row.get("text"), str) and isinstance(row.get("prompt"), str):
            rows.append(row)
    return rows


def main():
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(HERE, "MME_Benchmark_release_version"), os.path.join(tmp, "MME_Benchmark_release_version"))
        os.makedirs(os.path.join(tmp, "answers"))
        with open(os.path.join(tmp, "answers", "fixture.jsonl"), "w") as f:
            for row in usable_answers():
                f.write(json.dumps(row) + "\n")
        subprocess.run([sys.executable, os.environ["LLAVA_MME_CONVERT"], "--experiment", "fixture"], cwd=tmp, check=True)

        spec = importlib.util.spec_from_file_location("calculation", os.path.join(os.environ["MME_EVAL_TOOL"], "calculation.py"))
        calculation = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(calculation)
        cal = calculation.calculate_metrics()
        kept = []
        original = cal.compute_metric

        def compute_metric(gts, preds):
            result = original(gts, preds)
            kept.append(result)
            return result

        cal.compute_metric = compute_metric
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            cal.process_result(os.path.join(tmp, "eval_tool", "answers", "fixture"))
    text = out.getvalue()
    subtasks = [t for group in calculation.eval_type_dict.values() for t in group]
    expected = {"acc": {}, "acc_plus": {}}
    for name, result in zip(subtasks, kept):
        expected["acc"][name] = float(result["acc"])
        expected["acc_plus"][name] = float(result["acc_plus"])
    for name, score in re.findall(r"^\t (\S+)  score: (\S+)$", text, re.M):
        expected[name] = float(score)
    totals = [float(t) for t in re.findall(r"^total score: (\S+) $", text, re.M)]
    expected["perception"], expected["cognition"] = totals
    cases = [c for c in json.load(open(os.path.join(HERE, "parse_cases.json"))) if not any(x in c for x in "\t\r\n")]
    parsing = [[c, cal.parse_pred_ans((c + "\n").lower())] for c in cases]
    expected = {"metrics": expected, "parsing": parsing}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

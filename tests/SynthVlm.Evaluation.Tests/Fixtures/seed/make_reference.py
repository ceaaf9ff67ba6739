"""Writes expected.json for SeedBenchmarkTests by running the official SEED-Bench evaluation.

Official code (never committed here):
  * LLAVA_REPO: a checkout of https://github.com/haotian-liu/LLaVA at commit
    c121f0432da27facab705978f83c4ada465e46fd; scripts/convert_seed_for_submission.py is loaded as
    a module, given the annotation as its __main__ block would (the globals data and
    ques_type_id_to_name), and its eval_single is called three times as __main__ calls it (all
    questions, then eval_only_type="image" and "video"). eval_single prints its accuracies rounded
    to two decimals only, so the counts it computed (type_counts, correct_counts, total_count,
    total_correct) are read from its frame when it returns, and the accuracies are computed from
    them with the expressions it prints (correct / count * 100).

Inputs (committed beside this script): SEED-Bench.json (13 image and 4 video questions in six
question types; the id "0013", which int() reads as 13), llava-seed-bench.jsonl, answers.jsonl
(integer ids for image questions as LLaVA writes them, a string id "3" that does not match, a
repeated answer, missing answers, and the texts "A", "B.", "a", "(B)", " A", "The answer is D.",
""). The official script cannot read a malformed answers line, so lines that are not JSON objects
with "question_id" and a "text" string are dropped first (SynthVlm reports them as InputProblems).

Run: LLAVA_REPO=... /usr/bin/python3 make_reference.py
"""
import importlib.util
import json
import os
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


def run(convert, result_file, eval_only_type):
    kept = {}

    def tracer(frame, event, arg):
        if frame.f_code is convert.eval_single.__code__:
            def local(frame, event, arg):
                if event == "return":
                    kept.update(frame.f_locals)
                return local
            return local
        return None

    sys.settrace(tracer)
    try:
        convert.eval_single(result_file, eval_only_type)
    finally:
        sys.settrace(None)
    return kept


def main():
    spec = importlib.util.spec_from_file_location("convert_seed", os.path.join(os.environ["LLAVA_REPO"], "scripts", "convert_seed_for_submission.py"))
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    convert.data = json.load(open(os.path.join(HERE, "SEED-Bench.json")))
    convert.ques_type_id_to_name = {id: n for n, id in convert.data["question_type"].items()}
    with tempfile.TemporaryDirectory() as tmp:
        result_file = os.path.join(tmp, "merge.jsonl")
        with open(result_file, "w") as f:
            for row in usable_answers():
                f.write(json.dumps(row) + "\n")
        every = run(convert, result_file, None)
        image = run(convert, result_file, "image")
        video = run(convert, result_file, "video")
    expected = {
        "total": every["total_correct"] / every["total_count"] * 100,
        "image": image["total_correct"] / image["total_count"] * 100,
        "video": video["total_correct"] / video["total_count"] * 100,
        "question_types": {
            convert.ques_type_id_to_name[t]: every["correct_counts"][t] / every["type_counts"][t] * 100
            for t in sorted(every["type_counts"].keys())
        },
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

"""Writes expected_lmms_eval.json for TextVqaLmmsEvalVariantTests by running lmms-eval's TextVQA task code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/tasks/textvqa/utils.py and
    lmms_eval/tasks/_task_utils/vqa_eval_metric.py) of https://github.com/EvolvingLMMs-Lab/lmms-eval
    at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3. textvqa_process_results (task "textvqa_val")
    is called per annotation entry on a copy of its doc (it rewrites the answers in place) and the
    "exact_match" values are averaged as the yaml's "aggregation: mean" does (sum / len); SynthVlm
    reports the mean times 100 as "accuracy". Every generation is first stripped as
    lmms_eval/api/task.py's Task.process_results strips it (`res.strip()`, the one line reproduced
    here). vqa_eval_metric.py is loaded by path under its package name; the package modules (whose
    __init__ files import the whole framework), file_utils and loguru are stubbed.
  * LLAVA_DIR: a checkout of https://github.com/haotian-liu/LLaVA at commit
    c121f0432da27facab705978f83c4ada465e46fd; only llava/eval/eval_textvqa.py's prompt_processor is
    used, to pair answer lines with annotations as the official path pairs them (llava, llava.eval,
    tqdm and m4c_evaluator's import are stubbed/loaded by path as in make_reference.py).

Inputs: the official fixture's own files beside this script (TextVQA_0.5.1_val.json, answers.jsonl),
unchanged. lmms-eval's docs are the annotation entries ({"question_id", "answers": [ten strings]}, as
lmms-lab/textvqa has them); each entry's generation is the text of the last usable answer line whose
(question_id, prompt_processor(prompt)) is the entry's (image_id, question.lower()), "" when none is
(lmms-eval always generates). Unusable lines (not JSON, no "prompt"/"text", an unknown prompt shape
or pair) are dropped (SynthVlm reports them). "cases" holds [text, human answers, accuracy].

Run: LMMS_EVAL=... LLAVA_DIR=... /usr/bin/python3 make_reference_lmms_eval.py
"""
import copy
import importlib.util
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [
    ["2", ["two"] * 10], ["It's a dog's toy?", ["its dog 's toy"] * 10], ["Coca-Cola", ["coca cola"] * 5 + ["cocacola"] * 5],
    ["10,000", ["10000"] * 10], ["2", ["2"] * 3 + ["3"] * 7], ["  Blue\n", ["blue"] * 1 + ["navy"] * 9], ["", [""] * 10],
    ["\u0130", ["i\u0307"] * 10], ["\u039f\u0394\u039f\u03a3", ["\u03bf\u03b4\u03bf\u03c2"] * 10], ["stop", ["STOP"] * 4 + ["stop sign"] * 6],
]


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_utils():
    root = os.environ["LMMS_EVAL"]
    for name in ["lmms_eval", "lmms_eval.tasks", "lmms_eval.tasks._task_utils"]:
        sys.modules[name] = types.ModuleType(name)
    file_utils = types.ModuleType("file_utils")
    file_utils.generate_submission_file = None
    sys.modules["lmms_eval.tasks._task_utils.file_utils"] = file_utils
    sys.modules["lmms_eval.tasks._task_utils"].file_utils = file_utils
    try:
        import loguru  # noqa: F401
    except ImportError:
        stub = types.ModuleType("loguru")
        stub.logger = types.SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None, debug=lambda *a, **k: None)
        sys.modules["loguru"] = stub
    load("lmms_eval.tasks._task_utils.vqa_eval_metric", os.path.join(root, "lmms_eval", "tasks", "_task_utils", "vqa_eval_metric.py"))
    return load("textvqa_utils", os.path.join(root, "lmms_eval", "tasks", "textvqa", "utils.py"))


def load_prompt_processor():
    llava = os.environ["LLAVA_DIR"]
    sys.modules.setdefault("tqdm", types.SimpleNamespace(tqdm=lambda x, *a, **k: x))
    for name in ("llava", "llava.eval"):
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module
    load("llava.eval.m4c_evaluator", os.path.join(llava, "llava", "eval", "m4c_evaluator.py"))
    return load("llava.eval.eval_textvqa", os.path.join(llava, "llava", "eval", "eval_textvqa.py")).prompt_processor


def accuracy(utils, doc, text):
    results = [res.strip() if res is not None else "" for res in [text]]
    return utils.textvqa_process_results(copy.deepcopy(doc), results)["exact_match"]


def main():
    utils = load_utils()
    prompt_processor = load_prompt_processor()
    rows = json.load(open(os.path.join(HERE, "TextVQA_0.5.1_val.json")))["data"]
    keys = {(a["image_id"], a["question"].lower()) for a in rows}
    texts = {}
    for line in open(os.path.join(HERE, "answers.jsonl"), encoding="utf-8"):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        qid = obj.get("question_id") if isinstance(obj, dict) else None
        if not isinstance(qid, (int, str)) or isinstance(qid, bool) or not isinstance(obj.get("text"), str) or not isinstance(obj.get("prompt"), str):
            continue
        try:
            question = prompt_processor(obj["prompt"])
        except (AssertionError, AttributeError):
            continue
        if (qid, question) in keys:
            texts[(qid, question)] = obj["text"]
    scores = [accuracy(utils, {"question_id": i, "answers": list(a["answers"])}, texts.get((a["image_id"], a["question"].lower()), "")) for i, a in enumerate(rows)]
    metrics = {"accuracy": sum(scores) / len(scores) * 100, "samples": len(scores)}
    cases = [[text, humans, accuracy(utils, {"question_id": 0, "answers": humans}, text)] for text, humans in CASES]
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump({"metrics": metrics, "cases": cases}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

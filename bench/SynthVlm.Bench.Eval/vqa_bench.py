"""The official VQA evaluation on a results file, timed (run by SynthVlm.Bench.Eval).

Imports GT-Vision-Lab/VQA's PythonHelperTools/vqaTools/vqa.py and
PythonEvaluationTools/vqaEvaluation/vqaEval.py from VQA_DIR (the code is Python 2, as the
challenge ran it) and times what scoring a results file costs: VQA(annotations, questions),
loadRes(results), VQAEval(n=2).evaluate(). Prints one JSON line: {"seconds", "overall"}.

Usage: PYENV_VERSION=2.7.18 python vqa_bench.py VQA_DIR ANNOTATIONS QUESTIONS RESULTS
"""
import json
import os
import sys
import time

vqa_dir, annotations, questions, results = sys.argv[1:5]
sys.path.insert(0, os.path.join(vqa_dir, "PythonHelperTools", "vqaTools"))
sys.path.insert(0, os.path.join(vqa_dir, "PythonEvaluationTools", "vqaEvaluation"))
from vqa import VQA  # noqa: E402
from vqaEval import VQAEval  # noqa: E402

devnull = open(os.devnull, "w")
stdout = sys.stdout
started = time.time()
sys.stdout = devnull  # the official code prints progress
vqa = VQA(annotations, questions)
res = vqa.loadRes(results, questions)
evaluator = VQAEval(vqa, res, n=2)
evaluator.evaluate()
sys.stdout = stdout
print(json.dumps({"seconds": time.time() - started, "overall": evaluator.accuracy["overall"]}))

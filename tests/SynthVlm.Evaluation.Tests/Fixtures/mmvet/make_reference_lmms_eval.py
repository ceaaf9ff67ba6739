"""Writes expected_lmms_eval.json for MmVetLmmsEvalVariantTests by running lmms-eval's MM-Vet task code.

Official code (never committed here):
  * LMMS_EVAL: a checkout (or a folder holding lmms_eval/tasks/mmvet/{utils.py,mmvet.yaml} and
    lmms_eval/llm_judge/protocol.py) of https://github.com/EvolvingLMMs-Lab/lmms-eval at commit
    75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3.
    utils.py's mmvet_process_results (with its get_chat_response) is called per doc and
    mmvet_aggregate_results on the results, as lmms-eval's evaluator does; every generation is first
    stripped as lmms_eval/api/task.py strips it (`res.strip()`, the one line reproduced here).
    Stubs: loguru (not installed) logs nothing; time.sleep returns at once; lmms_eval.llm_judge is a
    module holding protocol.py's Request/ServerConfig/Response and a get_server whose server plays the
    OpenAI provider's part (lmms_eval/llm_judge/providers/openai.py: content.strip()) with the replies of
    lmms_eval/replies.json: per question, in call order; "!error" raises (an API failure); a call after
    the list is used up stops the script. The aggregation's capability tables, which lmms-eval only
    logs, are read by running mmvet_aggregate_results from its own source with its final
    `return overall_score` turned into `return overall_score, cap_scores, cap_details_scores` (ast).

Inputs (lmms_eval/ beside this script): mm-vet.json (the official fixture's questions plus v1_12
with capability "spatial", v1_13, and v1_14 without an answer), answers.jsonl (the official fixture's
answers plus two), replies.json. lmms-eval reads lmms-lab's MMVet dataset; here each mm-vet.json entry
is a doc {"question_id", "question", "answer", "capability": ",".join(capabilities)} in file order,
capabilities without repeats; its generation is the last answer whose id is the doc's (LLaVA's N ->
"v1_N"), "" when there is none (lmms-eval always generates).

Run: LMMS_EVAL=... /usr/bin/python3 make_reference_lmms_eval.py
"""
import ast
import importlib.util
import json
import os
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.join(HERE, "lmms_eval")
ROOT = os.environ["LMMS_EVAL"]
TASK = os.path.join(ROOT, "lmms_eval", "tasks", "mmvet", "utils.py")


class OutOfReplies(BaseException):
    pass


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    replies = json.load(open(os.path.join(INPUTS, "replies.json")))
    calls = {}
    current = {}
    protocol = load("lmms_eval_protocol", os.path.join(ROOT, "lmms_eval", "llm_judge", "protocol.py"))

    class Server:
        def evaluate(self, request):
            qid = current["id"]
            calls.setdefault(qid, []).append({"temperature": request.config.temperature, "max_tokens": request.config.max_tokens, "model": request.config.model_name, "prompt": request.messages[0]["content"]})
            queue = replies[qid]
            if not queue:
                raise OutOfReplies(qid)
            reply = queue.pop(0)
            if reply == "!error":
                raise RuntimeError("stub API failure")
            return protocol.Response(content=reply.strip(), model_used="stub")

    loguru = types.ModuleType("loguru")
    loguru.logger = types.SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None, error=lambda *a, **k: None, debug=lambda *a, **k: None)
    sys.modules["loguru"] = loguru
    judge = types.ModuleType("lmms_eval.llm_judge")
    judge.Request, judge.ServerConfig, judge.Response = protocol.Request, protocol.ServerConfig, protocol.Response
    judge.get_server = lambda server_name, config: Server()
    sys.modules.setdefault("lmms_eval", types.ModuleType("lmms_eval"))
    sys.modules["lmms_eval.llm_judge"] = judge
    time.sleep = lambda *_: None
    utils = load("mmvet_utils", TASK)

    # mmvet_aggregate_results from its own source, returning the tables it otherwise only logs.
    tree = ast.parse(open(TASK).read())
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "mmvet_aggregate_results")
    assert isinstance(func.body[-1], ast.Return) and func.body[-1].value.id == "overall_score"
    func.body[-1] = ast.parse("return overall_score, cap_scores, cap_details_scores").body[0]
    module = ast.fix_missing_locations(ast.Module(body=[func], type_ignores=[]))
    exec(compile(module, TASK, "exec"), utils.__dict__)

    meta = json.load(open(os.path.join(INPUTS, "mm-vet.json")))
    answers = {}
    for line in open(os.path.join(INPUTS, "answers.jsonl")):
        row = json.loads(line)
        qid = str(row["question_id"])
        answers["v1_" + qid if qid.isdigit() else qid] = row["text"]
    results = []
    for qid, item in meta.items():
        caps = list(dict.fromkeys(item["capability"]))
        doc = {"question_id": qid, "question": item["question"], "answer": item["answer"], "capability": ",".join(caps)}
        generation = [res.strip() for res in [answers.get(qid, "")]]
        current["id"] = qid
        results.append(utils.mmvet_process_results(doc, generation)["gpt_eval_score"])
    overall, caps, details = utils.mmvet_aggregate_results(results)
    left = {k: v for k, v in replies.items() if v}
    assert not left, f"unused replies: {left}"
    expected = {
        "total": overall,
        "capabilities": caps,
        "capability_integration": details,
        "scores": {r["question_id"]: r["score"] for r in results},
        "temperatures": {qid: [c["temperature"] for c in cs] for qid, cs in calls.items()},
        "max_tokens": sorted({c["max_tokens"] for cs in calls.values() for c in cs}),
        "prompts": {qid: cs[0]["prompt"] for qid, cs in calls.items()},
        "default_model": utils.MODEL_VERSION,
    }
    with open(os.path.join(HERE, "expected_lmms_eval.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()

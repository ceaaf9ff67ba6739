"""Reference values for the MM-Vet tests (MmVetTests.cs), computed by the official code.

Official code, run unmodified from folders named by environment variables:
  MMVET_OFFICIAL_DIR  a folder holding mm-vet_evaluator.py from https://github.com/yuweihao/MM-Vet
                      at commit acde843e02dae30047bb456ee4a8ab28dee7e0ae
  LLAVA_OFFICIAL_DIR  a checkout (or copy) of https://github.com/haotian-liu/LLaVA at commit
                      c121f0432da27facab705978f83c4ada465e46fd; scripts/convert_mmvet_for_eval.py
                      turns the answers JSONL into the results JSON the evaluator reads.

Python: Debian's /usr/bin/python3 with numpy and pandas (apt-get install python3-numpy python3-pandas).
The evaluator imports openai and tqdm; both are replaced by stubs here: the grader is a mock whose
replies come from replies.json (per question, in call order across runs), exactly as the C# test's
stub grader replays them. Nothing is downloaded.

Inputs (committed beside this script): mm-vet.json (metadata), bard_set.json (the subset variant),
answers.jsonl (LLaVA model_vqa answers), replies.json (grader replies).
What is computed:
  * "full": num_run = 2 over all questions; "bard_set": num_run = 2 with --use_sub_set.
    For each: the official per-question grades (score and recorded content per run), every grader
    call (question, temperature, max_tokens, SHA-256 of the prompt), the capability and
    capability-integration tables as export_result writes them (decimal_places = 1), and the same
    tables with the module's round() replaced by the identity (the unrounded means and std).
  * "parse_cases": for each grader reply string, the official score when that string is the first
    reply and "0.123" every later one (accepted: the string's value; rejected: 0.123 after a retry).
  * "prompt": the full text of the first grader prompt, to compare byte for byte.
Capability-integration names: the official name is "_".join(set), whose order depends on Python's
string hashing (PYTHONHASHSEED); here each name is rewritten with the capabilities in the order
rec, ocr, know, gen, spat, math, as the C# code names them.

Run:  MMVET_OFFICIAL_DIR=/work/official/mmvet LLAVA_OFFICIAL_DIR=/work/official/llava \
      /usr/bin/python3 make_reference.py        (writes expected.json beside this script)
"""
import argparse
import hashlib
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["rec", "ocr", "know", "gen", "spat", "math"]
GRADER = "gpt-4-0613"
NUM_RUN = 2
FALLBACK = "0.123"
SUFFIX = "\nPredict the correctness of the answer (digit): "
PARSE_CASES = [
    "0.5", "1", "1.0", "0", "0.0", "-0", "-0.0", "1.01", "-0.1", "1.0000000000000001",
    "nan", "NaN", "-nan", "inf", "Infinity", "-inf",
    "1e0", "1E-1", "5e-1", ".5", "5.", "+.5", "+0.5", "00.5",
    "0_5", "0.1_0", "0._1", "_0.5", "0.5_", "0__5", "1_0e-1", "0.2e0_0",
    "\uff10.\uff15", "\u0660.\u0665", "0.\u0665", "\U0001d7ce.\U0001d7d3",
    "0.5\u00a0", "\u00a00.5", "0.5\x1c", "\x1f0.5", "0.5\x85", "0.5\u2003", "\u180e0.5", "\u200b0.5", "0.5\u3000",
    "0x1", "1/2", "0.5.", "", " ", "0.5 extra", " 0.5", "\t0.5", "0.5\n0.2", "0.5\n", "0.5\r\n",
    "Score: 0.5", "0,5", "\u00bd", "0.5%", "1.0e", "e1", ".", "+", "-", "0.8 (mostly right)", "1.0\u00a0 x",
]


class RateLimitStub(Exception):
    pass


def load_official():
    openai = types.ModuleType("openai")
    openai.OpenAI = None
    exceptions = types.ModuleType("openai._exceptions")
    exceptions.RateLimitError = RateLimitStub
    tqdm = types.ModuleType("tqdm")
    tqdm.tqdm = lambda iterable: iterable
    sys.modules.update({"openai": openai, "openai._exceptions": exceptions, "tqdm": tqdm})
    path = os.path.join(os.environ["MMVET_OFFICIAL_DIR"], "mm-vet_evaluator.py")
    spec = importlib.util.spec_from_file_location("mmvet_official", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MockGrader:
    """client.chat.completions.create(...) replaying replies per question, in call order."""

    def __init__(self, lines, replies):
        self.lines = lines  # id -> "question | answer | prediction | " as the prompt embeds it
        self.queues = {k: list(v) for k, v in replies.items()}
        self.calls = []
        self.chat = types.SimpleNamespace(completions=types.SimpleNamespace(create=self.create))

    def create(self, model, max_tokens, temperature, messages):
        prompt = messages[0]["content"]
        base = prompt[:-len(SUFFIX)] if prompt.endswith(SUFFIX) else prompt
        ids = [k for k, line in self.lines.items() if base.endswith("\n" + line)]
        assert len(ids) == 1, ids
        qid = ids[0]
        if not self.queues.get(qid):
            raise RuntimeError(f"no grader reply left for {qid}")
        content = self.queues[qid].pop(0)
        self.calls.append({
            "id": qid, "model": model, "temperature": temperature, "max_tokens": max_tokens,
            "prompt_sha256": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
        })
        message = types.SimpleNamespace(content=content)
        return types.SimpleNamespace(model="mock-grader", choices=[types.SimpleNamespace(message=message)])


def canonical(name):
    caps = name.split("_")
    return "_".join(sorted(caps, key=lambda c: (ORDER.index(c) if c in ORDER else len(ORDER), c)))


def number(x):
    x = float(x)
    return "nan" if math.isnan(x) else x


def table(row, rename):
    out = {}
    for key, value in row.items():
        if key == "runs":
            # str(list(np.round(...))): "[32.9, 31.5]" (numpy 1.x) or "[np.float64(32.9), ...]" (numpy 2)
            plain = re.sub(r"np\.float64\(([^)]*)\)", r"\1", value).replace("nan", "NaN")
            out["runs"] = [number(v) for v in json.loads(plain)]
        else:
            out[canonical(key) if rename and key not in ("total", "std") else key] = number(value)
    # Column order follows Python's set iteration (PYTHONHASHSEED); sorted here so the file is stable.
    return {k: out[k] for k in sorted(out, key=lambda k: (k in ("total", "std", "runs"), k))}


def evaluate(module, mmvet_dir, results_file, replies, use_sub_set, unrounded, num_run=NUM_RUN):
    work = tempfile.mkdtemp()
    args = argparse.Namespace(
        mmvet_path=mmvet_dir, result_file=results_file, result_path=work, openai_api_key=None,
        gpt_model=GRADER, prompt=module.prompt, use_sub_set=use_sub_set, decimal_places=1, num_run=num_run)
    (sub_set, sub_set_name, data, counter, cap_set_list, cap_set_counter, len_data, df, df2,
     cap_set_names) = module.load_metadata(args)
    model = os.path.splitext(os.path.basename(results_file))[0]
    grade_file, cap_score_file, cap_int_score_file = module.get_file_names(args, model, sub_set_name)
    with open(results_file) as f:
        results = json.load(f)
    lines = {
        k: " | ".join([v["question"], v["answer"].replace("<AND>", " <AND> ").replace("<OR>", " <OR> "), results[k], ""])
        for k, v in data.items()
    }
    grader = MockGrader(lines, replies)
    # export_result reads these as module globals (the script sets them in __main__).
    module.client = grader
    module.sub_set, module.counter, module.len_data = sub_set, counter, len_data
    module.cap_set_list, module.cap_score_file, module.cap_int_score_file = cap_set_list, cap_score_file, cap_int_score_file
    grade_results = module.runs(args, grade_file, data, len_data, sub_set)
    if unrounded:
        module.round = lambda value, digits=None: value
    try:
        df, df2 = module.export_result(args, model, df, df2, grade_results, data, cap_set_counter, cap_set_names)
    finally:
        if unrounded:
            del module.round
    grades = {k: {"score": [number(s) for s in v["score"]], "content": v["content"]} for k, v in grade_results.items()}
    return grader, grades, table(df.loc[model].to_dict(), False), table(df2.loc[model].to_dict(), True)


def converted_results(work):
    results_file = os.path.join(work, "fixture_model.json")
    converter = os.path.join(os.environ["LLAVA_OFFICIAL_DIR"], "scripts", "convert_mmvet_for_eval.py")
    subprocess.run([sys.executable, converter, "--src", os.path.join(HERE, "answers.jsonl"), "--dst", results_file], check=True)
    return results_file


def run_variant(module, results_file, replies, use_sub_set):
    grader, grades, caps, ints = evaluate(module, HERE, results_file, replies, use_sub_set, unrounded=False)
    _, grades2, caps_raw, ints_raw = evaluate(module, HERE, results_file, replies, use_sub_set, unrounded=True)
    assert grades == grades2
    return {
        "grades": grades, "calls": grader.calls,
        "capabilities": caps, "capability_integration": ints,
        "unrounded": {"capabilities": caps_raw, "capability_integration": ints_raw},
    }


def parse_cases(module):
    work = tempfile.mkdtemp()
    meta = {f"p{i}": {"imagename": "x.png", "capability": ["rec"], "question": f"parse case {i}", "answer": "0.5"}
            for i in range(len(PARSE_CASES))}
    with open(os.path.join(work, "mm-vet.json"), "w") as f:
        json.dump(meta, f)
    results_file = os.path.join(work, "parse_model.json")
    with open(results_file, "w") as f:
        json.dump({k: "x" for k in meta}, f)
    replies = {f"p{i}": [case] + [FALLBACK] * 5 for i, case in enumerate(PARSE_CASES)}
    grader, grades, _, _ = evaluate(module, work, results_file, replies, False, unrounded=False, num_run=1)
    calls = {}
    for c in grader.calls:
        calls[c["id"]] = calls.get(c["id"], 0) + 1
    return [{"reply": case, "score": grades[f"p{i}"]["score"][0], "content": grades[f"p{i}"]["content"][0],
             "calls": calls[f"p{i}"]} for i, case in enumerate(PARSE_CASES)]


def main():
    module = load_official()
    with open(os.path.join(HERE, "replies.json")) as f:
        replies = json.load(f)
    work = tempfile.mkdtemp()
    results_file = converted_results(work)
    full = run_variant(module, results_file, replies, use_sub_set=False)
    bard = run_variant(module, results_file, replies, use_sub_set=True)
    with open(results_file) as f:
        results = json.load(f)
    with open(os.path.join(HERE, "mm-vet.json")) as f:
        first = next(iter(json.load(f).items()))
    first_prompt = module.prompt + "\n" + " | ".join([
        first[1]["question"], first[1]["answer"].replace("<AND>", " <AND> ").replace("<OR>", " <OR> "), results[first[0]], ""])
    assert hashlib.sha256(first_prompt.encode()).hexdigest() == full["calls"][0]["prompt_sha256"]
    expected = {
        "grader": GRADER, "num_run": NUM_RUN, "decimal_places": 1,
        "prompt": first_prompt, "retry_suffix": SUFFIX,
        "full": full, "bard_set": bard, "parse_cases": parse_cases(module),
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()

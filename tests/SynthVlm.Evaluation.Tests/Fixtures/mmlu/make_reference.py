"""Writes expected.json for MmluBenchmarkTests by running the official code on this folder's inputs.

Official code (never committed here; point the variables at checkouts):
  HENDRYCKS_TEST_ROOT  hendrycks/test at 4450500f923c49f1fb1dd3d99108a0bd9717b660
                       (evaluate_flan.py: gen_prompt/format_example, argmax over the A-D logits,
                       per-subject, per-subcategory, per-category and "Average accuracy" from
                       categories.py; its prompt code is the same as evaluate.py's)
  VLMEVALKIT_ROOT      open-compass/VLMEvalKit at e8e78f05f3080fe28154f2130321f17951c3be94
                       (vlmeval/utils/matching_util.py can_infer: reads a letter from a generated answer)

Needs Debian's python3 with numpy and pandas (apt-get install python3-pandas). evaluate_flan.main runs
unchanged with stand-ins for torch and transformers: a "model" whose logits at the token ids of
A, B, C, D are this folder's scores for the prompt it is given (softmax in float32 as torch's), and a
tokenizer that gives every prompt one token (so no shot is cropped). The script's accuracies are
printed with 3 decimals, so its module's numpy is wrapped to record each np.mean at full precision,
paired with the printed names. Two runs:
  letter_scores  the logits of letter_scores.json
  generated      answers.jsonl's answers (usable lines, last per question) read by can_infer over the
                 printed options: the read letter gets logit 1, the others 0; an answer that names no
                 option (or 'Z'), and a question with no answer, gets 0 for the others and -1 for the
                 right letter so that it counts as wrong, as SynthVlm counts it.
Also the prompts gen_prompt(dev, subject, 5) + format_example(test, i, False) of every test row.

Run: HENDRYCKS_TEST_ROOT=... VLMEVALKIT_ROOT=... /usr/bin/python3 make_reference.py
"""
import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, 'data')
LETTER_IDS = {'A': 1, 'B': 2, 'C': 3, 'D': 4}


class Ids:
    def __init__(self, text):
        self.text = text
        self.shape = (1, 1)

    def cuda(self):
        return self


class Tokenizer:
    def __call__(self, text, return_tensors=None):
        if return_tensors is None:
            return types.SimpleNamespace(input_ids=[LETTER_IDS[text]])
        return types.SimpleNamespace(input_ids=Ids(text))


class Logits:
    def __init__(self, values):
        self.values = values

    def flatten(self):
        return self.values


class Model:
    def __init__(self, scores_by_prompt):
        self.scores_by_prompt = scores_by_prompt
        self.encoder = types.SimpleNamespace(block=[0, 0])

    def parallelize(self, device_map):
        pass

    def eval(self):
        pass

    def _shift_right(self, ids):
        return ids

    def __call__(self, input_ids, decoder_input_ids):
        logits = np.zeros(5, dtype=np.float32)
        logits[1:] = np.array(self.scores_by_prompt[input_ids.text], dtype=np.float32)
        return types.SimpleNamespace(logits=Logits(logits))


class Tensor:
    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float32)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.values


def softmax(tensor, dim=0):
    z = tensor.values - tensor.values.max()
    e = np.exp(z, dtype=np.float32)
    return Tensor(e / e.sum(dtype=np.float32))


class RecordingNumpy:
    """numpy for the official module, recording every np.mean at full precision."""

    def __init__(self):
        self.means = []

    def __getattr__(self, name):
        return getattr(np, name)

    def mean(self, values, *args, **kwargs):
        value = np.mean(values, *args, **kwargs)
        self.means.append(float(value))
        return value


def load_official(root, scores_by_prompt):
    sys.modules['torch'] = types.SimpleNamespace(
        no_grad=lambda: (lambda f: f), tensor=Tensor, nn=types.SimpleNamespace(functional=types.SimpleNamespace(softmax=softmax)))
    sys.modules['transformers'] = types.SimpleNamespace(
        AutoModelForSeq2SeqLM=types.SimpleNamespace(from_pretrained=lambda name: Model(scores_by_prompt)),
        AutoTokenizer=types.SimpleNamespace(from_pretrained=lambda name: Tokenizer()))
    sys.path.insert(0, root)
    spec = importlib.util.spec_from_file_location('evaluate_flan', os.path.join(root, 'evaluate_flan.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.path.remove(root)
    return module


def run(root, scores_by_prompt):
    """evaluate_flan.main on DATA; returns the metrics with the names it prints."""
    module = load_official(root, scores_by_prompt)
    recorder = RecordingNumpy()
    module.np = recorder
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(out):
        module.main(types.SimpleNamespace(ntrain=5, ngpu=1, data_dir=DATA, save_dir=tmp, model='fixture'))
    names = [line for line in out.getvalue().splitlines() if line.startswith('Average accuracy')]
    assert len(names) == len(recorder.means), (names, recorder.means)
    # main prints each subject (in eval), then each subcategory, then each category, then the average.
    subjects = sorted(f.split('_test.csv')[0] for f in os.listdir(os.path.join(DATA, 'test')) if '_test.csv' in f)
    subcategories = list(dict.fromkeys(s for subs in module.subcategories.values() for s in subs))
    kinds = ['subjects'] * len(subjects) + ['subcategories'] * len(subcategories) + ['categories'] * len(module.categories)
    metrics = {'Average accuracy': None, 'subcategories': {}, 'categories': {}, 'subjects': {}}
    for kind, line, value in zip(kinds + ['average'], names, recorder.means):
        if kind == 'average':
            assert line.startswith('Average accuracy:')
            metrics['Average accuracy'] = value
        else:
            metrics[kind][line.split(' - ', 1)[1]] = value
    return module, metrics


def main():
    root = os.environ['HENDRYCKS_TEST_ROOT']
    vlmeval_root = os.environ['VLMEVALKIT_ROOT']
    spec = importlib.util.spec_from_file_location('matching_util', os.path.join(vlmeval_root, 'vlmeval', 'utils', 'matching_util.py'))
    sys.modules['vlmeval'] = types.ModuleType('vlmeval')
    sys.modules['vlmeval.smp'] = types.ModuleType('vlmeval.smp')
    log = types.ModuleType('vlmeval.smp.log')
    import logging
    log.get_logger = logging.getLogger
    sys.modules['vlmeval.smp.log'] = log
    matching = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(matching)

    import pandas as pd
    module = load_official(root, {})
    subjects = sorted(f.split('_test.csv')[0] for f in os.listdir(os.path.join(DATA, 'test')) if '_test.csv' in f)
    prompts, options, labels = {}, {}, {}
    for subject in subjects:
        dev_df = pd.read_csv(os.path.join(DATA, 'dev', subject + '_dev.csv'), header=None)[:5]
        test_df = pd.read_csv(os.path.join(DATA, 'test', subject + '_test.csv'), header=None)
        for i in range(test_df.shape[0]):
            qid = f'{subject}/{i}'
            prompts[qid] = module.gen_prompt(dev_df, subject, 5) + module.format_example(test_df, i, include_answer=False)
            options[qid] = {module.choices[j]: '{}'.format(test_df.iloc[i, j + 1]) for j in range(4)}
            labels[qid] = test_df.iloc[i, 5]

    with open(os.path.join(HERE, 'letter_scores.json')) as f:
        letter_scores = json.load(f)
    _, by_scores = run(root, {prompts[q]: s for q, s in letter_scores.items()})

    answers = {}
    with open(os.path.join(HERE, 'answers.jsonl'), encoding='utf-8') as f:
        for line in f:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and isinstance(item.get('text'), str) and 'question_id' in item:
                answers[str(item['question_id'])] = item['text']
    read = {}
    generated_scores = {}
    for qid in prompts:
        letter = matching.can_infer(answers[qid], dict(options[qid])) if qid in answers else False
        read[qid] = letter if letter in LETTER_IDS else None
        if read[qid]:
            generated_scores[prompts[qid]] = [1.0 if c == letter else 0.0 for c in 'ABCD']
        else:
            generated_scores[prompts[qid]] = [-1.0 if c == labels[qid] else 0.0 for c in 'ABCD']
    _, by_answers = run(root, generated_scores)

    expected = {'letter_scores': by_scores, 'generated': by_answers, 'read_letters': read, 'prompts': prompts}
    with open(os.path.join(HERE, 'expected.json'), 'w', encoding='utf-8') as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write('\n')
    print(json.dumps({'letter_scores': by_scores['Average accuracy'], 'generated': by_answers['Average accuracy']}))


if __name__ == '__main__':
    main()

"""Writes expected.json for MmBenchBenchmarkTests by running the official code on this folder's inputs.

Official code (never committed here; point the variables at checkouts):
  VLMEVALKIT_ROOT  open-compass/VLMEvalKit at e8e78f05f3080fe28154f2130321f17951c3be94
                   (vlmeval/dataset/image_mcq.py ImageMCQDataset.evaluate -> mcq_circular_eval,
                   can_infer, report_acc; exact matching, i.e. no judge)
  LLAVA_ROOT       haotian-liu/LLaVA at c121f0432da27facab705978f83c4ada465e46fd
                   (llava/eval/model_vqa_mmbench.py for the prompts, run with a recording stand-in
                   model; scripts/convert_mmbench_for_submission.py for the submission xlsx)

Needs Debian's python3 with numpy, pandas and openpyxl (apt-get install python3-pandas python3-openpyxl).
Third-party modules the official packages import but these code paths never use (validators, sty,
filelock, huggingface_hub, tabulate, tqdm, torch, transformers, shortuuid) are replaced by empty
stand-ins when missing; the vlmeval and llava packages are entered without running their
__init__.py (which import every model). The steps:
  1. LLaVA's eval_model with --single-pred-prompt, once plain (as scripts/v1_5/eval/mmbench.sh) and
     once with --all-rounds: the user message of every round is recorded (prompts / prompts_all_rounds).
  2. answers.jsonl less its unusable lines (not JSON, no "text": the official script would crash on
     them; SynthVlm reports them) goes through convert_mmbench_for_submission.py -> submission.xlsx.
  3. The prediction file VLMEvalKit evaluates: the TSV rows without the image, with the prediction
     column read back from that xlsx by pandas (as VLMEvalKit's load does).
  4. ImageMCQDataset.evaluate(model='exact_matching') on it: metrics (report_acc's columns) and the
     per-question hits from the record it writes.
  5. The same with a judge: a stand-in for build_judge's model that answers from judge_replies.json
     (by the prediction in the prompt; the n-th ask gets the n-th reply, then the last again) and
     records every prompt (judged: metrics, hits, judge_prompts). No reply list ends in a failure,
     so the official random fallback is not reached.
Debian 12's pandas is 1.5.3, whose missing-value strings lack "None" (pandas >= 2.0 has it): the
fixture's "None" option and prediction show that the 1.5 reading is what SynthVlm follows.

Run: VLMEVALKIT_ROOT=... LLAVA_ROOT=... /usr/bin/python3 make_reference.py
"""
import json
import os
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
TSV = os.path.join(HERE, 'mmbench_dev_20230712.tsv')
ANSWERS = os.path.join(HERE, 'answers.jsonl')


def stub(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def package(name, path):
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
    return module


def ensure(name, **attrs):
    try:
        __import__(name)
    except ImportError:
        stub(name, **attrs)


class FixtureJudge:
    """The judge: replies from judge_replies.json by the prediction in the prompt; records the prompts."""

    def __init__(self):
        with open(os.path.join(HERE, 'judge_replies.json'), encoding='utf-8') as f:
            self.replies = json.load(f)
        self.asked = {}
        self.prompts = []

    def working(self):
        return True

    def generate(self, prompt):
        self.prompts.append(prompt)
        prediction = prompt.rsplit('\nAnswer: ', 1)[1].rsplit('\nYour output: ', 1)[0]
        n = self.asked.get(prediction, 0)
        self.asked[prediction] = n + 1
        replies = self.replies[prediction]
        return replies[min(n, len(replies) - 1)]


def llava_prompts(root, all_rounds):
    """Runs model_vqa_mmbench.eval_model with a stand-in model that records each user message."""
    recorded = []

    class Tensor:
        def unsqueeze(self, *_):
            return self

        def cuda(self):
            return self

        def half(self):
            return self

    class Conv:
        roles = ('USER', 'ASSISTANT')

        def __init__(self):
            self.messages = []

        def copy(self):
            return Conv()

        def append_message(self, role, message):
            self.messages.append((role, message))

        def get_prompt(self):
            recorded.append(self.messages[0][1])
            return self.messages[0][1]

    class Model:
        config = types.SimpleNamespace(mm_use_im_start_end=False)

        def generate(self, *args, **kwargs):
            return [[0]]

    class Tokenizer:
        def batch_decode(self, ids, skip_special_tokens=True):
            return ['']

    class Image:
        size = (1, 1)

    class InferenceMode:
        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

    stub('torch', inference_mode=InferenceMode)
    stub('shortuuid', uuid=lambda: 'id')
    stub('tqdm', tqdm=lambda it, total=None: it)
    package('llava', os.path.join(root, 'llava'))
    package('llava.eval', os.path.join(root, 'llava', 'eval'))
    stub('llava.constants', IMAGE_TOKEN_INDEX=-200, DEFAULT_IMAGE_TOKEN='<image>',
         DEFAULT_IM_START_TOKEN='<im_start>', DEFAULT_IM_END_TOKEN='<im_end>')
    stub('llava.conversation', conv_templates={'vicuna_v1': Conv()}, SeparatorStyle=None)
    stub('llava.model', )
    stub('llava.model.builder', load_pretrained_model=lambda *a: (Tokenizer(), Model(), None, 2048))
    stub('llava.utils', disable_torch_init=lambda: None)
    stub('llava.mm_utils', tokenizer_image_token=lambda *a, **k: Tensor(), process_images=lambda *a: [Tensor()],
         load_image_from_base64=lambda s: Image(), get_model_name_from_path=lambda p: 'llava-v1.5-13b')
    ensure('PIL')
    sys.modules.pop('llava.eval.model_vqa_mmbench', None)
    import importlib
    module = importlib.import_module('llava.eval.model_vqa_mmbench')
    with tempfile.TemporaryDirectory() as tmp:
        args = types.SimpleNamespace(
            model_path='m', model_base=None, question_file=TSV, answers_file=os.path.join(tmp, 'a.jsonl'),
            conv_mode='vicuna_v1', num_chunks=1, chunk_idx=0, temperature=0, top_p=None, num_beams=1,
            all_rounds=all_rounds, single_pred_prompt=True, lang='en')
        module.eval_model(args)
        with open(args.answers_file) as f:
            written = [json.loads(line) for line in f]
    for name in [n for n in sys.modules if n == 'torch' or n == 'tqdm' or n.startswith('llava')]:
        del sys.modules[name]
    return [
        {'question_id': int(w['question_id']), 'round_id': w['round_id'], 'prompt': p.split('\n', 1)[1]}
        for w, p in zip(written, recorded)
    ]


FOUR = [['A', 'teddy bear'], ['B', 'rabbit'], ['C', 'cat'], ['D', 'dog']]
# Answers for can_infer alone: letters, option texts, and the Python string semantics it relies on.
CAN_INFER_CASES = [
    ('A', FOUR), ('(B)', FOUR), ('B.', FOUR), ('The answer is C', FOUR), ('the answer is d.', FOUR),
    ('The correct answer is **B**, not A', FOUR), ('a cute teddy bear', FOUR), ('RABBIT', FOUR), ('Z', FOUR),
    ('Cannot determine the answer', FOUR), ('(a)', FOUR), ('A or B', FOUR), ('', FOUR), ('cat or dog', FOUR),
    ('A is what I would pick after looking at the picture', FOUR), ('I would pick B then', FOUR),
    ('I pick\x1fA', FOUR), ('answer\u3000is\u00a0c', FOUR), ('anſwer iſ B, not A', FOUR), ('ANSWER IS E', FOUR),
    ('Failed to obtain answer via API: dog', FOUR), ('Sorry, I can\'t help with images of people yet. A', FOUR),
    ('nan', [['A', 'Nan'], ['B', 'apple']]), ('banana', [['A', 'an'], ['B', 'na']]),
    ('οδος', [['A', 'ΟΔΟΣ'], ['B', 'οδοσ']]), ('i\u0307stanbul', [['A', 'İstanbul'], ['B', 'Ankara']]),
    ('ab\U0001F600\U0001F600\U0001F600\U0001F600\U0001F600x', [['A', 'ab'], ['B', 'cd']]),
    ('ab\U0001F600\U0001F600\U0001F600\U0001F600\U0001F600xy', [['A', 'ab'], ['B', 'cd']]),
    ('E', [['A', 'one'], ['B', 'two'], ['C', 'three'], ['D', 'four'], ['E', 'five']]),
]


def main():
    vlmeval_root = os.environ['VLMEVALKIT_ROOT']
    llava_root = os.environ['LLAVA_ROOT']
    os.environ['PRED_FORMAT'] = 'tsv'  # VLMEvalKit's own option; its default xlsx needs xlsxwriter

    prompts = llava_prompts(llava_root, all_rounds=False)
    prompts_all = llava_prompts(llava_root, all_rounds=True)

    for name in ['validators', 'sty', 'filelock', 'huggingface_hub', 'huggingface_hub.utils',
                 'huggingface_hub.utils._cache_manager', 'tabulate', 'tqdm']:
        ensure(name)
    sys.modules['validators'].url = getattr(sys.modules['validators'], 'url', lambda s: False)
    for name, attr, value in [('sty', 'fg', None), ('filelock', 'SoftFileLock', object),
                              ('huggingface_hub.utils._cache_manager', '_scan_cached_repo', None),
                              ('tabulate', 'tabulate', None), ('tqdm', 'tqdm', None)]:
        if not hasattr(sys.modules[name], attr):
            setattr(sys.modules[name], attr, value)
    package('vlmeval', os.path.join(vlmeval_root, 'vlmeval'))
    import vlmeval.smp as smp  # noqa: E402 (real module)
    package('vlmeval.dataset', os.path.join(vlmeval_root, 'vlmeval', 'dataset'))
    utils = package('vlmeval.dataset.utils', os.path.join(vlmeval_root, 'vlmeval', 'dataset', 'utils'))
    utils.DEBUG_MESSAGE = ''
    judge = FixtureJudge()
    utils.build_judge = lambda **kwargs: judge
    if not callable(getattr(sys.modules['tqdm'], 'tqdm', None)):
        sys.modules['tqdm'].tqdm = lambda it, total=None: it
    from vlmeval.dataset.image_mcq import ImageMCQDataset
    from vlmeval.utils import can_infer
    can_infer_cases = [
        {'answer': answer, 'choices': choices, 'expected': can_infer(answer, dict(choices)) or None}
        for answer, choices in CAN_INFER_CASES
    ]

    with tempfile.TemporaryDirectory() as tmp:
        os.environ['LMUData'] = tmp
        # 2. the official convert script on the usable answers
        result_dir = os.path.join(tmp, 'answers')
        upload_dir = os.path.join(tmp, 'upload')
        os.makedirs(result_dir)
        os.makedirs(upload_dir)
        with open(ANSWERS, encoding='utf-8') as f, open(os.path.join(result_dir, 'fixture.jsonl'), 'w', encoding='utf-8') as out:
            for line in f:
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(item, dict) and isinstance(item.get('text'), str) and 'question_id' in item:
                    out.write(line)
        subprocess.run([sys.executable, os.path.join(llava_root, 'scripts', 'convert_mmbench_for_submission.py'),
                        '--annotation-file', TSV, '--result-dir', result_dir, '--upload-dir', upload_dir,
                        '--experiment', 'fixture'], check=True)
        submission = smp.load(os.path.join(upload_dir, 'fixture.xlsx'))
        import openpyxl
        sheet = openpyxl.load_workbook(os.path.join(upload_dir, 'fixture.xlsx')).active
        cells = list(sheet.iter_rows(values_only=True))
        written = {str(row[0]): row[cells[0].index('prediction')] for row in cells[1:]}

        # 3. the prediction file VLMEvalKit evaluates
        meta = smp.load(TSV)
        predictions = dict(zip(submission['index'], submission['prediction']))
        data = meta.drop(columns=['image']).copy()
        data['prediction'] = [predictions[i] for i in data['index']]
        eval_file = os.path.join(tmp, 'fixture_MMBench_DEV_EN.tsv')
        smp.dump(data, eval_file)

        # 4. the official evaluation, exact matching
        class Fixture(ImageMCQDataset):
            def load_data(self, dataset):
                return smp.load(TSV)

        dataset = Fixture('MMBench_DEV_EN')
        acc = dataset.evaluate(eval_file, model='exact_matching', nproc=1)
        record = smp.load(smp.get_intermediate_file_path(eval_file, '_exact_matching_result'))

        # 5. with the stand-in judge
        judged_acc = dataset.evaluate(eval_file, model='fixture-judge', nproc=1)
        judged_record = smp.load(smp.get_intermediate_file_path(eval_file, '_fixture-judge_result'))

    metrics = {k: float(acc[k][0]) for k in acc.columns if k != 'split'}
    expected = {
        'metrics': metrics,
        'hits': {str(k): int(v) for k, v in zip(record['index'], record['hit'])},
        'submission_predictions': {i: (p if p else None) for i, p in written.items()},
        'submission_columns': list(submission.columns),
        'judged': {
            'metrics': {k: float(judged_acc[k][0]) for k in judged_acc.columns if k != 'split'},
            'hits': {str(k): int(v) for k, v in zip(judged_record['index'], judged_record['hit'])},
            'judge_prompts': judge.prompts,
        },
        'can_infer': can_infer_cases,
        'prompts': prompts,
        'prompts_all_rounds': prompts_all,
    }
    with open(os.path.join(HERE, 'expected.json'), 'w', encoding='utf-8') as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write('\n')
    print(json.dumps(metrics, indent=1))


if __name__ == '__main__':
    main()

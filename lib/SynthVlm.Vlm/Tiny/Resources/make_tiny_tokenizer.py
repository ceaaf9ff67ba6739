#!/usr/bin/env python3
"""Trains the tiny LLaMA-style SentencePiece tokenizer embedded in SynthVlm.Vlm (tokenizer.model).

Same model type and options as the LLaMA / Vicuna tokenizer (BPE, byte fallback, split
digits, dummy prefix, identity normalisation, whitespace kept; <unk>=0, <s>=1, </s>=2,
then the 256 byte pieces <0x00>..<0xFF>), only with a 512-piece vocabulary learnt from the
project's own caption list plus the words of LLaVA's templates. Run once with Debian's
python3-sentencepiece; the output is committed, so nothing trains at build or test time:

    /usr/bin/python3 lib/SynthVlm.Vlm/Tiny/Resources/make_tiny_tokenizer.py
"""
import os
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
CAPTIONS = os.path.join(ROOT, "lib", "SynthVlm.Tokenizers", "Resources", "captions.txt")

# The words LLaVA's prompts use, so the system prompt and roles tokenize into a few pieces.
TEMPLATE_LINES = [
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    "USER: Describe the image concisely. ASSISTANT: A photo of a dog.",
    "USER: What is in the picture? ASSISTANT: There are 2 cats and 13 birds.",
    "Provide a brief description of the given image. Summarize the visual content of the image.",
]


def main() -> None:
    with open(CAPTIONS, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    lines += TEMPLATE_LINES * 20
    with tempfile.TemporaryDirectory() as tmp:
        # Relative names: the trainer records its input and prefix in the model, and a
        # temporary directory's name would make every run's bytes differ.
        os.chdir(tmp)
        corpus = "corpus.txt"
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        prefix = "tokenizer"
        spm.SentencePieceTrainer.train(
            input=corpus,
            model_prefix=prefix,
            model_type="bpe",
            vocab_size=512,
            byte_fallback=True,
            split_digits=True,
            add_dummy_prefix=True,
            remove_extra_whitespaces=False,
            allow_whitespace_only_pieces=True,
            normalization_rule_name="identity",
            character_coverage=1.0,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            num_threads=1,
            minloglevel=2,
        )
        with open(prefix + ".model", "rb") as f:
            data = f.read()
        os.chdir(HERE)
    out = os.path.join(HERE, "tokenizer.model")
    with open(out, "wb") as f:
        f.write(data)
    sp = spm.SentencePieceProcessor(model_file=out)
    print(out, len(data), "bytes, vocab", sp.get_piece_size(), sp.encode("USER: <image>\nHello 42", out_type=str))


if __name__ == "__main__":
    main()

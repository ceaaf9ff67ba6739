"""Expected outputs of Data-Juicer's caption cleaning mappers, computed by Data-Juicer's own code.

Usage (from this folder):
    DJ_SRC=/path/to/data-juicer FTFY_SRC=/path/to/python-ftfy python3 make_reference.py

DJ_SRC: a checkout of https://github.com/modelscope/data-juicer at commit
c07c2d793cd85f7d5151ddc560fe92a0b6a0ba4b. Its files data_juicer/ops/mapper/{clean_html,
clean_email, clean_links, fix_unicode, punctuation_normalization, whitespace_normalization}_mapper.py
and data_juicer/ops/common/special_characters.py are copied unmodified into a temporary package and
run as they are.

FTFY_SRC: a checkout of https://github.com/rspeer/python-ftfy at commit
74dd0452b48286a3770013b3a02755313bd5575e (ftfy 6.3.1, the library fix_unicode_mapper calls),
put on sys.path (PyPI is not reachable here). Its dependency wcwidth is used as installed.

Also needed: Python's `regex` module (clean_email/clean_links import it; 2026.5.9 was used), and
Python 3.11 (html, html.parser).

Stubbed, because they are not available here:
- Data-Juicer's base_op (OPERATORS registry, Mapper base class): a registry that records the class
  and a Mapper whose __init__ keeps text_key='text'. The mappers' process_batched is Data-Juicer's.
- data_juicer.utils.lazy_loader.LazyLoader: a plain importlib import on first attribute access.
- emoji (imported by special_characters.py for SPECIAL_CHARACTERS, which these mappers do not use):
  an empty EMOJI_DATA.
- selectolax (clean_html_mapper's C HTML5 parser): HTMLParser(html).text() is modelled as the
  concatenated text of Python's html.parser with convert_charrefs=True. This agrees with selectolax
  on well-formed markup; the inputs avoid script/style elements, unterminated tags and CR, where an
  HTML5 parser differs. So clean_html's expectations check the C# port against this model, not
  against selectolax itself.

Writes expected.json: for each mapper, the output for each input alone (mapper → id → text), and
the chain outputs of the two recipes the C# settings name (data_juicer_recipe: e-mail, links,
fix_unicode, punctuation, whitespace; all: clean_html first, then the same).
"""
import importlib
import json
import os
import shutil
import sys
import tempfile
import types
from html.parser import HTMLParser as _PyHTMLParser

HERE = os.path.dirname(os.path.abspath(__file__))
DJ_SRC = os.environ["DJ_SRC"]
FTFY_SRC = os.environ["FTFY_SRC"]
MAPPERS = [
    "clean_html_mapper",
    "clean_email_mapper",
    "clean_links_mapper",
    "fix_unicode_mapper",
    "punctuation_normalization_mapper",
    "whitespace_normalization_mapper",
]


def build_package(root):
    pkg = os.path.join(root, "data_juicer")
    os.makedirs(os.path.join(pkg, "utils"))
    os.makedirs(os.path.join(pkg, "ops", "mapper"))
    os.makedirs(os.path.join(pkg, "ops", "common"))
    for d in ["", "utils", "ops", "ops/mapper", "ops/common"]:
        open(os.path.join(pkg, d, "__init__.py"), "w").close()
    with open(os.path.join(pkg, "utils", "lazy_loader.py"), "w") as f:
        f.write(
            "import importlib\n"
            "class LazyLoader:\n"
            "    def __init__(self, name):\n"
            "        self._name = name\n"
            "    def __getattr__(self, attr):\n"
            "        return getattr(importlib.import_module(self._name), attr)\n"
        )
    with open(os.path.join(pkg, "ops", "base_op.py"), "w") as f:
        f.write(
            "class _Registry:\n"
            "    def __init__(self):\n"
            "        self.modules = {}\n"
            "    def register_module(self, name):\n"
            "        def deco(cls):\n"
            "            self.modules[name] = cls\n"
            "            return cls\n"
            "        return deco\n"
            "OPERATORS = _Registry()\n"
            "class Mapper:\n"
            "    def __init__(self, *args, **kwargs):\n"
            "        self.text_key = kwargs.get('text_key', 'text')\n"
        )
    for name in MAPPERS:
        shutil.copy(os.path.join(DJ_SRC, "data_juicer", "ops", "mapper", name + ".py"), os.path.join(pkg, "ops", "mapper"))
    shutil.copy(os.path.join(DJ_SRC, "data_juicer", "ops", "common", "special_characters.py"), os.path.join(pkg, "ops", "common"))


class _TextCollector(_PyHTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


class _SelectolaxModel:
    """selectolax.parser.HTMLParser(html).text() modelled with html.parser (see the docstring)."""

    def __init__(self, html):
        parser = _TextCollector()
        parser.feed(html)
        parser.close()
        self._text = "".join(parser.parts)

    def text(self):
        return self._text


def install_stubs():
    emoji = types.ModuleType("emoji")
    emoji.EMOJI_DATA = {}
    sys.modules["emoji"] = emoji
    selectolax = types.ModuleType("selectolax")
    parser = types.ModuleType("selectolax.parser")
    parser.HTMLParser = _SelectolaxModel
    selectolax.parser = parser
    sys.modules["selectolax"] = selectolax
    sys.modules["selectolax.parser"] = parser


def main():
    sys.path.insert(0, FTFY_SRC)
    import ftfy

    assert ftfy.__version__ == "6.3.1", ftfy.__version__
    install_stubs()
    with open(os.path.join(HERE, "inputs.json"), encoding="utf-8") as f:
        inputs = json.load(f)
    root = tempfile.mkdtemp()
    try:
        build_package(root)
        sys.path.insert(0, root)
        from data_juicer.ops.base_op import OPERATORS

        ops = {}
        for name in MAPPERS:
            importlib.import_module("data_juicer.ops.mapper." + name)
            ops[name] = OPERATORS.modules[name]()

        def apply(name, text):
            return ops[name].process_batched({"text": [text]})["text"][0]

        def chain(names, text):
            for name in names:
                text = apply(name, text)
            return text

        expected = {"mappers": {}, "chains": {}}
        for name in MAPPERS:
            expected["mappers"][name] = {case["id"]: apply(name, case["text"]) for case in inputs}
        recipe = MAPPERS[1:]
        expected["chains"]["data_juicer_recipe"] = {case["id"]: chain(recipe, case["text"]) for case in inputs}
        expected["chains"]["all"] = {case["id"]: chain(MAPPERS, case["text"]) for case in inputs}
    finally:
        shutil.rmtree(root)
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=True, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Regenerates emoji_single_codepoints.txt: the keys of emoji.EMOJI_DATA that are one code point.

Data-Juicer (data_juicer/ops/common/special_characters.py) adds every EMOJI_DATA key to
SPECIAL_CHARACTERS, but its tests are per character (`c in SPECIAL_CHARACTERS`), so only the
single-code-point keys can ever match. Data-Juicer pins emoji==2.2.0; Debian bookworm ships the
same release as python3-emoji 2.2.0-2. Without installing it:

    cd /tmp && apt-get download python3-emoji && dpkg-deb -x python3-emoji_2.2.0-2_all.deb /tmp/emoji_pkg
    PYTHONPATH=/tmp/emoji_pkg/usr/lib/python3/dist-packages /usr/bin/python3 make_emoji_codepoints.py > emoji_single_codepoints.txt
"""
import sys

import emoji

if emoji.__version__ != "2.2.0":
    sys.exit(f"expected emoji 2.2.0 (Data-Juicer's pin), found {emoji.__version__}")

codepoints = sorted({ord(k) for k in emoji.EMOJI_DATA if len(k) == 1})
print(f"# emoji {emoji.__version__}: single-code-point keys of EMOJI_DATA "
      f"({len(codepoints)} of {len(emoji.EMOJI_DATA)} keys); hex, one per line")
for cp in codepoints:
    print(f"{cp:04X}")

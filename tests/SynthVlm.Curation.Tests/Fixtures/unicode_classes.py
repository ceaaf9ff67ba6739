#!/usr/bin/python3
"""Prints Python's view of every assigned code point for the C# parity test: a first line with
unicodedata.unidata_version, then one line per assigned code point (surrogates excluded):
"CP CATEGORY ISALNUM ISSPACE S1 S2 LOWER..." with hex code points, LOWER the code points of
c.lower(), and S1/S2 whether capital sigma takes its final form in ("A" + c + "Σ").lower() and
("AΣ" + c).lower(), which probes the Cased and Case_Ignorable properties lower() consults."""
import sys
import unicodedata

out = [unicodedata.unidata_version]
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue
    c = chr(cp)
    cat = unicodedata.category(c)
    if cat == "Cn":
        continue
    low = " ".join(f"{ord(x):X}" for x in c.lower())
    s1 = int(("A" + c + "\u03a3").lower()[-1] == "\u03c2")
    s2 = int(("A\u03a3" + c).lower()[1] == "\u03c2")
    out.append(f"{cp:X} {cat} {int(c.isalnum())} {int(c.isspace())} {s1} {s2} {low}")
sys.stdout.write("\n".join(out) + "\n")

#!/usr/bin/python3
"""Make TorchSharp 0.107's libLibTorchSharp.so load where libstdc++ lacks GLIBCXX_3.4.32.

TorchSharp 0.107's native wrapper was built with GCC 13 and asks libstdc++ for version
GLIBCXX_3.4.32 for exactly one symbol, std::ios_base_library_init() (GCC 13's iostream
initialiser). Debian 12's libstdc++ (GCC 12) stops at GLIBCXX_3.4.30, so the wrapper fails to
load. GCC 12's libstdc++ initialises iostreams itself, so a no-op definition is enough:

  1. build a one-function shared library (iosinit_shim.cpp) that defines the symbol;
  2. copy libLibTorchSharp.so (never touching the NuGet cache), make the copy need the shim
     (patchelf --add-needed, rpath $ORIGIN so both are found next to each other in bin/);
  3. rewrite the copy's version need for GLIBCXX_3.4.32 to GLIBCXX_3.4.30, a version the copy
     already needs (so its name is in .dynstr) and the system library has.

Where the system libstdc++ has GLIBCXX_3.4.32 nothing is patched. Output goes to
OUT/<first 16 hex digits of the original's SHA-256>/, so a new TorchSharp package is patched
again; a second run with the same input finds its result and does nothing.

Only the Python standard library is used (Debian's /usr/bin/python3).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

MISSING_VERSION = "GLIBCXX_3.4.32"
REPLACEMENT_VERSION = "GLIBCXX_3.4.30"
SHIM_NAME = "libsynthvlm_iosinit.so"
WRAPPER_NAME = "libLibTorchSharp.so"
NOT_NEEDED_MARKER = "not-needed"
SHT_GNU_VERNEED = 0x6FFFFFFE
DEFAULT_LIBSTDCXX_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
    "/lib/x86_64-linux-gnu/libstdc++.so.6",
    "/usr/lib64/libstdc++.so.6",
    "/usr/lib/libstdc++.so.6",
)


def log(message: str) -> None:
    print(f"[torchsharp-fix] {message}", file=sys.stderr)


def needs_fix(libstdcxx_path: str) -> bool:
    """True when the libstdc++ at libstdcxx_path does not define GLIBCXX_3.4.32.

    Same test as `strings libstdc++.so.6 | grep GLIBCXX_3.4.32`: the version name appears in
    the library's version definitions exactly when the library provides it.
    """
    with open(libstdcxx_path, "rb") as f:
        return MISSING_VERSION.encode("ascii") not in f.read()


def find_system_libstdcxx() -> str:
    """Path of the libstdc++.so.6 the dynamic loader would pick (ldconfig's cache first)."""
    try:
        out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.strip().startswith("libstdc++.so.6 ") and "x86-64" in line and "=>" in line:
                return line.split("=>", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    for candidate in DEFAULT_LIBSTDCXX_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError("libstdc++.so.6 not found (ldconfig -p and the usual paths); install libstdc++6")


def elf_hash(name: bytes) -> int:
    """The System V ELF hash used in vna_hash."""
    h = 0
    for c in name:
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def rewrite_version_need(path: str, old: str, new: str) -> int:
    """Point every version need named `old` at the existing string `new` (name offset and hash).

    `new` must already be a version name in the same .gnu.version_r's string table (an ELF edit
    in place cannot grow .dynstr). Returns how many entries were rewritten. Works on 64-bit
    little-endian ELF files only, which is what the linux-x64 package ships.
    """
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
        e_shoff, = struct.unpack_from("<Q", data, 0x28)
        e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = []
        for i in range(e_shnum):
            base = e_shoff + i * e_shentsize
            sh_type, = struct.unpack_from("<I", data, base + 4)
            sh_offset, sh_size = struct.unpack_from("<QQ", data, base + 0x18)
            sh_link, sh_info = struct.unpack_from("<II", data, base + 0x28)
            sections.append((sh_type, sh_offset, sh_size, sh_link, sh_info))
        verneed = [s for s in sections if s[0] == SHT_GNU_VERNEED]
        if not verneed:
            raise ValueError(f"{path}: no .gnu.version_r section")
        _, vn_off, _, link, count = verneed[0]
        strtab_off = sections[link][1]
        strtab_size = sections[link][2]

        def name_at(offset: int) -> bytes:
            start = strtab_off + offset
            return bytes(data[start:data.index(b"\0", start)])

        def find_name(name: bytes) -> int | None:
            table = bytes(data[strtab_off:strtab_off + strtab_size])
            at = table.find(b"\0" + name + b"\0")
            return at + 1 if at >= 0 else None

        new_offset = find_name(new.encode("ascii"))
        if new_offset is None:
            raise ValueError(f"{path}: version name {new} is not in its string table")
        rewritten = 0
        entry = vn_off
        for _ in range(count):
            _, vn_cnt, _, vn_aux, vn_next = struct.unpack_from("<HHIII", data, entry)
            aux = entry + vn_aux
            for _ in range(vn_cnt):
                _, _, _, vna_name, vna_next = struct.unpack_from("<IHHII", data, aux)
                if name_at(vna_name) == old.encode("ascii"):
                    struct.pack_into("<I", data, aux, elf_hash(new.encode("ascii")))
                    struct.pack_into("<I", data, aux + 8, new_offset)
                    rewritten += 1
                if vna_next == 0:
                    break
                aux += vna_next
            if vn_next == 0:
                break
            entry += vn_next
        f.seek(0)
        f.write(data)
        return rewritten


def sha256_prefix(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def apply(wrapper: str, out_root: str, libstdcxx: str, shim_source: str) -> str:
    """Patch a copy of `wrapper` under out_root/<hash>/ when libstdcxx needs it.

    Returns "patched", "present" (already done for this input) or "not-needed".
    """
    target_dir = os.path.join(out_root, sha256_prefix(wrapper))
    if not needs_fix(libstdcxx):
        os.makedirs(target_dir, exist_ok=True)
        with open(os.path.join(target_dir, NOT_NEEDED_MARKER), "w") as f:
            f.write(f"{libstdcxx} has {MISSING_VERSION}; {wrapper} is used as shipped\n")
        return "not-needed"
    patched = os.path.join(target_dir, WRAPPER_NAME)
    if os.path.exists(patched) and os.path.exists(os.path.join(target_dir, SHIM_NAME)):
        return "present"
    for tool in ("g++", "patchelf"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: it is needed to patch {wrapper}; run `bash eng/provision.sh`")
    os.makedirs(out_root, exist_ok=True)
    # Build in a temporary folder and rename it into place, so a build that runs at the same
    # time never sees half a result.
    work = tempfile.mkdtemp(prefix=".tmp-", dir=out_root)
    os.chmod(work, 0o755)  # mkdtemp makes it private; the copies are read by anyone running the build output
    try:
        subprocess.run(["g++", "-shared", "-fPIC", "-O2", "-o", os.path.join(work, SHIM_NAME), shim_source], check=True)
        copy = os.path.join(work, WRAPPER_NAME)
        shutil.copyfile(wrapper, copy)
        subprocess.run(["patchelf", "--add-needed", SHIM_NAME, copy], check=True)
        subprocess.run(["patchelf", "--set-rpath", "$ORIGIN", copy], check=True)
        if rewrite_version_need(copy, MISSING_VERSION, REPLACEMENT_VERSION) != 1:
            raise RuntimeError(f"{wrapper}: expected exactly one {MISSING_VERSION} version need")
        try:
            os.rename(work, target_dir)
        except OSError:
            if not os.path.exists(patched):  # someone else finished first otherwise
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return "patched"


def main(argv: list[str]) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrapper", help="libLibTorchSharp.so from the TorchSharp package")
    parser.add_argument("--out", help="folder for the patched copies (one subfolder per input hash)")
    parser.add_argument("--libstdcxx", help="libstdc++.so.6 to check (default: the loader's)")
    parser.add_argument("--print-dir", action="store_true", help="print the folder holding the patched pair (nothing when not needed): for the MSBuild target")
    parser.add_argument("--check", action="store_true", help="only print whether the fix is needed (exit 0: needed, 1: not)")
    args = parser.parse_args(argv)
    libstdcxx = args.libstdcxx or find_system_libstdcxx()
    if args.check:
        needed = needs_fix(libstdcxx)
        print("needed" if needed else "not-needed")
        return 0 if needed else 1
    if not args.wrapper or not args.out:
        parser.error("--wrapper and --out are required unless --check")
    if not os.path.exists(args.wrapper):
        log(f"{args.wrapper} does not exist (restore the TorchSharp package first)")
        return 2
    result = apply(args.wrapper, args.out, libstdcxx, os.path.join(here, "iosinit_shim.cpp"))
    # With --print-dir the MSBuild target reads stdout and stderr together: print only the folder.
    report = (lambda _: None) if args.print_dir else log
    report({"patched": f"patched a copy of {args.wrapper} for {libstdcxx} (no {MISSING_VERSION}) into {args.out}",
         "present": f"patched copy for {args.wrapper} already in {args.out}; nothing to do",
         "not-needed": f"{libstdcxx} has {MISSING_VERSION}; TorchSharp is used as shipped"}[result])
    if args.print_dir and result != "not-needed":
        print(os.path.abspath(os.path.join(args.out, sha256_prefix(args.wrapper))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

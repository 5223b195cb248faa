#!/usr/bin/python3
"""draft_head_data.py - build the text inputs of the draft-head training data from Debian corpora.

Writes two NUL-separated files into OUT_DIR:
  docs.bin          documents for teacher forcing (~1.5-2k characters each)
  instructions.bin  instructions made from the corpora; the target answers them itself
Deterministic for a given --seed. Never reads the evaluation prompts (/work/shared/prompts).

Corpora (Debian packages): python3.11-doc (reST sources), jargon-text, fortunes-min, manpages.
Missing corpora are skipped with a note; at least one must exist.
"""
import argparse
import glob
import gzip
import os
import random
import re
import sys

PY_RST = "/usr/share/doc/python3.11/html/_sources"
JARGON = "/usr/share/doc/jargon-text/jargon.txt.gz"
FORTUNES = "/usr/share/games/fortunes"
MAN_DIRS = ["/usr/share/man/man1", "/usr/share/man/man2", "/usr/share/man/man3", "/usr/share/man/man5",
            "/usr/share/man/man7", "/usr/share/man/man8"]


def read_text(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        return f.read()


def paragraphs(text, lo=200, hi=1200):
    out = []
    for p in re.split(r"\n\s*\n", text):
        p = p.strip()
        if lo <= len(p) <= hi and not p.startswith((".. ", "::", "===", "---", "***")):
            out.append(p)
    return out


def chunk_docs(text, size=1800):
    docs, cur = [], ""
    for p in re.split(r"\n\s*\n", text):
        if len(cur) + len(p) > size and len(cur) > 300:
            docs.append(cur.strip())
            cur = ""
        cur += p.strip() + "\n\n"
    if len(cur) > 300:
        docs.append(cur.strip())
    return docs


def strip_roff(src):
    lines = []
    for ln in src.splitlines():
        if ln.startswith(('.\\"', "'\\\"")):
            continue
        if ln.startswith("."):
            parts = ln.split(None, 1)
            if parts[0] in (".SH", ".SS") and len(parts) > 1:
                lines.append("\n" + parts[1].strip('"') + "\n")
            elif parts[0] in (".B", ".I", ".BR", ".IR", ".RB", ".BI", ".IB") and len(parts) > 1:
                lines.append(parts[1].replace('"', ""))
            elif parts[0] in (".PP", ".P", ".LP", ".TP", ".IP"):
                lines.append("")
            continue
        lines.append(ln)
    t = "\n".join(lines)
    t = re.sub(r"\\f[BIRP]|\\f\(..|\\\(..|\\&|\\-|\\e", lambda m: "-" if m.group(0) == "\\-" else "", t)
    return t


def corpus_python(rng):
    files = sorted(glob.glob(os.path.join(PY_RST, "**", "*.txt"), recursive=True))
    text = {f: read_text(f) for f in files}
    return files, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--docs", type=int, default=2000, help="documents at most")
    ap.add_argument("--instructions", type=int, default=3000, help="instructions at most")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out_dir, exist_ok=True)
    docs, instr, found = [], [], []

    if os.path.isdir(PY_RST):
        found.append("python3.11-doc")
        files, text = corpus_python(rng)
        for f in files:
            t = text[f]
            docs.extend(chunk_docs(t))
            heads = re.findall(r"\n([^\n]{6,70})\n[=\-~^*]{6,}\n", t)
            for p in paragraphs(t, 250, 900):
                k = rng.random()
                if k < 0.35:
                    instr.append("Explain the following passage from the Python documentation in simple terms:\n\n" + p)
                elif k < 0.6:
                    instr.append("Summarize this text in two or three sentences:\n\n" + p)
                elif k < 0.75:
                    instr.append("Give a short Python example that illustrates this:\n\n" + p)
            for h in heads:
                h = h.strip().strip("`*:")
                if rng.random() < 0.5 and not h.startswith(".."):
                    instr.append(rng.choice(["What is %s in Python?", "Write a short tutorial section about %s.",
                                             "How would you explain %s to a beginner?"]) % h)
    if os.path.exists(JARGON):
        found.append("jargon-text")
        t = read_text(JARGON)
        docs.extend(chunk_docs(t))
        for term in re.findall(r"\n:([^:\n]{2,40}):", t):
            k = rng.random()
            if k < 0.3:
                instr.append("What does the hacker slang term '%s' mean?" % term.strip())
            elif k < 0.45:
                instr.append("Use the word '%s' in a short story of a few sentences." % term.strip())
    if os.path.isdir(FORTUNES):
        found.append("fortunes-min")
        for name in ("fortunes", "literature", "riddles"):
            p = os.path.join(FORTUNES, name)
            if not os.path.exists(p):
                continue
            for q in read_text(p).split("\n%\n"):
                q = q.strip()
                if 20 < len(q) < 600:
                    instr.append(rng.choice(["Explain this quote and what it means:\n\n%s",
                                             "Write a short poem inspired by this:\n\n%s",
                                             "Do you agree with this? Answer briefly.\n\n%s"]) % q)
    man_files = []
    for d in MAN_DIRS:
        man_files += sorted(glob.glob(os.path.join(d, "*.gz")))
    if man_files:
        found.append("manpages")
        rng.shuffle(man_files)
        for f in man_files[:1500]:
            try:
                t = strip_roff(read_text(f))
            except OSError:
                continue
            name = os.path.basename(f).split(".")[0]
            docs.extend(chunk_docs(t)[:2])
            if rng.random() < 0.4:
                instr.append(rng.choice(["How do I use the %s command? Give an example.", "What does %s do?",
                                         "Explain the purpose of %s in a Linux system."]) % name)

    if not docs or not instr:
        sys.exit("draft_head_data: no corpora found; install python3.11-doc jargon-text fortunes-min manpages")
    rng.shuffle(docs)
    rng.shuffle(instr)
    docs = [d for d in docs if "\0" not in d][: a.docs]
    instr = [i for i in instr if "\0" not in i][: a.instructions]
    with open(os.path.join(a.out_dir, "docs.bin"), "wb") as f:
        for d in docs:
            f.write(d.encode("utf-8") + b"\0")
    with open(os.path.join(a.out_dir, "instructions.bin"), "wb") as f:
        for i in instr:
            f.write(i.encode("utf-8") + b"\0")
    print("draft_head_data: %d documents, %d instructions from %s" % (len(docs), len(instr), ", ".join(found)))


if __name__ == "__main__":
    main()

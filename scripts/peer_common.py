"""peer_common.py - shared helpers of the oracle and the AR comparison: the evaluation prompt sets
(checked against MANIFEST.md's sha256 before use) and running our refhost CLI."""
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = Path(os.environ.get("DSTRAT_MODEL", ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
DEFAULT_REFHOST = ROOT / "build" / "reference-host" / "cli" / "refhost"
PROMPT_FILES = ["eagle_mt_bench.jsonl", "eagle_humaneval.jsonl", "eagle_gsm8k.jsonl",
                "eagle_qa.jsonl", "eagle_sum.jsonl"]


def default_prompts_dir():
    env = os.environ.get("DSTRAT_PROMPTS_DIR")
    if env:
        return Path(env)
    for cand in (ROOT.parent / "shared" / "prompts", Path("/work/shared/prompts")):
        if (cand / "MANIFEST.md").exists():
            return cand
    return ROOT.parent / "shared" / "prompts"


def manifest_hashes(prompts_dir):
    """file name -> sha256, from the table rows of MANIFEST.md."""
    path = Path(prompts_dir) / "MANIFEST.md"
    hashes = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].endswith(".jsonl") and re.fullmatch(r"[0-9a-f]{64}", cells[-1]):
            hashes[cells[0]] = cells[-1]
    return hashes


def load_prompt_file(prompts_dir, name, hashes):
    """First turns of one prompt file as [(question_id, text)], after checking its sha256."""
    path = Path(prompts_dir) / name
    data = path.read_bytes()
    want = hashes.get(name)
    if want is None:
        die(f"error: {name} is not listed in {Path(prompts_dir) / 'MANIFEST.md'}")
    have = hashlib.sha256(data).hexdigest()
    if have != want:
        die(f"error: {path} has sha256 {have}, MANIFEST.md says {want}")
    prompts = []
    for lineno, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        turns = obj.get("turns") or []
        if not turns:
            die(f"error: {path}:{lineno} has no turns")
        prompts.append((obj.get("question_id", lineno - 1), turns[0]))
    return prompts


def load_prompt_sets(prompts_dir, files=PROMPT_FILES):
    """{file: [(question_id, first turn)]} for the given files, all sha256-checked."""
    prompts_dir = Path(prompts_dir)
    if not (prompts_dir / "MANIFEST.md").exists():
        die(f"error: no MANIFEST.md in {prompts_dir} (set --prompts-dir or DSTRAT_PROMPTS_DIR)")
    hashes = manifest_hashes(prompts_dir)
    return {name: load_prompt_file(prompts_dir, name, hashes) for name in files}


def spread_selection(sets, n):
    """n prompts spread across the files (round-robin) and evenly across each file:
    [(file, question_id, text)]."""
    names = list(sets)
    per_file = [n // len(names) + (1 if i < n % len(names) else 0) for i in range(len(names))]
    chosen = []
    for name, k in zip(names, per_file):
        items = sets[name]
        if k == 0 or not items:
            continue
        step = len(items) / k
        for j in range(k):
            qid, text = items[int(j * step)]
            chosen.append((name, qid, text))
    # Interleave files so a partial run still covers all of them.
    by_file = {}
    for item in chosen:
        by_file.setdefault(item[0], []).append(item)
    out = []
    while any(by_file.values()):
        for name in names:
            if by_file.get(name):
                out.append(by_file[name].pop(0))
    return out


class RefhostError(RuntimeError):
    pass


def check_refhost(path):
    """A clear message when our CLI is missing; returns the resolved path."""
    p = Path(path)
    if not p.exists():
        return None, (f"refhost not found at {p}; build it (meson setup build && ninja -C build) "
                      f"or pass --refhost PATH")
    if not os.access(p, os.X_OK):
        return None, f"refhost at {p} is not executable"
    return p, None


def run_refhost(refhost, args, timeout=600):
    """Runs refhost with args; returns (parsed JSON of stdout, wall seconds)."""
    import time
    cmd = [str(refhost)] + [str(a) for a in args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RefhostError(f"{' '.join(cmd)} timed out after {timeout}s") from e
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RefhostError(f"{' '.join(cmd)} exited {proc.returncode}: "
                           f"{proc.stderr.decode('utf-8', 'replace').strip()[-800:]}")
    out = proc.stdout.decode("utf-8", "replace").strip()
    try:
        return json.loads(out), wall
    except json.JSONDecodeError:
        pass
    try:
        # Something else was printed before it: the JSON object is then the last line.
        return json.loads(out.splitlines()[-1]), wall
    except (json.JSONDecodeError, IndexError) as e:
        raise RefhostError(f"{' '.join(cmd)} printed no JSON object: {out[-400:]!r}") from e


def eprint(*a):
    print(*a, file=sys.stderr, flush=True)


def die(msg):
    """An environment or input problem (not a failed comparison): exit status 2."""
    eprint(f"error: {msg}" if not msg.startswith("error:") else msg)
    sys.exit(2)

#!/usr/bin/env python3
"""bench_ar_vs_llama_cpp.py - plain autoregressive (greedy) decode speed of our refhost and of
llama.cpp, side by side in one run on the same prompts, model and thread count.

Ours: `refhost generate --json`; its tokens_per_s counts decode only; the process wall time is shown too.
llama.cpp: the decode loop (one llama_decode per token + argmax in Python) timed from Python, and
llama.cpp's own decode timer (llama_perf_context) so that the Python overhead per token is separate.
The two sides alternate per prompt (ABBA order) so that drifts in machine load hit both alike.
Run with .venv-llama/bin/python (scripts/setup_llama_cpp.sh); other pythons re-run themselves there.
"""
import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_llama  # noqa: E402
from peer_common import (DEFAULT_MODEL, DEFAULT_REFHOST, PROMPT_FILES, RefhostError,  # noqa: E402
                         check_refhost, default_prompts_dir, eprint, load_prompt_sets, run_refhost,
                         spread_selection)


def run_ours(refhost, model, prompt_file, n_tokens, threads, extra):
    out, wall = run_refhost(refhost, ["generate", "--model", model, "--prompt-file", prompt_file, "--chat",
                                      "--max-tokens", n_tokens, "--temperature", "0", "--json",
                                      "--threads", threads] + extra)
    return {"tokens_per_s": float(out["tokens_per_s"]), "n_gen": int(out.get("n_gen", len(out["tokens"]))),
            "decode_ms": out.get("decode_ms"), "prefill_ms": out.get("prefill_ms"),
            "wall_s": wall, "tokens": [int(t) for t in out["tokens"]]}


def run_llama(peer, prompt_tokens, n_tokens, no_eog_stop):
    r = peer.greedy(prompt_tokens, n_tokens, keep_logits=False, stop_at_eog=not no_eog_stop)
    n = r["n_decode_calls"]
    res = {"n_gen": len(r["tokens"]), "n_decode_calls": n, "prefill_s": r["prefill_s"],
           "decode_s": r["decode_s"], "tokens": r["tokens"]}
    if n > 0:
        res["tokens_per_s"] = n / r["decode_s"]
        res["internal_tokens_per_s"] = r["perf_n_eval"] / (r["perf_eval_ms"] / 1e3) if r["perf_eval_ms"] else None
        res["py_overhead_ms_per_token"] = (r["decode_s"] * 1e3 - r["perf_eval_ms"]) / n
        res["perf_n_eval"] = r["perf_n_eval"]
    return res


def mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.mean(xs) if xs else None


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--refhost", default=str(DEFAULT_REFHOST))
    ap.add_argument("--prompts-dir", default=str(default_prompts_dir()))
    ap.add_argument("--files", default=",".join(PROMPT_FILES), help="comma-separated prompt sets")
    ap.add_argument("--n-prompts", type=int, default=8)
    ap.add_argument("--n-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-eog-stop", action="store_true",
                    help="llama.cpp side: do not stop at end-of-generation tokens")
    ap.add_argument("--ours-args", default="", help="extra refhost generate options, e.g. '--fast'")
    ap.add_argument("--verify-context", type=int, default=128,
                    help="context length for the verify-forward cost (llama.cpp and refhost bench-forward)")
    ap.add_argument("--verify-rounds", type=int, default=7)
    ap.add_argument("--skip-bench-forward", action="store_true")
    ap.add_argument("--json-out")
    args = ap.parse_args()

    peer_llama.reexec_in_venv_if_needed()
    if not Path(args.model).exists():
        eprint(f"error: model {args.model} not found; run scripts/fetch_model.sh")
        return 2
    refhost, why = check_refhost(args.refhost)
    if refhost is None:
        eprint(f"warning: {why}\nwarning: measuring llama.cpp only")

    sets = load_prompt_sets(args.prompts_dir, [f for f in args.files.split(",") if f])
    selection = spread_selection(sets, args.n_prompts)
    vocab = peer_llama.LlamaPeer(args.model, vocab_only=True)
    prompts = [(name, qid, text, vocab.tokenize(text, True)) for name, qid, text in selection]
    vocab.close()
    need = max(max(len(p[3]) for p in prompts) + args.n_tokens, args.verify_context + 64) + 16
    n_ctx = ((need + 255) // 256) * 256
    peer = peer_llama.LlamaPeer(args.model, n_ctx=n_ctx, n_threads=args.threads)
    eprint(f"llama.cpp {peer.ll.__version__}: n_ctx {peer.n_ctx}, threads {args.threads}; "
           f"{len(prompts)} prompts, {args.n_tokens} new tokens, greedy, chat")
    peer.greedy(prompts[0][3][:32], 8)  # warm-up: page in the weights, start the thread pool

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ar-") as tmp:
        prompt_file = Path(tmp) / "prompt.txt"
        for i, (name, qid, text, ptoks) in enumerate(prompts):
            prompt_file.write_text(text, encoding="utf-8")
            row = {"file": name, "question_id": qid, "n_prompt": len(ptoks)}
            order = ("ours", "llama") if i % 2 == 0 else ("llama", "ours")
            for side in order:
                if side == "llama":
                    row["llama"] = run_llama(peer, ptoks, args.n_tokens, args.no_eog_stop)
                elif refhost is not None:
                    try:
                        row["ours"] = run_ours(refhost, args.model, prompt_file, args.n_tokens, args.threads,
                                                shlex.split(args.ours_args))
                    except (RefhostError, KeyError, ValueError) as e:
                        row["ours_error"] = str(e)
            if "ours" in row:
                a, b = row["ours"]["tokens"], row["llama"]["tokens"]
                n = min(len(a), len(b))
                row["same_tokens"] = a[:n] == b[:n]
            rows.append(row)
            lo = row["llama"]
            eprint(f"  {name}#{qid}: llama {fmt(lo.get('tokens_per_s'))} tok/s"
                   + (f", ours {row['ours']['tokens_per_s']:.1f} tok/s" if "ours" in row else "")
                   + (f", ours ERROR {row['ours_error'][:200]}" if "ours_error" in row else ""))

    print()
    print(f"=== AR greedy decode, {args.n_tokens} new tokens, {args.threads} threads, chat prompts ===")
    print(f"{'prompt':<26}{'n_prompt':>9}{'ours tok/s':>11}{'ours wall s':>12}{'llama tok/s':>12}"
          f"{'llama int.':>11}{'py ms/tok':>10}{'ratio':>7}{'n ours':>7}{'n llama':>8}{'same':>6}")
    for r in rows:
        lo, ou = r["llama"], r.get("ours")
        ratio = ou["tokens_per_s"] / lo["tokens_per_s"] if ou and lo.get("tokens_per_s") else None
        r["ratio"] = ratio
        print(f"{r['file'] + '#' + str(r['question_id']):<26}{r['n_prompt']:>9}"
              f"{fmt(ou and ou['tokens_per_s']):>11}{fmt(ou and ou['wall_s'], '.2f'):>12}"
              f"{fmt(lo.get('tokens_per_s')):>12}{fmt(lo.get('internal_tokens_per_s')):>11}"
              f"{fmt(lo.get('py_overhead_ms_per_token'), '.3f'):>10}{fmt(ratio, '.2f'):>7}"
              f"{fmt(ou and ou['n_gen'], 'd'):>7}{lo['n_gen']:>8}"
              f"{('yes' if r['same_tokens'] else 'NO') if 'same_tokens' in r else '-':>6}")
    summary = {
        "ours_tokens_per_s": mean([r["ours"]["tokens_per_s"] for r in rows if "ours" in r]),
        "ours_wall_s": mean([r["ours"]["wall_s"] for r in rows if "ours" in r]),
        "llama_tokens_per_s": mean([r["llama"].get("tokens_per_s") for r in rows]),
        "llama_internal_tokens_per_s": mean([r["llama"].get("internal_tokens_per_s") for r in rows]),
        "llama_py_overhead_ms_per_token": mean([r["llama"].get("py_overhead_ms_per_token") for r in rows]),
        "ratio_ours_over_llama": mean([r.get("ratio") for r in rows]),
    }
    print(f"{'mean':<26}{'':>9}{fmt(summary['ours_tokens_per_s']):>11}{fmt(summary['ours_wall_s'], '.2f'):>12}"
          f"{fmt(summary['llama_tokens_per_s']):>12}{fmt(summary['llama_internal_tokens_per_s']):>11}"
          f"{fmt(summary['llama_py_overhead_ms_per_token'], '.3f'):>10}{fmt(summary['ratio_ours_over_llama'], '.2f'):>7}")
    print("ours tok/s: refhost's tokens_per_s (decode only). llama tok/s: decode loop timed in Python "
          "(llama_decode + argmax per token); llama int.: llama.cpp's own decode timer; "
          "py ms/tok: the difference per token; ratio: ours / llama tok/s.")
    if any("ours_error" in r for r in rows):
        print(f"refhost failed on {sum('ours_error' in r for r in rows)} prompts, e.g.: "
              f"{next(r['ours_error'] for r in rows if 'ours_error' in r)[:300]}")

    # Verify-forward cost: k tokens in one forward, as a multiple of a 1-token forward.
    # Same shape as refhost bench-forward: a fixed context made of prompt tokens, median of rounds.
    pool = [t for p in prompts for t in p[3]]
    ctx_tokens = (pool * (args.verify_context // len(pool) + 1))[:args.verify_context]
    vf = peer.verify_forward_cost(ctx_tokens, reps=args.verify_rounds)
    print()
    print(f"=== llama.cpp verify-forward cost after {len(ctx_tokens)} context tokens "
          f"(k tokens in one llama_decode, all logits; median of {args.verify_rounds}) ===")
    print("  ".join(f"k={k}: {t * 1e3:.2f} ms ({t / vf[1]:.2f}x)" for k, t in vf.items()))
    summary["llama_verify_forward_ms"] = {k: t * 1e3 for k, t in vf.items()}
    bench_forward = None
    if refhost is not None and not args.skip_bench_forward:
        print()
        print("=== refhost bench-forward ===")
        proc = subprocess.run([str(refhost), "bench-forward", "--model", args.model,
                               "--threads", str(args.threads), "--context", str(args.verify_context),
                               "--rounds", str(args.verify_rounds)], capture_output=True, text=True)
        if proc.returncode == 0:
            bench_forward = proc.stdout
            print(proc.stdout.rstrip())
        else:
            print(f"(refhost bench-forward not available: exit {proc.returncode}: "
                  f"{proc.stderr.strip()[-300:]})")

    if args.json_out:
        for r in rows:
            for side in ("ours", "llama"):
                if side in r:
                    r[side].pop("tokens", None)
        Path(args.json_out).write_text(json.dumps({"args": vars(args), "llama_cpp_version": peer.ll.__version__,
                                                   "rows": rows, "summary": summary,
                                                   "refhost_bench_forward": bench_forward}, indent=1))
    peer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""oracle_llama_cpp.py - checks our reference host (refhost) against llama.cpp on the same GGUF.

  (a) tokenization of every prompt of the evaluation sets (first turn), raw and with ChatML: identical
  (b) greedy continuations (chat, N tokens) of prompts spread over the sets: identical, except where
      llama.cpp's top-2 logit gap at the first divergence is below --tie-eps (a near-tie, reported apart)
  (c) max abs difference between our --dump-logits and llama.cpp's logits along the shared greedy prefix

Exits 1 if (a) or (b) fail, 2 on a usage or environment problem. Run with .venv-llama/bin/python
(scripts/setup_llama_cpp.sh makes it); with another python it re-runs itself in that venv.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_llama  # noqa: E402
from peer_common import (DEFAULT_MODEL, DEFAULT_REFHOST, RefhostError, check_refhost,  # noqa: E402
                         default_prompts_dir, eprint, load_prompt_sets, run_refhost, spread_selection)


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def check_tokenization(peer, refhost, model, sets, tmp, limit_per_file):
    """(a): every prompt, raw and chat. Returns a summary dict."""
    n_total = n_same = 0
    diffs, per_file = [], {}
    prompt_file = Path(tmp) / "prompt.txt"
    for name, items in sets.items():
        same = total = 0
        for qid, text in items[:limit_per_file] if limit_per_file else items:
            prompt_file.write_text(text, encoding="utf-8")
            for chat in (False, True):
                theirs = peer.tokenize(text, chat)
                args = ["tokenize", "--model", model, "--prompt-file", prompt_file] + (["--chat"] if chat else [])
                ours = run_refhost(refhost, args)[0]["tokens"]
                total += 1
                i = first_diff(ours, theirs)
                if i is None:
                    same += 1
                else:
                    diffs.append({"file": name, "question_id": qid, "chat": chat, "index": i,
                                  "n_ours": len(ours), "n_llama": len(theirs),
                                  "ours": ours[max(0, i - 2):i + 4], "llama": theirs[max(0, i - 2):i + 4],
                                  "llama_pieces": [peer.piece(t) for t in theirs[max(0, i - 2):i + 4]],
                                  "ours_pieces": [peer.piece(t) for t in ours[max(0, i - 2):i + 4]
                                                  if 0 <= t < peer.n_vocab]})
        per_file[name] = {"same": same, "total": total}
        n_total += total
        n_same += same
        eprint(f"  tokenize {name}: {same}/{total} identical")
    return {"total": n_total, "identical": n_same, "per_file": per_file, "differences": diffs}


def top2_gap(row):
    import numpy as np
    part = np.partition(row, -2)[-2:]
    return float(part[1] - part[0])


def self_compare(llama_tokens, llama_logits, other):
    """llama.cpp against itself: the normal run (prompt in one batch) vs `other` (prompt token by token)."""
    import numpy as np
    k = first_diff(llama_tokens, other["tokens"])
    shared = len(llama_tokens) if k is None else k + 1
    shared = min(shared, len(llama_logits), len(other["logits"]))
    d = np.abs(llama_logits[:shared].astype(np.float64) - other["logits"][:shared].astype(np.float64))
    return {"first_divergence": k, "steps": shared, "max_abs_logit_diff": float(d.max()),
            "mean_abs_logit_diff": float(d.mean()),
            "top2_gap": top2_gap(llama_logits[k]) if k is not None and k < len(llama_logits) else None}


def compare_generation(peer, refhost, model, selection, n_tokens, threads, tie_eps, tmp, extra_args=(),
                       self_peer=None):
    """(b) and (c) for the selected prompts. Returns a list of per-prompt result dicts."""
    import numpy as np
    results = []
    prompt_file = Path(tmp) / "prompt.txt"
    logits_file = Path(tmp) / "logits.f32"
    for name, qid, text in selection:
        prompt_file.write_text(text, encoding="utf-8")
        if logits_file.exists():
            logits_file.unlink()
        llama_prompt = peer.tokenize(text, True)
        res = {"file": name, "question_id": qid, "n_prompt": len(llama_prompt)}
        try:
            ours, _ = run_refhost(refhost, ["generate", "--model", model, "--prompt-file", prompt_file,
                                            "--chat", "--max-tokens", n_tokens, "--temperature", "0",
                                            "--json", "--dump-logits", logits_file,
                                            "--threads", threads] + list(extra_args))
        except RefhostError as e:
            res.update(status="ERROR", error=str(e))
            results.append(res)
            eprint(f"  generate {name}#{qid}: ERROR {e}")
            continue
        ours_tokens = [int(t) for t in ours["tokens"]]
        if [int(t) for t in ours.get("prompt_tokens", llama_prompt)] != llama_prompt:
            res["prompt_tokens_differ"] = True
        theirs = peer.greedy(llama_prompt, n_tokens, keep_logits=True)
        llama_tokens, llama_logits = theirs["tokens"], theirs["logits"]
        if self_peer is not None:
            res["llama_self"] = self_compare(llama_tokens, llama_logits,
                                             self_peer.greedy(llama_prompt, n_tokens, keep_logits=True))

        # Our host may leave out the end-of-generation token it stopped at; that is no divergence.
        cmp_ours, cmp_llama = list(ours_tokens), list(llama_tokens)
        if cmp_llama and peer.is_eog(cmp_llama[-1]) and cmp_ours == cmp_llama[:-1]:
            cmp_llama = cmp_llama[:-1]
        k = first_diff(cmp_ours, cmp_llama)

        our_logits = None
        if logits_file.exists() and logits_file.stat().st_size:
            raw = np.fromfile(logits_file, dtype="<f4")
            if raw.size % peer.n_vocab:
                res["logits_dump_error"] = f"{raw.size} floats is not a multiple of n_vocab={peer.n_vocab}"
            else:
                our_logits = raw.reshape(-1, peer.n_vocab)
        else:
            res["logits_dump_error"] = "no --dump-logits output"

        res.update(n_ours=len(ours_tokens), n_llama=len(llama_tokens), first_divergence=k,
                   tokens_per_s=ours.get("tokens_per_s"))
        if k is None:
            res["status"] = "SAME"
        else:
            gap = top2_gap(llama_logits[k]) if k < len(llama_logits) else None
            res["llama_top2_gap"] = gap
            if our_logits is not None and k < len(our_logits):
                res["ours_top2_gap"] = top2_gap(our_logits[k])
            res["ours_at_k"] = ours_tokens[k] if k < len(ours_tokens) else None
            res["llama_at_k"] = llama_tokens[k] if k < len(llama_tokens) else None
            res["status"] = "NEAR-TIE" if gap is not None and gap < tie_eps else "DIFF"

        # (c): steps 0..k see identical contexts on both sides (k inclusive: same prefix, new choice).
        if our_logits is not None:
            shared = len(cmp_ours) if k is None else k + 1
            shared = min(shared, len(our_logits), len(llama_logits))
            if shared:
                d = np.abs(our_logits[:shared].astype(np.float64) - llama_logits[:shared].astype(np.float64))
                res["logit_steps"] = shared
                res["max_abs_logit_diff"] = float(d.max())
                res["mean_abs_logit_diff"] = float(d.mean())
                res["argmax_agree_steps"] = int((our_logits[:shared].argmax(1) == llama_logits[:shared].argmax(1)).sum())
                if res.get("llama_top2_gap") is not None:
                    # A divergence at a gap smaller than the two sides' logit disagreement is
                    # arithmetic noise rather than a logic error (informational; status stays).
                    res["gap_below_logit_noise"] = res["llama_top2_gap"] < res["max_abs_logit_diff"]
        results.append(res)
        eprint(f"  generate {name}#{qid}: {res['status']} (prompt {len(llama_prompt)} tok, "
               f"ours {len(ours_tokens)}, llama {len(llama_tokens)}, first divergence {k}, "
               f"max|dlogit| {res.get('max_abs_logit_diff', float('nan')):.4g})")
    return results


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def print_summary(tok, gen, args):
    print()
    print("=== (a) tokenization: refhost vs llama.cpp (first turn, raw and chat) ===")
    if tok is None:
        print("skipped (--skip-tokenize)")
    else:
        print(f"{'file':<24}{'identical':>12}")
        for name, r in tok["per_file"].items():
            print(f"{name:<24}{r['same']:>6}/{r['total']:<5}")
        print(f"{'total':<24}{tok['identical']:>6}/{tok['total']:<5}")
        for d in tok["differences"][:5]:
            print(f"  DIFF {d['file']}#{d['question_id']} chat={d['chat']} at {d['index']} "
                  f"(n ours {d['n_ours']}, llama {d['n_llama']}): ours {d['ours']} llama {d['llama']} "
                  f"pieces ours {d['ours_pieces']!r} llama {d['llama_pieces']!r}")
        if len(tok["differences"]) > 5:
            print(f"  ... {len(tok['differences']) - 5} more differences (see --json-out)")

    print()
    print(f"=== (b) greedy continuations ({args.n_tokens} tokens, chat) and (c) logits ===")
    print(f"{'prompt':<28}{'n_prompt':>9}{'ours':>6}{'llama':>6}{'diverge':>8}{'gap@k':>10}"
          f"{'steps':>6}{'max|dl|':>10}{'mean|dl|':>10}  status")
    for r in gen:
        print(f"{r['file'] + '#' + str(r['question_id']):<28}{r['n_prompt']:>9}{fmt(r.get('n_ours'), 'd'):>6}"
              f"{fmt(r.get('n_llama'), 'd'):>6}{fmt(r.get('first_divergence'), 'd'):>8}"
              f"{fmt(r.get('llama_top2_gap'), '.2e'):>10}{fmt(r.get('logit_steps'), 'd'):>6}"
              f"{fmt(r.get('max_abs_logit_diff'), '.4f'):>10}{fmt(r.get('mean_abs_logit_diff'), '.5f'):>10}"
              f"  {r['status']}" + (f" ({r['error'][:80]})" if r.get("error") else "")
              + (f" [{r['logits_dump_error']}]" if r.get("logits_dump_error") else ""))
    selfs = [r for r in gen if "llama_self" in r]
    if selfs:
        print()
        print("=== noise floor: llama.cpp, prompt in one batch vs token by token (same greedy settings) ===")
        for r in selfs:
            q = r["llama_self"]
            print(f"{r['file'] + '#' + str(r['question_id']):<28}diverge {fmt(q['first_divergence'], 'd'):>4}  "
                  f"gap@k {fmt(q['top2_gap'], '.2e'):>9}  steps {q['steps']:>3}  max|dl| {q['max_abs_logit_diff']:.4f}"
                  f"  mean|dl| {q['mean_abs_logit_diff']:.5f}")
        same = sum(1 for r in selfs if r["llama_self"]["first_divergence"] is None)
        print(f"llama.cpp vs itself: {same} of {len(selfs)} continuations identical, max |logit diff| "
              f"{max(r['llama_self']['max_abs_logit_diff'] for r in selfs):.5f}")
        print()
    counts = {s: sum(1 for r in gen if r["status"] == s) for s in ("SAME", "NEAR-TIE", "DIFF", "ERROR")}
    maxd = [r["max_abs_logit_diff"] for r in gen if "max_abs_logit_diff" in r]
    print(f"same {counts['SAME']}, near-tie {counts['NEAR-TIE']} (llama.cpp top-2 gap < {args.tie_eps:g}), "
          f"different {counts['DIFF']}, errors {counts['ERROR']} of {len(gen)}")
    noise = [r for r in gen if r["status"] == "DIFF" and r.get("gap_below_logit_noise")]
    if noise:
        print(f"of the {counts['DIFF']} different: {len(noise)} diverge where llama.cpp's top-2 gap is below "
              f"that prompt's max |logit difference| (arithmetic noise, not a logic error)")
    print(f"(c) max abs logit difference over shared prefixes: {max(maxd):.5f}" if maxd else
          "(c) no logits compared")
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--refhost", default=str(DEFAULT_REFHOST))
    ap.add_argument("--prompts-dir", default=str(default_prompts_dir()))
    ap.add_argument("--n-prompts", type=int, default=20, help="prompts for (b)/(c), spread over the 5 sets")
    ap.add_argument("--n-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tie-eps", type=float, default=1e-3,
                    help="a divergence where llama.cpp's top-2 logit gap is below this is a near-tie")
    ap.add_argument("--tokenize-limit", type=int, default=0,
                    help="check only the first N prompts of each set in (a) (0: all)")
    ap.add_argument("--skip-tokenize", action="store_true")
    ap.add_argument("--json-out")
    ap.add_argument("--llama-self", action="store_true",
                    help="also run llama.cpp with the prompt fed token by token and compare it with its own "
                         "one-batch run: the noise floor of llama.cpp's batch-dependent numerics")
    ap.add_argument("--refhost-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for 'refhost generate' (repeatable), e.g. --refhost-arg=--fast: "
                         "llama.cpp's batch-dependent attention order, bit-identical to its prefill + decode")
    args = ap.parse_args()

    peer_llama.reexec_in_venv_if_needed()
    if not Path(args.model).exists():
        eprint(f"error: model {args.model} not found; run scripts/fetch_model.sh")
        return 2
    refhost, why = check_refhost(args.refhost)
    if refhost is None:
        eprint(f"error: {why}")
        return 2
    sets = load_prompt_sets(args.prompts_dir)
    selection = spread_selection(sets, args.n_prompts)

    vocab = peer_llama.LlamaPeer(args.model, vocab_only=True)
    longest = max(len(vocab.tokenize(t, True)) for _, _, t in selection)
    n_ctx = ((longest + args.n_tokens + 16 + 255) // 256) * 256
    vocab.close()
    peer = peer_llama.LlamaPeer(args.model, n_ctx=n_ctx, n_threads=args.threads)
    eprint(f"llama.cpp: n_vocab {peer.n_vocab}, n_ctx {peer.n_ctx}, threads {args.threads}")
    self_peer = (peer_llama.LlamaPeer(args.model, n_ctx=n_ctx, n_threads=args.threads, n_batch=1)
                 if args.llama_self else None)

    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        try:
            tok = None
            if not args.skip_tokenize:
                eprint("(a) tokenization ...")
                tok = check_tokenization(peer, refhost, args.model, sets, tmp, args.tokenize_limit)
            eprint(f"(b) greedy continuations of {len(selection)} prompts ...")
            gen = compare_generation(peer, refhost, args.model, selection, args.n_tokens, args.threads,
                                     args.tie_eps, tmp, args.refhost_arg, self_peer)
        except RefhostError as e:
            eprint(f"error: {e}")
            return 2
    counts = print_summary(tok, gen, args)
    tok_ok = tok is None or tok["identical"] == tok["total"]
    gen_ok = counts["DIFF"] == 0 and counts["ERROR"] == 0 and len(gen) > 0
    print(f"RESULT: tokenization {'PASS' if tok_ok else 'FAIL'}, greedy {'PASS' if gen_ok else 'FAIL'}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"args": vars(args), "tokenization": tok,
                                                   "generation": gen,
                                                   "pass": {"tokenization": tok_ok, "greedy": gen_ok}},
                                                  indent=1))
    peer.close()
    if self_peer is not None:
        self_peer.close()
    return 0 if tok_ok and gen_ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""bench_peer_llama.py - llama.cpp (llama-cpp-python) as a peer process of `refhost bench`.

refhost starts this script once, after loading its own model, and sends one JSON request per line
on stdin; each gets one JSON reply line on stdout. The prompts arrive as token ids (refhost's own
chat tokenization), so both sides decode exactly the same input. Requests:

  {"op": "plain", "prompt": [ids], "max_new": N}
      greedy decode through llama.cpp's low-level API (peer_llama.LlamaPeer.greedy): one
      llama_decode per token + argmax in Python. The reply has decode_s (Python wall time of the
      loop) and perf_eval_ms (llama.cpp's own timer), so the Python overhead per token is visible.
  {"op": "hl", "prompt": [ids], "max_new": N, "ngram": G, "k": K}
      greedy decode through the high-level Llama.generate(); with G > 0 speculative with
      LlamaPromptLookupDecoding(max_ngram_size=G, num_pred_tokens=K), else plain.
  {"op": "quit"}

Replies: {"ok": true, "tokens": [...], "prefill_s": s, "decode_s": s, ...} or {"ok": false,
"error": "..."}. The first line written is {"ok": true, "version": "..."} once the models are loaded.
Run with .venv-llama/bin/python (scripts/setup_llama_cpp.sh); other pythons re-run themselves there.
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_llama  # noqa: E402


class Peer:
    def __init__(self, model, n_ctx, threads):
        import llama_cpp
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding
        self.ll = llama_cpp
        self.pld_cls = LlamaPromptLookupDecoding
        self.low = peer_llama.LlamaPeer(model, n_ctx=n_ctx, n_threads=threads)
        # Speculative decoding in llama-cpp-python needs logits for every position (logits_all),
        # which is fixed at construction: a second instance, its draft swapped per request.
        # logits_all=True must be explicit: 0.3.x sizes its logits buffer from the argument (n_batch
        # rows otherwise) although a draft model forces logits_all on, and prompts past 512 fail.
        self.spec = llama_cpp.Llama(model_path=str(model), n_ctx=n_ctx, n_batch=512, n_threads=threads,
                                    n_threads_batch=threads, draft_model=LlamaPromptLookupDecoding(),
                                    logits_all=True, verbose=False)
        self.version = llama_cpp.__version__

    def plain(self, prompt, max_new):
        r = self.low.greedy(prompt, max_new, keep_logits=False, stop_at_eog=True)
        return {"tokens": r["tokens"], "prefill_s": r["prefill_s"], "decode_s": r["decode_s"],
                "n_decode_calls": r["n_decode_calls"], "perf_eval_ms": r["perf_eval_ms"],
                "perf_n_eval": r["perf_n_eval"]}

    def high_level(self, prompt, max_new, ngram, k):
        if ngram > 0:
            llm = self.spec
            llm.draft_model = self.pld_cls(max_ngram_size=ngram, num_pred_tokens=k)
        else:
            llm = self.low.llm
            self.low.clear()  # the low-level loop used this context; start from an empty cache
        llm.reset()
        out = []
        t0 = time.perf_counter()
        t_first = None
        for tok in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0,
                                reset=True):
            if t_first is None:
                t_first = time.perf_counter()
            out.append(int(tok))
            if len(out) >= max_new or self.low.is_eog(tok):
                break
        t_end = time.perf_counter()
        if t_first is None:
            t_first = t_end
        return {"tokens": out, "prefill_s": t_first - t0, "decode_s": t_end - t_first,
                "n_decode_calls": max(len(out) - 1, 0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    peer_llama.reexec_in_venv_if_needed()
    try:
        peer = Peer(args.model, args.n_ctx, args.threads)
    except Exception as e:  # report, do not crash: refhost then skips the peer rows
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}), flush=True)
        return 2
    print(json.dumps({"ok": True, "version": peer.version}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "quit":
                break
            prompt = [int(t) for t in req["prompt"]]
            max_new = int(req["max_new"])
            if op == "plain":
                rep = peer.plain(prompt, max_new)
            elif op == "hl":
                rep = peer.high_level(prompt, max_new, int(req.get("ngram", 0)), int(req.get("k", 10)))
            else:
                raise ValueError(f"unknown op {op!r}")
            rep["ok"] = True
        except Exception as e:
            rep = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(rep), flush=True)
    peer.low.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""peer_llama.py - llama.cpp (via llama-cpp-python) as the peer implementation for the oracle and
the AR speed comparison. Runs with the python of the venv made by scripts/setup_llama_cpp.sh.

Greedy decoding uses llama.cpp's low-level API so that every step's logits are visible and the
decode loop carries as little Python as possible; llama.cpp's own timers (llama_perf_context) give
the decode time without the Python part.
"""
import ctypes
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv-llama" / "bin" / "python"
SETUP_HINT = "run scripts/setup_llama_cpp.sh, then use .venv-llama/bin/python"

# The ChatML rendering our host uses with --chat: one user turn, no default system message,
# followed by the assistant header (generation prompt).
CHAT_TEMPLATE = "<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"


def reexec_in_venv_if_needed():
    """If llama_cpp is not importable here but the project venv exists, re-run this script with it."""
    try:
        import llama_cpp  # noqa: F401
        import numpy  # noqa: F401
        return
    except ImportError:
        pass
    # Compare prefixes, not executables: a venv's python is a symlink to the base interpreter.
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve() \
            and not os.environ.get("DSTRAT_NO_REEXEC"):
        os.environ["DSTRAT_NO_REEXEC"] = "1"
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON)] + sys.argv)
    print(f"error: llama_cpp (llama-cpp-python) and numpy are not importable with {sys.executable}; "
          f"{SETUP_HINT}", file=sys.stderr)
    sys.exit(2)


def render_chat(content):
    return CHAT_TEMPLATE.format(content=content)


class LlamaPeer:
    """One llama.cpp model + context. Not thread-safe."""

    def __init__(self, model_path, n_ctx=2048, n_threads=2, vocab_only=False, n_batch=512):
        import llama_cpp
        import numpy as np
        self.ll = llama_cpp
        self.np = np
        self.llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=n_ctx, n_batch=n_batch,
                                   n_ubatch=n_batch, n_threads=n_threads,
                                   n_threads_batch=n_threads, vocab_only=vocab_only,
                                   logits_all=False, verbose=False)
        self.vocab = self.llm._model.vocab
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.vocab_only = vocab_only
        self.n_batch = n_batch
        if not vocab_only:
            self.ctx = self.llm._ctx.ctx
            self.mem = llama_cpp.llama_get_memory(self.ctx)
            self.n_ctx = llama_cpp.llama_n_ctx(self.ctx)
            self._batch = llama_cpp.llama_batch_init(max(n_batch, 64), 0, 1)

    def close(self):
        if not self.vocab_only and self._batch is not None:
            self.ll.llama_batch_free(self._batch)
            self._batch = None
        self.llm.close()

    # --- tokenizer -------------------------------------------------------------------------------
    def tokenize(self, text, chat):
        """Chat: render ChatML, parse special tokens, no BOS (as our host does with --chat).
        Raw: plain text, no special-token parsing, BOS only if the vocab asks for it."""
        if chat:
            return self.llm.tokenize(render_chat(text).encode("utf-8"), add_bos=False, special=True)
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    def is_eog(self, token):
        return bool(self.ll.llama_vocab_is_eog(self.vocab, token))

    def piece(self, token):
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    # --- decoding --------------------------------------------------------------------------------
    def clear(self):
        self.ll.llama_memory_clear(self.mem, True)

    def _decode_batch(self, tokens, n_past, all_logits):
        """Decode tokens at positions n_past.. in one llama_decode call (len <= n_batch)."""
        b = self._batch
        n = len(tokens)
        b.n_tokens = n
        for i, t in enumerate(tokens):
            b.token[i] = t
            b.pos[i] = n_past + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 1 if (all_logits or i == n - 1) else 0
        rc = self.ll.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed with {rc} (n_tokens={n}, n_past={n_past})")

    def prefill(self, tokens):
        """Clear the cache and decode the prompt; the last position's logits are then current."""
        if len(tokens) == 0:
            raise ValueError("empty prompt")
        if len(tokens) >= self.n_ctx:
            raise ValueError(f"prompt of {len(tokens)} tokens does not fit n_ctx={self.n_ctx}")
        self.clear()
        for i in range(0, len(tokens), self.n_batch):
            self._decode_batch(tokens[i:i + self.n_batch], i, False)

    def last_logits(self):
        """A zero-copy view of the logits of the last decoded position (valid until next decode)."""
        ptr = self.ll.llama_get_logits_ith(self.ctx, -1)
        return self.np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def greedy(self, prompt_tokens, max_new, keep_logits=False, stop_at_eog=True):
        """Greedy continuation. Returns a dict with the generated tokens (an end-of-generation token,
        when produced, is the last one), per-step logits (n x n_vocab float32) if asked, and timings:
        decode_s = wall time of the decode loop (single-token llama_decode calls and argmax),
        perf_eval_ms / perf_n_eval = llama.cpp's own timer for those calls."""
        np = self.np
        ll = self.ll
        t0 = time.perf_counter()
        self.prefill(prompt_tokens)
        t1 = time.perf_counter()
        ll.llama_perf_context_reset(self.ctx)
        out, rows = [], []
        one = (ll.llama_token * 1)()
        n_past = len(prompt_tokens)
        limit = min(max_new, self.n_ctx - n_past)
        t2 = time.perf_counter()
        while True:
            logits = self.last_logits()
            tok = int(logits.argmax())
            if keep_logits:
                rows.append(logits.copy())
            out.append(tok)
            if len(out) >= limit or (stop_at_eog and self.is_eog(tok)):
                break
            one[0] = tok
            rc = ll.llama_decode(self.ctx, ll.llama_batch_get_one(one, 1))
            if rc != 0:
                raise RuntimeError(f"llama_decode failed with {rc} at position {n_past}")
            n_past += 1
        t3 = time.perf_counter()
        perf = ll.llama_perf_context(self.ctx)
        return {
            "tokens": out,
            "logits": np.stack(rows) if keep_logits and rows else None,
            "prefill_s": t1 - t0,
            "decode_s": t3 - t2,
            "n_decode_calls": len(out) - 1,
            "perf_eval_ms": perf.t_eval_ms,
            "perf_n_eval": perf.n_eval,
        }

    def verify_forward_cost(self, context_tokens, sizes=(1, 4, 16, 32, 64), reps=5):
        """Cost of one llama_decode of k tokens (all logits requested, as in speculative verify)
        after a prefilled context, in seconds (median of reps); caches are trimmed between reps."""
        self.prefill(context_tokens)
        n_past = len(context_tokens)
        filler = [context_tokens[i % len(context_tokens)] for i in range(max(sizes))]
        result = {}
        for k in sizes:
            times = []
            for _ in range(reps + 1):  # first one warms up
                t0 = time.perf_counter()
                self._decode_batch(filler[:k], n_past, True)
                times.append(time.perf_counter() - t0)
                self.ll.llama_memory_seq_rm(self.mem, 0, n_past, -1)
            times = sorted(times[1:])
            result[k] = times[len(times) // 2]
        return result

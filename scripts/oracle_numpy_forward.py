#!/usr/bin/env python3
"""oracle_numpy_forward.py - a float64 numpy forward pass of the GGUF Llama model (weights dequantized
with the `gguf` package, activations never quantized) as an arbiter when refhost and llama.cpp disagree.

For a few chat prompts it takes llama.cpp's greedy continuation, runs the whole sequence through the
float64 reference in one pass, and reports how far refhost's --dump-logits and llama.cpp's step-wise
logits are from it (max and mean abs difference over the steps), plus the refhost/llama.cpp
distance itself. Run with .venv-llama/bin/python (setup_llama_cpp.sh installs gguf there).
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_llama  # noqa: E402
from peer_common import (DEFAULT_MODEL, DEFAULT_REFHOST, RefhostError, check_refhost,  # noqa: E402
                         default_prompts_dir, eprint, load_prompt_sets, run_refhost, spread_selection)


class NumpyLlama:
    """Float64 reference of the llama architecture as GGUF stores it (normal RoPE on adjacent pairs,
    Q/K rows already permuted by the converter, GQA, SiLU MLP, tied or separate output)."""

    def __init__(self, path):
        import gguf
        import numpy as np
        self.np = np
        r = gguf.GGUFReader(str(path))

        def field(key):
            f = r.fields[key]
            return f.parts[f.data[0]][0]

        self.n_layer = int(field("llama.block_count"))
        self.n_head = int(field("llama.attention.head_count"))
        self.n_head_kv = int(field("llama.attention.head_count_kv"))
        self.n_embd = int(field("llama.embedding_length"))
        self.eps = float(field("llama.attention.layer_norm_rms_epsilon"))
        self.rope_base = float(field("llama.rope.freq_base")) if "llama.rope.freq_base" in r.fields else 10000.0
        self.head_dim = self.n_embd // self.n_head
        self.w = {}
        for t in r.tensors:
            a = gguf.quants.dequantize(t.data, t.tensor_type)
            self.w[t.name] = np.asarray(a, dtype=np.float64).reshape([int(x) for x in reversed(t.shape)]) \
                if len(t.shape) > 1 else np.asarray(a, dtype=np.float64).reshape(-1)
        self.out = self.w.get("output.weight", self.w["token_embd.weight"])

    def _rms(self, x, w):
        np = self.np
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * w

    def _rope(self, x, pos):
        """x: (T, heads, hd); rotate adjacent pairs by pos * base^(-2i/hd)."""
        np = self.np
        hd = self.head_dim
        inv = self.rope_base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
        ang = pos[:, None] * inv[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    def logits(self, tokens):
        """Logits (T x n_vocab) for every position of tokens, causal."""
        np = self.np
        T = len(tokens)
        hd, nh, nkv = self.head_dim, self.n_head, self.n_head_kv
        x = self.w["token_embd.weight"][np.asarray(tokens)]
        pos = np.arange(T, dtype=np.float64)
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for i in range(self.n_layer):
            p = f"blk.{i}."
            h = self._rms(x, self.w[p + "attn_norm.weight"])
            q = self._rope((h @ self.w[p + "attn_q.weight"].T).reshape(T, nh, hd), pos)
            k = self._rope((h @ self.w[p + "attn_k.weight"].T).reshape(T, nkv, hd), pos)
            v = (h @ self.w[p + "attn_v.weight"].T).reshape(T, nkv, hd)
            group = nh // nkv
            k = np.repeat(k, group, axis=1)
            v = np.repeat(v, group, axis=1)
            att = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o = np.einsum("hts,shd->thd", att, v).reshape(T, nh * hd)
            x = x + o @ self.w[p + "attn_output.weight"].T
            h = self._rms(x, self.w[p + "ffn_norm.weight"])
            g = h @ self.w[p + "ffn_gate.weight"].T
            u = h @ self.w[p + "ffn_up.weight"].T
            x = x + ((g / (1 + np.exp(-g))) * u) @ self.w[p + "ffn_down.weight"].T
        return self._rms(x, self.w["output_norm.weight"]) @ self.out.T


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--refhost", default=str(DEFAULT_REFHOST))
    ap.add_argument("--prompts-dir", default=str(default_prompts_dir()))
    ap.add_argument("--n-prompts", type=int, default=5)
    ap.add_argument("--n-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    peer_llama.reexec_in_venv_if_needed()
    try:
        import gguf  # noqa: F401
    except ImportError:
        eprint("error: the gguf package is missing; run scripts/setup_llama_cpp.sh")
        return 2
    import numpy as np
    refhost, why = check_refhost(args.refhost)
    if refhost is None:
        eprint(f"warning: {why}; comparing llama.cpp only")
    sets = load_prompt_sets(args.prompts_dir)
    selection = spread_selection(sets, args.n_prompts)
    ref = NumpyLlama(args.model)
    peer = peer_llama.LlamaPeer(args.model, n_ctx=4096, n_threads=args.threads)
    print(f"{'prompt':<28}{'T':>6}{'steps':>6}{'llama max':>11}{'llama mean':>11}"
          f"{'ours max':>10}{'ours mean':>10}{'ours-llama':>11}")
    with tempfile.TemporaryDirectory(prefix="oracle-np-") as tmp:
        pf, lf = Path(tmp) / "p.txt", Path(tmp) / "l.f32"
        for name, qid, text in selection:
            ptoks = peer.tokenize(text, True)
            g = peer.greedy(ptoks, args.n_tokens, keep_logits=True)
            n = len(g["tokens"])
            want = ref.logits(ptoks + g["tokens"][:-1])[len(ptoks) - 1:]
            dl = np.abs(g["logits"] - want)
            row = f"{name + '#' + str(qid):<28}{len(ptoks) + n:>6}{n:>6}{dl.max():>11.4f}{dl.mean():>11.5f}"
            if refhost is not None:
                pf.write_text(text, encoding="utf-8")
                try:
                    out, _ = run_refhost(refhost, ["generate", "--model", args.model, "--prompt-file", pf,
                                                   "--chat", "--max-tokens", args.n_tokens, "--temperature",
                                                   "0", "--json", "--dump-logits", lf,
                                                   "--threads", args.threads])
                    ours = np.fromfile(lf, dtype="<f4").reshape(-1, peer.n_vocab)
                    same = 0  # steps where refhost followed the same tokens, so the logits are comparable
                    while same < min(len(out["tokens"]), n) and out["tokens"][same] == g["tokens"][same]:
                        same += 1
                    s = min(same + 1, len(ours), n)
                    do = np.abs(ours[:s] - want[:s])
                    row += f"{do.max():>10.4f}{do.mean():>10.5f}{np.abs(ours[:s] - g['logits'][:s]).max():>11.4f}"
                except RefhostError as e:
                    row += f"  refhost error: {str(e)[:120]}"
            print(row, flush=True)
    print("max/mean: abs logit difference from the float64 reference over the generated steps "
          "(refhost: over the steps that share llama.cpp's tokens).")
    peer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

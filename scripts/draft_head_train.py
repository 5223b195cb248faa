#!/usr/bin/python3
"""draft_head_train.py - train the EAGLE-3-style feature draft head and write its GGUF.

Reads the arrays `refhost draft-data` wrote (see reference-host/cli/cmd_draft_data.c), builds the
draft vocabulary from the target's own argmax tokens, trains with training-time test (the head
unrolled --ttt steps on its own output features, soft cross-entropy against the target's top-k
distribution restricted to the draft vocabulary, step weights 0.8^k), reports per-depth top-1
acceptance on held-out sequences and writes the weights file the C host loads
(reference-host/draft/feature_head_load.c; format in policies/draft_head/README.md).

CPU only, deterministic for a given --seed and --threads.
"""
import argparse
import math
import os
import struct
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("draft_head_train: python3-torch is missing (apt-get install python3-torch)")

ARCH = "dstrat-eagle3-head"
FORMAT_VERSION = 1
KEY = "dstrat_eagle3."


# ---------------------------------------------------------------------------------- data
def load_meta(d):
    meta = {}
    with open(os.path.join(d, "meta.txt")) as f:
        for ln in f:
            k, _, v = ln.strip().partition("=")
            meta[k] = v
    return meta


class Data:
    def __init__(self, d):
        m = load_meta(d)
        self.meta = m
        self.e = int(m["n_embd"])
        self.nv = int(m["n_vocab"])
        self.k = int(m["topk"])
        self.tokens = np.fromfile(os.path.join(d, "tokens.i32"), dtype="<i4")
        n = len(self.tokens)
        self.feats = np.memmap(os.path.join(d, "feats.f16"), dtype="<f2", mode="r", shape=(n, 3 * self.e))
        self.topk_id = np.fromfile(os.path.join(d, "topk_id.i32"), dtype="<i4").reshape(n, self.k)
        self.topk_logit = np.fromfile(os.path.join(d, "topk_logit.f16"), dtype="<f2").reshape(n, self.k)
        self.seqs = np.fromfile(os.path.join(d, "seqs.u32"), dtype="<u4").reshape(-1, 4).astype(np.int64)
        emb = np.fromfile(os.path.join(d, "embd.f32"), dtype="<f4")
        self.embd = emb.reshape(self.nv, self.e)


# ---------------------------------------------------------------------------------- model
def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, pos, inv_freq):
    # x: (..., T, hd); rotate-half; pos: (T,) positions
    ang = pos[:, None].float() * inv_freq[None, :]
    c, s = torch.cos(ang), torch.sin(ang)
    h = x.shape[-1] // 2
    x0, x1 = x[..., :h], x[..., h:]
    return torch.cat([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)


class Head(torch.nn.Module):
    def __init__(self, e, nh, nkv, hd, ff, vd, eps, rope_base):
        super().__init__()
        self.e, self.nh, self.nkv, self.hd, self.ff, self.vd, self.eps = e, nh, nkv, hd, ff, vd, eps
        L = torch.nn.Linear
        self.fc = L(3 * e, e, bias=False)
        self.q = L(2 * e, nh * hd, bias=False)
        self.k = L(2 * e, nkv * hd, bias=False)
        self.v = L(2 * e, nkv * hd, bias=False)
        self.o = L(nh * hd, e, bias=False)
        self.gate = L(e, ff, bias=False)
        self.up = L(e, ff, bias=False)
        self.down = L(ff, e, bias=False)
        self.out = L(e, vd, bias=False)
        P = torch.nn.Parameter
        self.emb_norm = P(torch.ones(e))
        self.feat_norm = P(torch.ones(e))
        self.ffn_norm = P(torch.ones(e))
        self.out_norm = P(torch.ones(e))
        self.register_buffer("inv_freq", rope_base ** (-2.0 * torch.arange(hd // 2).float() / hd))

    def qkv(self, x, emb, pos):
        """x: (T, e) input feature, emb: (T, e) token embeddings -> q (nh,T,hd), k/v (nkv,T,hd)"""
        cat = torch.cat([rms(emb, self.emb_norm, self.eps), rms(x, self.feat_norm, self.eps)], -1)
        T = x.shape[0]
        q = self.q(cat).view(T, self.nh, self.hd).transpose(0, 1)
        k = self.k(cat).view(T, self.nkv, self.hd).transpose(0, 1)
        v = self.v(cat).view(T, self.nkv, self.hd).transpose(0, 1)
        return rope(q, pos, self.inv_freq), rope(k, pos, self.inv_freq), v

    def post(self, x, att):
        """att: (nh, T, hd) -> output feature g (T, e)"""
        T = x.shape[0]
        h = x + self.o(att.transpose(0, 1).reshape(T, self.nh * self.hd))
        n = rms(h, self.ffn_norm, self.eps)
        return h + self.down(F.silu(self.gate(n)) * self.up(n))

    def logits(self, g):
        return self.out(rms(g, self.out_norm, self.eps))

    def unroll(self, feats, emb, steps):
        """feats: (T, 3e) target features, emb: (T, e) embeddings of the tokens.
        Returns [g_k (T-k, e)] for k = 0..steps: step k, row r = the output feature of the depth-k
        node below root r (position r + k); its logits predict the token after position r + k."""
        T = feats.shape[0]
        rep = self.nh // self.nkv
        x0 = torch.cat([torch.zeros(1, self.e), self.fc(feats[:-1])], 0)
        pos0 = torch.arange(T)
        q, k0, v0 = self.qkv(x0, emb, pos0)
        k0r, v0r = k0.repeat_interleave(rep, 0), v0.repeat_interleave(rep, 0)
        scale = 1.0 / math.sqrt(self.hd)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        s = (q @ k0r.transpose(1, 2)) * scale
        s = s.masked_fill(~mask, float("-inf"))
        g = self.post(x0, torch.softmax(s, -1) @ v0r)
        outs = [g]
        ks, vs = [], []  # per step j >= 1: (nh, T-j, hd)
        for st in range(1, steps + 1):
            n = T - st
            if n <= 0:
                break
            x = g[:n]
            qk, kk, vk = self.qkv(x, emb[st:], torch.arange(n) + st)
            ks.append(kk.repeat_interleave(rep, 0))
            vs.append(vk.repeat_interleave(rep, 0))
            sa = (qk @ k0r[:, :n].transpose(1, 2)) * scale        # keys: committed rows 0..r
            sa = sa.masked_fill(~mask[:n, :n], float("-inf"))
            sd = torch.stack([(qk * kj[:, :n]).sum(-1) for kj in ks], -1) * scale  # ancestors + self
            p = torch.softmax(torch.cat([sa, sd], -1), -1)
            att = p[..., :n] @ v0r[:, :n] + sum(p[..., n + j:n + j + 1] * vs[j][:, :n] for j in range(len(ks)))
            g = self.post(x, att)
            outs.append(g)
        return outs


# ---------------------------------------------------------------------------------- loss / eval
def targets(data, t2d, rows):
    """top-k target probabilities restricted to the draft vocab: (idx (n,K) draft ids, w (n,K)),
    rows whose target argmax is outside the draft vocab get zero weight."""
    ids = data.topk_id[rows]
    lg = data.topk_logit[rows].astype(np.float32)
    p = np.exp(lg - lg[:, :1])
    p /= p.sum(1, keepdims=True)
    d = t2d[ids]
    p = np.where(d >= 0, p, 0.0)
    ok = d[:, 0] >= 0
    z = p.sum(1, keepdims=True)
    p = np.where(z > 0, p / np.maximum(z, 1e-20), 0.0) * ok[:, None]
    return torch.from_numpy(np.maximum(d, 0)), torch.from_numpy(p.astype(np.float32)), torch.from_numpy(ok)


def seq_tensors(data, s):
    lo, n = int(s[0]), int(s[1])
    hi = lo + n
    feats = torch.from_numpy(np.asarray(data.feats[lo:hi], dtype=np.float32))
    toks = torch.from_numpy(data.tokens[lo:hi].astype(np.int64))
    return lo, hi, feats, toks


def write_gguf(path, head, meta, d2t, wtype, extra):
    """GGUF v3: metadata, tensor infos, 32-aligned data; checksum per feature_head_load.c."""
    tensors = []

    def mat(name, w):
        w = w.detach().float().numpy()
        if wtype == "f16":
            tensors.append((name, 1, [w.shape[1], w.shape[0]], w.astype("<f2").tobytes()))
        else:
            tensors.append((name, 0, [w.shape[1], w.shape[0]], w.astype("<f4").tobytes()))

    def vec(name, w):
        tensors.append((name, 0, [w.shape[0]], w.detach().float().numpy().astype("<f4").tobytes()))

    mat("fc.weight", head.fc.weight)
    vec("emb_norm.weight", head.emb_norm)
    vec("feat_norm.weight", head.feat_norm)
    mat("attn_q.weight", head.q.weight)
    mat("attn_k.weight", head.k.weight)
    mat("attn_v.weight", head.v.weight)
    mat("attn_output.weight", head.o.weight)
    vec("ffn_norm.weight", head.ffn_norm)
    mat("ffn_gate.weight", head.gate.weight)
    mat("ffn_up.weight", head.up.weight)
    mat("ffn_down.weight", head.down.weight)
    vec("output_norm.weight", head.out_norm)
    mat("output.weight", head.out.weight)
    checksum = hash64([t[3] for t in tensors])

    kv = []
    def s(k, v): kv.append((k, 8, v))
    def u32(k, v): kv.append((k, 4, int(v)))
    def f32(k, v): kv.append((k, 6, float(v)))
    s("general.architecture", ARCH)
    s("general.name", "SmolLM2-135M EAGLE-3 feature draft head")
    u32(KEY + "format_version", FORMAT_VERSION)
    u32(KEY + "n_embd", head.e)
    u32(KEY + "n_head", head.nh)
    u32(KEY + "n_head_kv", head.nkv)
    u32(KEY + "head_dim", head.hd)
    u32(KEY + "n_ff", head.ff)
    f32(KEY + "rms_eps", head.eps)
    f32(KEY + "rope_freq_base", float(meta["rope_freq_base"]))
    kv.append((KEY + "fuse_layers", 9, (4, [int(x) for x in meta["fuse_layers"].split(",")])))
    u32(KEY + "draft_vocab_size", len(d2t))
    u32(KEY + "target_vocab_size", int(meta["n_vocab"]))
    kv.append((KEY + "d2t", 9, (5, [int(x) for x in d2t])))
    s(KEY + "d2t_order", "frequency")  # most frequent first: the host may keep only the first rows
    s(KEY + "tensor_checksum", "%016x" % checksum)
    s(KEY + "target_fingerprint", meta["target_fingerprint"])
    for k, v in extra.items():
        s(KEY + "train." + k, str(v))

    def gstr(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
    for k, t, v in kv:
        out += gstr(k) + struct.pack("<I", t)
        if t == 8:
            out += gstr(v)
        elif t == 4:
            out += struct.pack("<I", v)
        elif t == 6:
            out += struct.pack("<f", v)
        else:
            et, arr = v
            out += struct.pack("<IQ", et, len(arr)) + np.asarray(arr, dtype="<u4" if et == 4 else "<i4").tobytes()
    off = 0
    for name, ty, ne, data in tensors:
        out += gstr(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        out += struct.pack("<IQ", ty, off)
        off += (len(data) + 31) // 32 * 32
    out += b"\0" * ((32 - len(out) % 32) % 32)
    for _, _, _, data in tensors:
        out += data + b"\0" * ((32 - len(data) % 32) % 32)
    with open(path, "wb") as f:
        f.write(out)
    return checksum


def read_gguf(path):
    """The keys and tensors of a head file this script wrote: ({key: value}, {name: float32 array})."""
    buf = open(path, "rb").read()
    if buf[:4] != b"GGUF":
        sys.exit("%s: not a GGUF file" % path)
    _, n_t, n_kv = struct.unpack_from("<IQQ", buf, 4)
    pos = 24

    def gstr(p):
        n = struct.unpack_from("<Q", buf, p)[0]
        return buf[p + 8:p + 8 + n].decode(), p + 8 + n
    kv = {}
    scalar = {4: ("<I", 4), 5: ("<i", 4), 6: ("<f", 4)}
    for _ in range(n_kv):
        k, pos = gstr(pos)
        t = struct.unpack_from("<I", buf, pos)[0]
        pos += 4
        if t == 8:
            kv[k], pos = gstr(pos)
        elif t in scalar:
            kv[k] = struct.unpack_from(scalar[t][0], buf, pos)[0]
            pos += scalar[t][1]
        elif t == 9:
            et, n = struct.unpack_from("<IQ", buf, pos)
            pos += 12
            if et not in (4, 5):
                sys.exit("%s: unexpected array type %d in %s" % (path, et, k))
            kv[k] = np.frombuffer(buf, dtype="<u4" if et == 4 else "<i4", count=n, offset=pos).copy()
            pos += 4 * n
        else:
            sys.exit("%s: unexpected key type %d in %s" % (path, t, k))
    infos = []
    for _ in range(n_t):
        name, pos = gstr(pos)
        nd = struct.unpack_from("<I", buf, pos)[0]
        ne = struct.unpack_from("<%dQ" % nd, buf, pos + 4)
        ty, off = struct.unpack_from("<IQ", buf, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        infos.append((name, ne, ty, off))
    base = (pos + 31) // 32 * 32
    tensors = {}
    for name, ne, ty, off in infos:
        n = int(np.prod(ne))
        dt = {0: "<f4", 1: "<f2"}.get(ty)
        if dt is None:
            sys.exit("%s: tensor %s has type %d (only f32/f16 are read)" % (path, name, ty))
        a = np.frombuffer(buf, dtype=dt, count=n, offset=base + off).astype(np.float32)
        tensors[name] = a.reshape(list(reversed(ne))) if len(ne) > 1 else a
    return kv, tensors


def load_head_file(path, hp):
    """A Head with the weights of a head file (for --reorder)."""
    kv, t = read_gguf(path)
    head = Head(**hp)
    names = {"fc.weight": head.fc.weight, "emb_norm.weight": head.emb_norm, "feat_norm.weight": head.feat_norm,
             "attn_q.weight": head.q.weight, "attn_k.weight": head.k.weight, "attn_v.weight": head.v.weight,
             "attn_output.weight": head.o.weight, "ffn_norm.weight": head.ffn_norm,
             "ffn_gate.weight": head.gate.weight, "ffn_up.weight": head.up.weight, "ffn_down.weight": head.down.weight,
             "output_norm.weight": head.out_norm, "output.weight": head.out.weight}
    with torch.no_grad():
        for n, p in names.items():
            if n not in t or tuple(t[n].shape) != tuple(p.shape):
                sys.exit("%s: tensor %s missing or of another shape" % (path, n))
            p.copy_(torch.from_numpy(t[n]))
    return kv, head


def hash64(blobs):
    """fh_hash (feature_head.h): sum of mix(w_i + i * golden) over zero-padded LE u64 words."""
    G = np.uint64(0x9E3779B97F4A7C15)
    h = np.uint64(0)
    i0 = 0
    with np.errstate(over="ignore"):
        for b in blobs:
            pad = (8 - len(b) % 8) % 8
            w = np.frombuffer(b + b"\0" * pad, dtype="<u8")
            i = np.arange(i0 + 1, i0 + 1 + len(w), dtype=np.uint64)
            z = w + i * G
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            h = h + z.sum(dtype=np.uint64)
            i0 += len(w)
        z = np.array([h ^ (np.uint64(i0) * np.uint64(0xD6E8FEB86659FD93))], dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return int(z[0])


def evaluate(head, data, embd, t2d, d2t_t, seqs, steps, max_seqs=64):
    """Greedy acceptance on held-out chat replies: at each reply position r (root) and depth k,
    does the head's top-1 at depth k equal the target's argmax, given the path so far is the
    target's own greedy continuation. Returns per-depth top-1 accuracy and chain acceptance."""
    hit = np.zeros(steps + 1)
    chain = np.zeros(steps + 1)
    cnt = 0
    with torch.no_grad():
        for s in [s for s in seqs if s[2] == 1][:max_seqs]:
            lo, hi, feats, toks = seq_tensors(data, s)
            T = hi - lo
            if T < steps + 2:
                continue
            outs = [head.logits(g) for g in head.unroll(feats, embd[toks], steps)]
            tgt = torch.from_numpy(data.topk_id[lo:hi, 0].astype(np.int64))
            n_prompt = int(s[3])
            roots = np.arange(max(n_prompt - 1, 0), T - steps)
            if len(roots) == 0:
                continue
            alive = np.ones(len(roots), dtype=bool)
            for k, lg in enumerate(outs):
                pred = d2t_t[lg.argmax(-1)].numpy()
                m = pred[roots] == tgt.numpy()[roots + k]
                hit[k] += m.sum()
                alive &= m
                chain[k] += alive.sum()
            cnt += len(roots)
    return hit / max(cnt, 1), chain / max(cnt, 1), cnt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--draft-vocab", type=int, default=8192)
    ap.add_argument("--ttt", type=int, default=2, help="unrolled draft steps after the first")
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--accum", type=int, default=4, help="sequences per optimizer step")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--holdout", type=int, default=20, help="every Nth sequence is held out")
    ap.add_argument("--time-budget", type=float, default=0.0, help="minutes of training at most (0 = no limit)")
    ap.add_argument("--loss-frac", type=float, default=0.5, help="share of rows per step that carry the loss")
    ap.add_argument("--max-len", type=int, default=512, help="tokens per training sequence at most")
    ap.add_argument("--wtype", choices=["f16", "f32"], default="f16")
    ap.add_argument("--reorder", metavar="HEAD", help="no training: rewrite HEAD (same data, same vocab) with its "
                    "draft vocabulary stored most frequent first, to OUT")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)

    data = Data(a.data)
    meta = data.meta
    e, nv = data.e, data.nv
    seqs = data.seqs
    held = seqs[np.arange(len(seqs)) % a.holdout == 0]
    train = seqs[np.arange(len(seqs)) % a.holdout != 0]
    print("data: %d tokens, %d sequences (%d train, %d held out; %d chat replies)" %
          (len(data.tokens), len(seqs), len(train), len(held), int((seqs[:, 2] == 1).sum())))

    # draft vocabulary: the target's most frequent argmax tokens on the training sequences
    tr_rows = np.concatenate([np.arange(s[0], s[0] + s[1]) for s in train])
    counts = np.bincount(data.topk_id[tr_rows, 0], minlength=nv)
    order = np.argsort(-counts, kind="stable")
    he_rows = np.concatenate([np.arange(s[0] + max(s[3] - 1, 0), s[0] + s[1]) for s in held])
    he_arg = data.topk_id[he_rows, 0]
    cov = {}
    for vd in (4096, 8192, 12288, 16384):
        sel = np.zeros(nv, dtype=bool)
        sel[order[:vd]] = True
        cov[vd] = float(sel[he_arg].mean())
    print("draft vocab coverage of held-out target argmax (replies): " +
          ", ".join("%dk %.4f" % (k // 1024, v) for k, v in cov.items()))
    # most frequent first (ties by lower id): a host may keep only the first rows (draft.params vocab)
    d2t = order[: a.draft_vocab].astype(np.int64)
    t2d = np.full(nv, -1, dtype=np.int64)
    t2d[d2t] = np.arange(len(d2t))
    d2t_t = torch.from_numpy(d2t)

    embd = torch.from_numpy(np.ascontiguousarray(data.embd))
    hp = dict(e=e, nh=int(meta["n_head"]), nkv=int(meta["n_head_kv"]), hd=int(meta["head_dim"]),
              ff=int(meta["n_ff"]), vd=len(d2t), eps=float(meta["rms_eps"]), rope_base=float(meta["rope_freq_base"]))
    if a.reorder:
        kv, head = load_head_file(a.reorder, dict(hp, vd=len(d2t)))
        old = kv[KEY + "d2t"].astype(np.int64)
        if sorted(old.tolist()) != sorted(d2t.tolist()):
            sys.exit("%s: its draft vocabulary is not the %d most frequent tokens of this data" % (a.reorder, len(d2t)))
        pos = {int(t): i for i, t in enumerate(old)}
        with torch.no_grad():
            head.out.weight.copy_(head.out.weight[torch.tensor([pos[int(t)] for t in d2t])])
        extra = {k[len(KEY + "train."):]: v for k, v in kv.items() if k.startswith(KEY + "train.")}
        cs = write_gguf(a.out, head, meta, d2t, a.wtype, extra)
        print("reordered %s -> %s (checksum %016x)" % (a.reorder, a.out, cs))
        return
    head = Head(**hp)
    with torch.no_grad():  # the target's tied LM head rows are a good start for the draft head
        head.out.weight.copy_(embd[d2t_t])
        for lin in (head.o, head.down):
            lin.weight.mul_(0.5)
    opt = torch.optim.AdamW(head.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.0)
    if len(train) == 0:
        sys.exit("draft_head_train: no training sequences (collect more data)")
    a.accum = min(a.accum, len(train))
    n_steps = max(1, int(a.epochs * len(train) / a.accum))
    warm = max(1, n_steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(i, n_steps) / n_steps)))
    t0 = time.time()
    step, seen = 0, 0
    ema = None
    stop = False
    while step < n_steps and not stop:
        perm = rng.permutation(len(train))
        for j in range(0, len(perm) - a.accum + 1, a.accum):
            opt.zero_grad()
            tot_tok = 0
            for idx in perm[j:j + a.accum]:
                s = train[idx]
                if s[1] > a.max_len:
                    s = s.copy()
                    s[1] = a.max_len
                lo, hi, feats, toks = seq_tensors(data, s)
                feats = feats + torch.rand_like(feats).sub_(0.5).mul_(0.05 * feats.abs().mean())
                outs = head.unroll(feats, embd[toks], a.ttt)
                loss = 0.0
                for k, g in enumerate(outs):
                    n = g.shape[0]
                    # the LM head is half the cost: a random subset of rows per step carries the loss
                    m = max(1, int(math.ceil(a.loss_frac * n)))
                    sel = np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)
                    di, w, _ = targets(data, t2d, lo + k + sel)
                    lp = torch.log_softmax(head.logits(g[torch.from_numpy(sel)]), -1)
                    loss = loss + (0.8 ** k) * -(lp.gather(1, di) * w).sum() / max(len(w), 1)
                loss = loss / a.accum
                loss.backward()
                tot_tok += hi - lo
            torch.nn.utils.clip_grad_norm_(head.parameters(), 0.5)
            opt.step()
            sched.step()
            step += 1
            seen += tot_tok
            ema = loss.item() * a.accum if ema is None else 0.95 * ema + 0.05 * loss.item() * a.accum
            el = time.time() - t0
            eta = el / step * (n_steps - step)
            if step % 5 == 0 or step == n_steps:
                bar = "#" * int(30 * step / n_steps)
                sys.stderr.write("\rtrain [%-30s] step %d/%d loss %.3f %.0f tok/s ETA %02d:%02d " %
                                 (bar, step, n_steps, ema, seen / el, eta // 60, eta % 60))
                sys.stderr.flush()
            if a.time_budget > 0 and el > a.time_budget * 60:
                sys.stderr.write("\ntime budget of %.0f min reached at step %d/%d\n" % (a.time_budget, step, n_steps))
                stop = True
                break
            if step >= n_steps:
                break
    sys.stderr.write("\n")
    head.eval()
    acc, chain, cnt = evaluate(head, data, embd, t2d, d2t_t, held, a.ttt)
    print("held-out greedy top-1 per depth (%d roots): %s" % (cnt, " ".join("d%d %.3f" % (k + 1, v) for k, v in enumerate(acc))))
    print("held-out chain acceptance P(first k accepted): %s; expected tokens per cycle (chain of %d) %.2f" %
          (" ".join("%.3f" % v for v in chain), a.ttt + 1, 1 + chain.sum()))
    extra = {"seed": a.seed, "steps": step, "tokens": len(data.tokens), "ttt": a.ttt, "lr": a.lr, "epochs": a.epochs, "loss_frac": a.loss_frac,
             "draft_vocab": a.draft_vocab,
             "coverage": "%.4f" % cov.get(a.draft_vocab, float("nan")),
             "heldout_top1": " ".join("%.3f" % v for v in acc)}
    cs = write_gguf(a.out, head, meta, d2t, a.wtype, extra)
    print("wrote %s (%.1f MB, checksum %016x)" % (a.out, os.path.getsize(a.out) / 1e6, cs))


if __name__ == "__main__":
    main()

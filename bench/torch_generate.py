"""PyTorch reference for bench/generate.ts: greedy generation with a KV cache at the GPT-2 small
shape (random weights, written by hand like HF GPT2LMHeadModel's eager path: per-layer past
keys/values concatenated, last-position logits only, torch.no_grad).

    /usr/bin/python3 bench/torch_generate.py PROMPT_TOKENS NEW_TOKENS THREADS

Prints one JSON line: tokens_per_s (new tokens / generation wall time, prefill included),
ms_per_token (decode steps only), prefill_ms.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

prompt_len, new_tokens, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
V, P, D, H, L = 50257, 1024, 768, 12, 12
hd = D // H
n = lambda *s: torch.randn(*s) * 0.02
wte, wpe = n(V, D), n(P, D)
layers = [dict(
    ln1w=torch.ones(D), ln1b=torch.zeros(D), attn_w=n(D, 3 * D), attn_b=torch.zeros(3 * D),
    proj_w=n(D, D), proj_b=torch.zeros(D), ln2w=torch.ones(D), ln2b=torch.zeros(D),
    fc_w=n(D, 4 * D), fc_b=torch.zeros(4 * D), fc2_w=n(4 * D, D), fc2_b=torch.zeros(D)) for _ in range(L)]
lnfw, lnfb = torch.ones(D), torch.zeros(D)


def forward(ids, past):
    B, T = ids.shape
    start = 0 if past is None else past[0][0].shape[2]
    x = wte[ids] + wpe[start:start + T]
    present = []
    for i, w in enumerate(layers):
        h = F.layer_norm(x, (D,), w["ln1w"], w["ln1b"], 1e-5)
        qkv = torch.addmm(w["attn_b"], h.view(-1, D), w["attn_w"]).view(B, T, 3 * D)
        q, k, v = [t.view(B, T, H, hd).transpose(1, 2) for t in qkv.split(D, dim=2)]
        if past is not None:
            k = torch.cat([past[i][0], k], dim=2)
            v = torch.cat([past[i][1], v], dim=2)
        present.append((k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        if T > 1:
            S = k.shape[2]
            mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
            s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
        a = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B * T, D)
        x = x + torch.addmm(w["proj_b"], a, w["proj_w"]).view(B, T, D)
        h = F.layer_norm(x, (D,), w["ln2w"], w["ln2b"], 1e-5).view(-1, D)
        m = F.gelu(torch.addmm(w["fc_b"], h, w["fc_w"]), approximate="tanh")
        x = x + torch.addmm(w["fc2_b"], m, w["fc2_w"]).view(B, T, D)
    x = F.layer_norm(x[:, -1:], (D,), lnfw, lnfb, 1e-5)
    return x @ wte.T, present


def generate(prompt, steps):
    ids = torch.tensor([prompt])
    out = []
    with torch.no_grad():
        t0 = time.perf_counter()
        logits, past = forward(ids, None)
        t1 = time.perf_counter()
        for _ in range(steps):
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            if len(out) == steps:
                break
            logits, past = forward(torch.tensor([[nxt]]), past)
        t2 = time.perf_counter()
    return out, t1 - t0, t2 - t1, t2 - t0


prompt = [(i * 7919) % V for i in range(prompt_len)]
generate(prompt, 4)  # warm-up
toks, prefill, decode, total = generate(prompt, new_tokens)
import resource
print(json.dumps({
    "tokens_per_s": new_tokens / total, "ms_per_token": 1000 * decode / max(1, new_tokens - 1), "prefill_ms": 1000 * prefill,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "torch": torch.__version__,
}))

"""PyTorch CPU F32 reference for bench/base-dtype.ts and bench/llama-train-step.ts:
the SmolLM2-135M shape (30 layers, hidden 576, 9/3 heads, intermediate 1536, vocab 49152, tied,
batch 4 x 256) or the TinyLlama-1.1B shape (22 layers, hidden 2048, 32/4 heads, intermediate 5632,
vocab 32000, untied LM head, batch 1 x 256),
one training step (forward, causal-LM loss, backward, clip, AdamW); LoRA r=8 alpha=16 on
q/k/v/o_proj (base frozen) or full fine-tuning. HF-style eager modules (modeling_llama.py:
RMSNorm in float32, rotate_half RoPE, repeat_kv, SwiGLU).

    /usr/bin/python3 bench/torch_llama_shapes.py smollm2|tinyllama lora|full STEPS THREADS

Prints one JSON line like bench/llama-train-step-one.ts. Needs Debian's python3-torch; never run by tests.
"""
import json, math, os, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {
    "smollm2": dict(vocab=49152, d=576, inter=1536, layers=30, heads=9, kv=3, batch=4, ctx=256, theta=100000.0, eps=1e-5, tied=True),
    "tinyllama": dict(vocab=32000, d=2048, inter=5632, layers=22, heads=32, kv=4, batch=1, ctx=256, theta=10000.0, eps=1e-5, tied=False),
}
S = SHAPES[sys.argv[1]]
S["layers"] = int(os.environ.get("BENCH_LAYERS", S["layers"]))  # a cut of the model, for quick runs


class Linear(nn.Module):
    def __init__(self, nin, nout, lora_r=0, alpha=16):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nout, nin) * 0.02)
        self.r = lora_r
        if lora_r:
            self.lora_A = nn.Parameter(torch.empty(lora_r, nin).uniform_(-1 / math.sqrt(nin), 1 / math.sqrt(nin)))
            self.lora_B = nn.Parameter(torch.zeros(nout, lora_r))
            self.scaling = alpha / lora_r

    def forward(self, x):
        y = F.linear(x, self.weight)
        if self.r:
            y = y + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scaling
        return y


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        v = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(v + S["eps"]))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(nn.Module):
    def __init__(self, r):
        super().__init__()
        d, hd = S["d"], S["d"] // S["heads"]
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(d), RMSNorm(d)
        self.q_proj, self.k_proj = Linear(d, S["heads"] * hd, r), Linear(d, S["kv"] * hd, r)
        self.v_proj, self.o_proj = Linear(d, S["kv"] * hd, r), Linear(S["heads"] * hd, d, r)
        self.gate_proj, self.up_proj, self.down_proj = Linear(d, S["inter"]), Linear(d, S["inter"]), Linear(S["inter"], d)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        H, KV, hd = S["heads"], S["kv"], S["d"] // S["heads"]
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, H, hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, KV, hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, KV, hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k[:, :, None].expand(B, KV, H // KV, T, hd).reshape(B, H, T, hd)
        v = v[:, :, None].expand(B, KV, H // KV, T, hd).reshape(B, H, T, hd)
        att = torch.where(mask, q @ k.transpose(2, 3) / math.sqrt(hd), torch.finfo(q.dtype).min)
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + self.o_proj(y)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, r):
        super().__init__()
        self.embed_tokens = nn.Parameter(torch.randn(S["vocab"], S["d"]) * 0.02)
        self.layers = nn.ModuleList([Layer(r) for _ in range(S["layers"])])
        self.norm = RMSNorm(S["d"])
        self.lm_head = None if S["tied"] else nn.Parameter(torch.randn(S["vocab"], S["d"]) * 0.02)

    def forward(self, ids, labels):
        T, hd = ids.size(1), S["d"] // S["heads"]
        inv = 1.0 / (S["theta"] ** (torch.arange(0, hd, 2).float() / hd))
        freqs = torch.arange(T).float()[:, None] * inv[None]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T)
        x = F.embedding(ids, self.embed_tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        logits = self.norm(x) @ (self.embed_tokens if self.lm_head is None else self.lm_head).t()
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1))


def main():
    method, steps, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Llama(8 if method == "lora" else 0)
    if method == "lora":
        for n, p in model.named_parameters():
            p.requires_grad = "lora_" in n
    params = [p for p in model.parameters() if p.requires_grad]
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in named if not n.endswith("norm.weight")]
    no_decay = [p for n, p in named if n.endswith("norm.weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)
    ids = torch.randint(0, S["vocab"], (S["batch"], S["ctx"]))
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = model(ids, ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    ms = 1000 * sum(times[1:]) / (len(times) - 1)
    print(json.dumps({
        "engine": f"pytorch {torch.__version__} cpu", "shape": sys.argv[1], "method": method, "steps": steps, "ms_per_step": ms,
        "tokens_per_s": S["batch"] * S["ctx"] * 1000 / ms, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable_params": sum(p.numel() for p in params), "threads": threads,
    }))


if __name__ == "__main__":
    main()

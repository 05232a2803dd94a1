"""PyTorch CPU reference for bench/train-step.ts: the same GPT-2 shapes, one training step
(forward, causal-LM loss, backward, clip, AdamW), LoRA (r=8, alpha=16 on c_attn, base frozen)
or full fine-tuning. HF-style eager modules (explicit attention, gelu_new, tied head).

    /usr/bin/python3 bench/torch_train_step.py SHAPE lora|full STEPS THREADS

Prints one JSON line like bench/train-step-one.ts. Needs Debian's python3-torch; never run by tests.
"""
import json, math, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {
    "small": dict(vocab=2048, ctx=128, d=256, heads=4, layers=4, batch=8),
    "gpt2": dict(vocab=50257, ctx=256, d=768, heads=12, layers=12, batch=4),
}


class Conv1D(nn.Module):
    def __init__(self, nin, nout, lora_r=0, alpha=16):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nin, nout) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nout))
        self.r = lora_r
        if lora_r:
            self.lora_A = nn.Parameter(torch.empty(lora_r, nin).uniform_(-1 / math.sqrt(nin), 1 / math.sqrt(nin)))
            self.lora_B = nn.Parameter(torch.zeros(nout, lora_r))
            self.scaling = alpha / lora_r

    def forward(self, x):
        y = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(*x.shape[:-1], -1)
        if self.r:
            y = y + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scaling
        return y


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Block(nn.Module):
    def __init__(self, d, h, lora_r):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = Conv1D(d, 3 * d, lora_r)
        self.c_proj = Conv1D(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = Conv1D(d, 4 * d)
        self.mlp_proj = Conv1D(4 * d, d)

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = [t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.h)
        att = torch.where(mask, att, torch.finfo(att.dtype).min)
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(gelu_new(self.c_fc(self.ln_2(x))))


class GPT2(nn.Module):
    def __init__(self, s, lora_r):
        super().__init__()
        self.wte = nn.Parameter(torch.randn(s["vocab"], s["d"]) * 0.02)
        self.wpe = nn.Parameter(torch.randn(1024, s["d"]) * 0.01)
        self.h = nn.ModuleList([Block(s["d"], s["heads"], lora_r) for _ in range(s["layers"])])
        self.ln_f = nn.LayerNorm(s["d"])

    def forward(self, ids, labels):
        T = ids.size(1)
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T)
        x = F.embedding(ids, self.wte) + self.wpe[:T]
        for b in self.h:
            x = b(x, mask)
        logits = self.ln_f(x) @ self.wte.t()
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1))


def main():
    shape, method, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    s = SHAPES[shape]
    model = GPT2(s, 8 if method == "lora" else 0)
    if method == "lora":
        for n, p in model.named_parameters():
            p.requires_grad = "lora_" in n
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for n, p in model.named_parameters() if p.requires_grad and not n.endswith("bias") and "ln_" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and (n.endswith("bias") or "ln_" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)
    ids = torch.randint(0, s["vocab"], (s["batch"], s["ctx"]))
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
        "engine": f"pytorch {torch.__version__} cpu", "shape": shape, "method": method, "steps": steps, "ms_per_step": ms,
        "tokens_per_s": s["batch"] * s["ctx"] * 1000 / ms, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable_params": sum(p.numel() for p in params), "threads": threads,
    }))


if __name__ == "__main__":
    main()

"""A plain PyTorch GPT-2 forward, the benchmark's baseline (what the issue calls "a plain PyTorch
forward"): the same safetensors file and token ids as `langquant nll`, eager attention written out
as in transformers' GPT2Attention (q·kᵀ/√d, causal mask, softmax, ·v), tanh GELU, tied output
matrix, per-token NLL by log-softmax. Prints the `langquant nll` JSON contract plus timings.

Usage: python3 bench/torch_gpt2.py MODEL_DIR IDS_FILE
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        data = bytearray(f.read())  # one copy of the file; tensors are views into it
    n = int.from_bytes(data[:8], "little")
    header = json.loads(bytes(data[8 : 8 + n]))
    start = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", f"{name}: only F32 is supported here"
        b, end = e["data_offsets"]
        count = (end - b) // 4
        out[name] = torch.frombuffer(data, dtype=torch.float32, count=count, offset=start + b).view(e["shape"])
    return out


def main():
    t0 = time.perf_counter()
    model_dir, ids_file = sys.argv[1], sys.argv[2]
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    W = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    seqs = json.load(open(ids_file))
    C, NH, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    HS = C // NH
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    p = "transformer."
    wte, wpe = W[p + "wte.weight"], W[p + "wpe.weight"]
    t_load = time.perf_counter() - t0

    def block(x, l):
        b = f"{p}h.{l}."
        T = x.shape[0]
        h = F.layer_norm(x, (C,), W[b + "ln_1.weight"], W[b + "ln_1.bias"], eps)
        qkv = torch.addmm(W[b + "attn.c_attn.bias"], h, W[b + "attn.c_attn.weight"])  # Conv1D: [in, out]
        q, k, v = (t.view(T, NH, HS).transpose(0, 1) for t in qkv.split(C, dim=1))  # [NH, T, HS]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(HS)  # [NH, T, T]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        att = torch.where(causal, att, torch.tensor(torch.finfo(att.dtype).min))
        y = (att.softmax(-1) @ v).transpose(0, 1).reshape(T, C)
        x = x + torch.addmm(W[b + "attn.c_proj.bias"], y, W[b + "attn.c_proj.weight"])
        h = F.layer_norm(x, (C,), W[b + "ln_2.weight"], W[b + "ln_2.bias"], eps)
        h = F.gelu(torch.addmm(W[b + "mlp.c_fc.bias"], h, W[b + "mlp.c_fc.weight"]), approximate="tanh")
        return x + torch.addmm(W[b + "mlp.c_proj.bias"], h, W[b + "mlp.c_proj.weight"])

    out = []
    t1 = time.perf_counter()
    with torch.inference_mode():
        for s in seqs:
            ids = torch.tensor(s, dtype=torch.long)
            T = ids.shape[0]
            x = wte[ids] + wpe[:T]
            for l in range(L):
                x = block(x, l)
            x = F.layer_norm(x, (C,), W[p + "ln_f.weight"], W[p + "ln_f.bias"], eps)
            logits = x @ wte.t()  # [T, V]
            nll = -logits[:-1].log_softmax(-1).gather(1, ids[1:, None]).squeeze(1)
            out.append({"length": T, "nll": nll.tolist(), "meanNll": float(nll.double().mean())})
    t_fwd = time.perf_counter() - t1
    json.dump({"sequences": out, "loadS": t_load, "forwardS": t_fwd, "threads": threads, "torch": torch.__version__}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

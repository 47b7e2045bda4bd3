#!/usr/bin/env python3
"""PyTorch + PEFT on CPU, the peer of `cargo bench -p assay-recipe --bench train`.

Same shapes as the Rust bench: a Qwen2 model built from a config (random weights), LoRA rank 8,
alpha 16, no dropout, on q/k/v/o; AdamW lr 1e-4; f32; one optimizer step = forward, backward,
step on a batch of random token ids with every target scored. Prints tokens/s per config.

    python3 -m venv v && v/bin/pip install torch transformers peft
    OMP_NUM_THREADS=2 v/bin/python enclave/recipe/benches/train_torch.py [--threads 2]
"""
import argparse
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import Qwen2Config, Qwen2ForCausalLM

CONFIGS = {
    "tiny_h128_l2_8x64": dict(hidden=128, layers=2, heads=4, kv=2, inter=352, vocab=512, batch=8, seq=64),
    "mid_h512_l4_8x128": dict(hidden=512, layers=4, heads=8, kv=2, inter=1376, vocab=2048, batch=8, seq=128),
}


def measure(name, c, steps, warmup):
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=c["vocab"], hidden_size=c["hidden"], intermediate_size=c["inter"],
                      num_hidden_layers=c["layers"], num_attention_heads=c["heads"],
                      num_key_value_heads=c["kv"], max_position_embeddings=4096,
                      tie_word_embeddings=True, attn_implementation="eager")
    model = Qwen2ForCausalLM(cfg).float()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, c["vocab"], (c["batch"], c["seq"] + 1))
    inputs, labels = ids[:, :-1], ids[:, 1:]

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    times.sort()
    median = times[len(times) // 2]
    tokens = c["batch"] * c["seq"]
    print(f"{name}: {median * 1e3:.2f} ms/step, {tokens / median:,.0f} tokens/s "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name, c in CONFIGS.items():
        measure(name, c, args.steps, warmup=3)


if __name__ == "__main__":
    main()

//! Training throughput: one optimizer step (forward, backward, AdamW) of LoRA rank 8 on
//! q/k/v/o, f32, for the tiny and mid configurations of the performance targets. Tokens per
//! second = batch × sequence / step time. `benches/train_torch.py` measures PyTorch + PEFT on
//! the same shapes. Run as `assay` runs a training: candle single-threaded, the batch in 2 row
//! shards on every CPU (`Threads::available`); `*_1thread` runs the shards one after the other.
#![allow(missing_docs)]

use std::hint::black_box;

use assay_recipe::config::ModelConfig;
use assay_recipe::lora::LoraSpec;
use assay_recipe::recipe::Optimizer;
use assay_recipe::rng::Rng;
use assay_recipe::threads::Threads;
use assay_recipe::train::{Batch, Trainer};
use assay_recipe::weights::{BaseFormat, load, random_tensors, save};
use candle_core::{Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group};

// glibc's malloc returns every large tensor to the kernel and faults it back in on the next
// step; the `assay` binary uses mimalloc for the same reason.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config(
    hidden: usize,
    layers: usize,
    heads: usize,
    kv: usize,
    inter: usize,
    vocab: usize,
) -> ModelConfig {
    ModelConfig {
        vocab_size: vocab,
        hidden_size: hidden,
        intermediate_size: inter,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: kv,
        max_position_embeddings: 4096,
        rope_theta: 1_000_000.0,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        hidden_act: "silu".into(),
    }
}

fn batch(vocab: usize, b: usize, t: usize) -> Batch {
    let mut rng = Rng::new(1, "bench-batch");
    let ids: Vec<u32> = (0..b * (t + 1))
        .map(|_| rng.below(vocab as u64) as u32)
        .collect();
    let inputs: Vec<u32> = (0..b)
        .flat_map(|r| ids[r * (t + 1)..r * (t + 1) + t].to_vec())
        .collect();
    let targets: Vec<u32> = (0..b)
        .flat_map(|r| ids[r * (t + 1) + 1..(r + 1) * (t + 1)].to_vec())
        .collect();
    let dev = Device::Cpu;
    Batch {
        inputs: Tensor::from_vec(inputs, (b, t), &dev).unwrap(),
        targets: Tensor::from_vec(targets, (b, t), &dev).unwrap(),
        mask: Tensor::ones((b, t), candle_core::DType::F32, &dev).unwrap(),
    }
}

fn bench_config(
    c: &mut Criterion,
    name: &str,
    cfg: ModelConfig,
    b: usize,
    t: usize,
    base: BaseFormat,
    threads: Threads,
) {
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), &cfg, &random_tensors(&cfg, 1).unwrap()).unwrap();
    let spec = LoraSpec {
        rank: 8,
        alpha: 16.0,
        dropout: 0.0,
        targets: ["q_proj", "k_proj", "v_proj", "o_proj"]
            .map(String::from)
            .to_vec(),
        seed: 1,
    };
    let model = load(dir.path(), &spec, base, t, &Device::Cpu).unwrap();
    let opt = Optimizer {
        lr: 1e-4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let mut trainer = Trainer::new(&model, &opt, 2, threads).unwrap();
    let batches = [batch(cfg.vocab_size, b, t)];
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    g.throughput(Throughput::Elements((b * t) as u64));
    g.bench_function(name, |bench| {
        bench.iter(|| {
            black_box(
                trainer
                    .step(&batches, 1e-4, |_, _| Rng::new(0, "d"), 0)
                    .unwrap(),
            )
        })
    });
    g.finish();
}

/// Forward and backward through one 3B-sized frozen layer (Qwen2.5-3B MLP up projection,
/// 2048 → 11008, 256 tokens): the input-gradient-only op against candle's plain matmul, whose
/// backward also computes the frozen weight's gradient.
fn bench_frozen_matmul(c: &mut Criterion) {
    use assay_recipe::ops::{FrozenWeight, frozen_matmul};
    let dev = Device::Cpu;
    let mut rng = Rng::new(2, "frozen");
    let mut normal =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.normal() as f32 * 0.02).collect() };
    let w = Tensor::from_vec(normal(11008 * 2048), (11008, 2048), &dev).unwrap();
    let x = candle_core::Var::from_vec(normal(256 * 2048), (256, 2048), &dev).unwrap();
    let frozen = FrozenWeight::F32(w.clone());
    let mut g = c.benchmark_group("frozen_layer_3b");
    g.sample_size(10);
    g.bench_function("input_grad_only_op", |b| {
        b.iter(|| {
            let y = frozen_matmul(x.as_tensor(), &frozen).unwrap();
            black_box(y.sum_all().unwrap().backward().unwrap())
        })
    });
    g.bench_function("candle_plain_matmul", |b| {
        b.iter(|| {
            let y = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
            black_box(y.sum_all().unwrap().backward().unwrap())
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    bench_frozen_matmul(c);
    let all = Threads::available();
    let tiny = || config(128, 2, 4, 2, 352, 512);
    let mid = || config(512, 4, 8, 2, 1376, 2048);
    bench_config(c, "tiny_h128_l2_8x64", tiny(), 8, 64, BaseFormat::F32, all);
    bench_config(
        c,
        "tiny_h128_l2_8x64_1thread",
        tiny(),
        8,
        64,
        BaseFormat::F32,
        Threads::ONE,
    );
    bench_config(c, "mid_h512_l4_8x128", mid(), 8, 128, BaseFormat::F32, all);
    bench_config(
        c,
        "mid_h512_l4_8x128_q4_0",
        mid(),
        8,
        128,
        BaseFormat::Q4_0,
        all,
    );
}

criterion_group!(benches, bench);

fn main() {
    assay_recipe::fixture::bench_with_candle_single_threaded();
    benches();
    Criterion::default().configure_from_args().final_summary();
}

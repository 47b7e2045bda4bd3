//! The recipe end to end on a tiny model built in code and loaded back through the Hugging Face
//! layout: gradients, a frozen base, learning, determinism, order-stable batching, eval.

use std::collections::BTreeMap;

use assay_recipe::data::Example;
use assay_recipe::eval::evaluate;
use assay_recipe::fixture::{reverse_task, tiny_config, write_model};
use assay_recipe::pinned::{Pinned, load_pinned, lora_spec};
use assay_recipe::recipe::Recipe;
use assay_recipe::threads::Threads;
use assay_recipe::train::{adapter_checksum, adapter_gradient, epoch_order, tokenize, train};
use candle_core::{Device, Tensor};

fn setup() -> (tempfile::TempDir, Recipe, Pinned) {
    let dir = tempfile::tempdir().unwrap();
    let recipe = write_model(dir.path(), &tiny_config(), 11).unwrap();
    let pinned = load_pinned(&recipe, dir.path(), &Device::Cpu).unwrap();
    (dir, recipe, pinned)
}

fn base_snapshot(p: &Pinned) -> BTreeMap<String, Vec<f32>> {
    let mut out = BTreeMap::new();
    out.insert(
        "embed".into(),
        p.model.embed.flatten_all().unwrap().to_vec1().unwrap(),
    );
    for (i, layer) in p.model.layers.iter().enumerate() {
        for (name, lin) in layer.linears() {
            if let assay_recipe::ops::FrozenWeight::F32(w) = &lin.weight {
                out.insert(
                    format!("{i}.{name}"),
                    w.flatten_all().unwrap().to_vec1().unwrap(),
                );
            }
            if let Some(b) = &lin.bias {
                out.insert(format!("{i}.{name}.bias"), b.to_vec1().unwrap());
            }
        }
        out.insert(format!("{i}.norm"), layer.input_norm.to_vec1().unwrap());
    }
    out
}

fn one_batch(p: &Pinned, recipe: &Recipe, examples: &[Example]) -> assay_recipe::train::Batch {
    let (data, _) = tokenize(&p.tokenizer, examples, recipe.training.seq_len).unwrap();
    let refs: Vec<_> = data.iter().collect();
    assay_recipe::train::batch(&refs, &Device::Cpu).unwrap()
}

#[test]
fn every_lora_parameter_gets_a_gradient_that_matches_finite_differences() {
    let (_dir, recipe, p) = setup();
    // B starts at zero, which would zero A's gradient: give B a value first.
    for (name, var) in p.model.lora_params() {
        if name.ends_with("lora_b") {
            let n = var.elem_count();
            let vals: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.05)
                .collect();
            var.set(&Tensor::from_vec(vals, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let b = one_batch(&p, &recipe, &reverse_task(3, &["a"], 0));
    let loss = p
        .model
        .masked_loss(&b.inputs, &b.targets, &b.mask, None)
        .unwrap();
    let grads = loss.backward().unwrap();
    let params = p.model.lora_params();
    assert_eq!(params.len(), 2 * 4 * 2, "A and B for q/k/v/o in 2 layers");
    for (name, var) in &params {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name} has no gradient"));
        let norm = g
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(norm > 0.0 && norm.is_finite(), "{name}: |g|² = {norm}");
    }
    // Finite differences on the entry with the largest gradient (f32 losses resolve ~1e-6, so a
    // small gradient would drown in rounding), central, in f64 arithmetic.
    let (name, var, index, analytic) = params
        .iter()
        .flat_map(|(name, var)| {
            let g = grads
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            g.into_iter()
                .enumerate()
                .map(move |(i, v)| (name.clone(), var.clone(), i, v))
        })
        .max_by(|a, b| a.3.abs().total_cmp(&b.3.abs()))
        .unwrap();
    let original = var
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let h = 1e-2f32;
    let at = |delta: f32| {
        let mut v = original.clone();
        v[index] += delta;
        var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
            .unwrap();
        f64::from(
            p.model
                .masked_loss(&b.inputs, &b.targets, &b.mask, None)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
        )
    };
    let numeric = (at(h) - at(-h)) / (2.0 * f64::from(h));
    let rel = (numeric - f64::from(analytic)).abs() / f64::from(analytic).abs();
    assert!(
        analytic.abs() > 1e-3,
        "{name}[{index}]: gradient {analytic} too small to check"
    );
    assert!(
        rel < 0.02,
        "{name}[{index}]: analytic {analytic}, numeric {numeric}"
    );
}

#[test]
fn training_learns_and_leaves_the_base_bitwise_unchanged() {
    let (_dir, recipe, p) = setup();
    let before = base_snapshot(&p);
    let holdout = reverse_task(8, &["h"], 5);
    let untrained = evaluate(&p.model, &p.tokenizer, &recipe, &holdout, Threads::ONE).unwrap();
    let report = train(
        &p.model,
        &p.tokenizer,
        &recipe,
        &reverse_task(24, &["a", "b"], 0),
        Threads::ONE,
    )
    .unwrap();
    let trained = evaluate(&p.model, &p.tokenizer, &recipe, &holdout, Threads::ONE).unwrap();
    assert_eq!(report.steps, 2 * 6);
    assert!(
        report.losses.last().unwrap() < report.losses.first().unwrap(),
        "{:?}",
        report.losses
    );
    assert!(
        trained.perplexity < untrained.perplexity,
        "{} → {}",
        untrained.perplexity,
        trained.perplexity
    );
    assert_eq!(base_snapshot(&p), before, "the frozen base changed");
}

#[test]
fn same_inputs_give_bitwise_identical_adapters_and_eval_on_any_thread_count() {
    let (dir, recipe, p) = setup();
    assert_eq!(
        recipe.training.shards, 2,
        "the shards run on parallel threads"
    );
    let data = reverse_task(12, &["a", "b", "c"], 1);
    let holdout = reverse_task(6, &["h"], 9);
    let threads = |n| Threads::new(n).unwrap();
    train(&p.model, &p.tokenizer, &recipe, &data, threads(1)).unwrap();
    let first = (
        adapter_checksum(&p.model).unwrap(),
        evaluate(&p.model, &p.tokenizer, &recipe, &holdout, threads(1)).unwrap(),
    );
    // A fresh load, and a reset of the same model, train to the same bits, whether the shards
    // and eval batches run on 2 threads or on 3 (more threads than shards).
    let q = load_pinned(&recipe, dir.path(), &Device::Cpu).unwrap();
    train(&q.model, &q.tokenizer, &recipe, &data, threads(2)).unwrap();
    let second = (
        adapter_checksum(&q.model).unwrap(),
        evaluate(&q.model, &q.tokenizer, &recipe, &holdout, threads(2)).unwrap(),
    );
    let mut r = q;
    r.model.reset_adapters(&lora_spec(&recipe)).unwrap();
    train(&r.model, &r.tokenizer, &recipe, &data, threads(3)).unwrap();
    let third = (
        adapter_checksum(&r.model).unwrap(),
        evaluate(&r.model, &r.tokenizer, &recipe, &holdout, threads(3)).unwrap(),
    );
    assert_eq!(first, second);
    assert_eq!(first, third);
    assert_eq!(first.1.perplexity.to_bits(), second.1.perplexity.to_bits());
}

#[test]
fn removing_a_contribution_keeps_the_others_order() {
    let (_dir, recipe, p) = setup();
    let all = reverse_task(20, &["a", "b", "c", "d"], 3);
    let (data, _) = tokenize(&p.tokenizer, &all, recipe.training.seq_len).unwrap();
    let without: Vec<_> = data
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 != 2)
        .map(|(_, d)| d.clone())
        .collect();
    for epoch in 0..3 {
        let full: Vec<[u8; 32]> = epoch_order(&data, 7, epoch)
            .into_iter()
            .map(|i| data[i].key)
            .collect();
        let part: Vec<[u8; 32]> = epoch_order(&without, 7, epoch)
            .into_iter()
            .map(|i| without[i].key)
            .collect();
        let kept: Vec<[u8; 32]> = full
            .into_iter()
            .filter(|k| without.iter().any(|w| w.key == *k))
            .collect();
        assert_eq!(kept, part, "epoch {epoch}");
    }
    // Epochs are shuffled differently.
    assert_ne!(epoch_order(&data, 7, 0), epoch_order(&data, 7, 1));
}

#[test]
fn eval_does_not_depend_on_holdout_order() {
    let (_dir, recipe, p) = setup();
    let holdout = reverse_task(9, &["h"], 2);
    let mut shuffled = holdout.clone();
    shuffled.reverse();
    shuffled.swap(0, 4);
    let a = evaluate(&p.model, &p.tokenizer, &recipe, &holdout, Threads::ONE).unwrap();
    let b = evaluate(&p.model, &p.tokenizer, &recipe, &shuffled, Threads::ONE).unwrap();
    assert_eq!(a.mean_token_loss.to_bits(), b.mean_token_loss.to_bits());
    assert_eq!(a, b);
    assert!((a.perplexity - a.mean_token_loss.exp()).abs() < 1e-12);
    assert!(a.tokens > 9 && a.examples == 9);
}

#[test]
fn loading_checks_every_pinned_hash() {
    let (dir, recipe, _) = setup();
    let mut other = recipe.clone();
    other.model.weights_sha256 = "00".repeat(32);
    assert!(matches!(
        load_pinned(&other, dir.path(), &Device::Cpu),
        Err(assay_recipe::Error::HashMismatch {
            what: "weights",
            ..
        })
    ));
    let mut other = recipe.clone();
    other.model.tokenizer_sha256 = "00".repeat(32);
    assert!(matches!(
        load_pinned(&other, dir.path(), &Device::Cpu),
        Err(assay_recipe::Error::HashMismatch {
            what: "tokenizer",
            ..
        })
    ));
    let mut other = recipe.clone();
    other.model.chat_template_sha256 = "00".repeat(32);
    assert!(matches!(
        load_pinned(&other, dir.path(), &Device::Cpu),
        Err(assay_recipe::Error::HashMismatch {
            what: "chat template",
            ..
        })
    ));
    let mut other = recipe.clone();
    other.model.config.rms_norm_eps = 1e-5;
    assert!(matches!(
        load_pinned(&other, dir.path(), &Device::Cpu),
        Err(assay_recipe::Error::Config { .. })
    ));
    // A missing tensor is named.
    let weights = dir.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    tensors.remove("model.layers.1.mlp.up_proj.weight");
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let mut repinned = recipe.clone();
    repinned.model.weights_sha256 = assay_recipe::weights::weights_hash(dir.path()).unwrap();
    let e = load_pinned(&repinned, dir.path(), &Device::Cpu)
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .contains("model.layers.1.mlp.up_proj.weight is missing"),
        "{e}"
    );
}

#[test]
fn gradient_accumulation_takes_one_step_per_group_of_micro_batches() {
    let (dir, mut recipe, _) = setup();
    recipe.training.epochs = 1;
    recipe.training.batch_size = 2;
    recipe.training.grad_accum = 3;
    recipe.lora.dropout = 0.1;
    let data = reverse_task(10, &["a", "b"], 4);
    let p = load_pinned(&recipe, dir.path(), &Device::Cpu).unwrap();
    let report = train(&p.model, &p.tokenizer, &recipe, &data, Threads::ONE).unwrap();
    // 10 examples → 5 micro-batches → groups of 3 and 2.
    assert_eq!(report.steps, 2);
    assert!(report.losses.iter().all(|l| l.is_finite()));
    // With dropout on, the seeded masks (one stream per shard) still repeat bit for bit, also
    // when the shards run on two threads.
    let q = load_pinned(&recipe, dir.path(), &Device::Cpu).unwrap();
    let again = train(
        &q.model,
        &q.tokenizer,
        &recipe,
        &data,
        Threads::new(2).unwrap(),
    )
    .unwrap();
    assert_eq!(report, again);
    assert_eq!(
        adapter_checksum(&p.model).unwrap(),
        adapter_checksum(&q.model).unwrap()
    );
    // The schedule: linear warm-up over 2 steps, then linear decay to 0.
    use assay_recipe::train::learning_rate;
    let lr = recipe.optimizer.lr;
    assert_eq!(learning_rate(&recipe, 0, 10), lr / 2.0);
    assert_eq!(learning_rate(&recipe, 1, 10), lr);
    assert!((learning_rate(&recipe, 6, 10) - lr * 0.5).abs() < 1e-12);
}

#[test]
fn shards_change_only_the_order_of_float_sums() {
    // The same loss computed in 1, 2 or 4 row shards: the gradients agree to rounding (a wrong
    // normalisation, e.g. by the shard's own token count, would be off by a factor), and so do
    // trainings; the bits differ, which is why the recipe pins the shard count.
    let (dir, mut recipe, p) = setup();
    recipe.training.batch_size = 4;
    let data = reverse_task(8, &["a"], 6);
    for (name, var) in p.model.lora_params() {
        if name.ends_with("lora_b") {
            let n = var.elem_count();
            let vals: Vec<f32> = (0..n).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.03).collect();
            var.set(&Tensor::from_vec(vals, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let gradient = |shards: usize| {
        let mut r = recipe.clone();
        r.training.shards = shards;
        adapter_gradient(&p.model, &p.tokenizer, &r, &data, Threads::new(2).unwrap()).unwrap()
    };
    let one = gradient(1);
    let norm = one.iter().map(|g| g * g).sum::<f32>().sqrt();
    assert!(norm > 1e-3, "|g| = {norm}");
    for shards in [2, 4] {
        let other = gradient(shards);
        let diff = one
            .iter()
            .zip(&other)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        assert!(
            diff <= 1e-5 * norm,
            "{shards} shards: |Δg| = {diff}, |g| = {norm}"
        );
        assert_ne!(one, other, "{shards} shards summed in the same order as 1");
    }
    let trained = |shards: usize| {
        let mut r = recipe.clone();
        r.training.shards = shards;
        let q = load_pinned(&r, dir.path(), &Device::Cpu).unwrap();
        let report = train(&q.model, &q.tokenizer, &r, &data, Threads::ONE).unwrap();
        (report.losses, adapter_checksum(&q.model).unwrap())
    };
    let (l1, c1) = trained(1);
    let (l2, c2) = trained(2);
    for (a, b) in l1.iter().zip(&l2) {
        assert!((a - b).abs() <= 1e-4 * a.abs(), "losses {l1:?} vs {l2:?}");
    }
    assert_ne!(c1, c2);
}

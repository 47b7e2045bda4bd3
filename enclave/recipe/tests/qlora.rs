//! QLoRA: the frozen base held 4-bit quantized, adapters trained on top, each frozen product
//! computed on the weight dequantized for that product.

use assay_recipe::eval::evaluate;
use assay_recipe::fixture::{reverse_task, tiny_config, write_model};
use assay_recipe::ops::FrozenWeight;
use assay_recipe::pinned::load_pinned;
use assay_recipe::threads::Threads;
use assay_recipe::train::{adapter_checksum, tokenize, train};
use assay_recipe::weights::BaseFormat;
use candle_core::{Device, Tensor};

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn quantized_base_trains_deterministically_and_tracks_f32_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let f32_recipe = write_model(dir.path(), &tiny_config(), 3).unwrap();
    let mut q_recipe = f32_recipe.clone();
    q_recipe.model.base = BaseFormat::Q4_0;
    let q = load_pinned(&q_recipe, dir.path(), &Device::Cpu).unwrap();
    assert!(matches!(
        q.model.layers[0].q_proj.weight,
        FrozenWeight::Quantized(_)
    ));

    // Dequantize-at-load: the same quantized weights, held in f32, through the plain f32 op; and
    // the original f32 weights.
    let mut deq = load_pinned(&f32_recipe, dir.path(), &Device::Cpu).unwrap();
    for (layer, ql) in deq.model.layers.iter_mut().zip(&q.model.layers) {
        for ((_, dst), (_, src)) in layer.linears_mut().into_iter().zip(ql.linears()) {
            if let FrozenWeight::Quantized(qt) = &src.weight {
                dst.weight = FrozenWeight::F32(qt.dequantize(&Device::Cpu).unwrap());
            }
        }
    }
    let full = load_pinned(&f32_recipe, dir.path(), &Device::Cpu).unwrap();
    // Give B a value so A's gradients are not all zero.
    for model in [&q.model, &deq.model, &full.model] {
        for (name, var) in model.lora_params() {
            if name.ends_with("lora_b") {
                let vals: Vec<f32> = (0..var.elem_count())
                    .map(|i| ((i % 7) as f32 - 3.0) * 0.02)
                    .collect();
                var.set(&Tensor::from_vec(vals, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
            }
        }
    }
    let data = reverse_task(4, &["a"], 0);
    let (tok, _) = tokenize(&q.tokenizer, &data, 96).unwrap();
    let refs: Vec<_> = tok.iter().collect();
    let b = assay_recipe::train::batch(&refs, &Device::Cpu).unwrap();
    let gradients = |model: &assay_recipe::model::Qwen2| -> Vec<f32> {
        let grads = model
            .masked_loss(&b.inputs, &b.targets, &b.mask, None)
            .unwrap()
            .backward()
            .unwrap();
        model
            .lora_params()
            .iter()
            .flat_map(|(_, v)| values(grads.get(v.as_tensor()).unwrap()))
            .collect()
    };
    let (gq, gd, gf) = (
        gradients(&q.model),
        gradients(&deq.model),
        gradients(&full.model),
    );
    // On the fly or at load, the same dequantized weights give the same bits.
    assert_eq!(gq, gd, "QLoRA gradients differ from dequantize-at-load");
    // Against the unquantized base the gradients move by about as much as 4 bits move the
    // weights themselves (relative RMS error of Q4_0 on these random weights).
    let rel = |a: &[f32], b: &[f32]| {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum::<f64>();
        let norm = b.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>();
        (diff / norm).sqrt()
    };
    let weights = |m: &assay_recipe::model::Qwen2| -> Vec<f32> {
        m.layers
            .iter()
            .flat_map(|l| l.linears().map(|(_, lin)| lin.weight.clone()))
            .flat_map(|w| values(&w.dense(&Device::Cpu).unwrap()))
            .collect()
    };
    let weight_error = rel(&weights(&q.model), &weights(&full.model));
    let gradient_error = rel(&gq, &gf);
    eprintln!("Q4_0 against f32: weights {weight_error:.4}, adapter gradients {gradient_error:.4}");
    assert!(weight_error > 0.0 && weight_error < 0.2, "{weight_error}");
    assert!(
        gradient_error > 0.0 && gradient_error < 2.0 * weight_error,
        "gradients {gradient_error}, weights {weight_error}"
    );

    // Training on the quantized base runs and repeats bit for bit, on 1 or 2 threads.
    let train_data = reverse_task(12, &["a", "b"], 1);
    let holdout = reverse_task(4, &["h"], 2);
    let two = Threads::new(2).unwrap();
    let r1 = load_pinned(&q_recipe, dir.path(), &Device::Cpu).unwrap();
    train(
        &r1.model,
        &r1.tokenizer,
        &q_recipe,
        &train_data,
        Threads::ONE,
    )
    .unwrap();
    let r2 = load_pinned(&q_recipe, dir.path(), &Device::Cpu).unwrap();
    train(&r2.model, &r2.tokenizer, &q_recipe, &train_data, two).unwrap();
    assert_eq!(
        adapter_checksum(&r1.model).unwrap(),
        adapter_checksum(&r2.model).unwrap()
    );
    let e1 = evaluate(&r1.model, &r1.tokenizer, &q_recipe, &holdout, Threads::ONE).unwrap();
    let e2 = evaluate(&r2.model, &r2.tokenizer, &q_recipe, &holdout, two).unwrap();
    assert_eq!(e1, e2);
}

//! `train()`: LoRA fine-tuning with AdamW, the recipe's schedule, loss on answer tokens only,
//! gradient accumulation, and seeded, order-stable batching.

use aws_lc_rs::digest::{Context, SHA256};
use candle_core::{DType, Device, Tensor, Var};

use crate::Error;
use crate::data::Example;
use crate::model::Qwen2;
use crate::recipe::{Decay, Recipe};
use crate::rng::Rng;
use crate::threads::{Threads, map_ordered};
use crate::tokenizer::ChatTokenizer;

/// An example ready for the model: inputs, next-token targets and the mask of scored targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokenized {
    /// Identity of the source example (its content hash).
    pub key: [u8; 32],
    /// Input ids (all tokens but the last).
    pub inputs: Vec<u32>,
    /// Target ids (all tokens but the first).
    pub targets: Vec<u32>,
    /// 1 where the target is an answer token.
    pub scored: Vec<bool>,
}

/// Tokenizes examples with the chat template, keeping the first `seq_len` tokens. Examples left
/// with no answer token to score are dropped; their count is returned.
pub fn tokenize(
    tokenizer: &ChatTokenizer,
    examples: &[Example],
    seq_len: usize,
) -> Result<(Vec<Tokenized>, usize), Error> {
    let mut out = Vec::with_capacity(examples.len());
    let mut dropped = 0;
    for ex in examples {
        let enc = tokenizer.encode_pair(&ex.prompt, &ex.answer)?;
        let n = enc.ids.len().min(seq_len);
        if n < 2 || !enc.answer[1..n].iter().any(|&a| a) {
            dropped += 1;
            continue;
        }
        out.push(Tokenized {
            key: ex.content_hash(),
            inputs: enc.ids[..n - 1].to_vec(),
            targets: enc.ids[1..n].to_vec(),
            scored: enc.answer[1..n].to_vec(),
        });
    }
    Ok((out, dropped))
}

/// The order of an epoch: examples sorted by SHA-256(seed ‖ epoch ‖ example key). Each
/// example's place depends only on itself, so removing one never reorders the others.
pub fn epoch_order(examples: &[Tokenized], seed: u64, epoch: usize) -> Vec<usize> {
    let mut keyed: Vec<([u8; 32], usize)> = examples
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let mut ctx = Context::new(&SHA256);
            ctx.update(&seed.to_le_bytes());
            ctx.update(&(epoch as u64).to_le_bytes());
            ctx.update(&ex.key);
            (ctx.finish().as_ref().try_into().expect("32 bytes"), i)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// A padded batch: inputs and targets (batch, len) u32, mask (batch, len) f32.
pub struct Batch {
    /// Input ids.
    pub inputs: Tensor,
    /// Target ids.
    pub targets: Tensor,
    /// Scored-token mask.
    pub mask: Tensor,
}

/// Pads `examples` on the right to their longest length (pad id 0, mask 0).
pub fn batch(examples: &[&Tokenized], device: &Device) -> candle_core::Result<Batch> {
    let len = examples.iter().map(|e| e.inputs.len()).max().unwrap_or(1);
    let b = examples.len();
    let (mut inputs, mut targets, mut mask) = (
        vec![0u32; b * len],
        vec![0u32; b * len],
        vec![0f32; b * len],
    );
    for (r, ex) in examples.iter().enumerate() {
        let row = r * len;
        inputs[row..row + ex.inputs.len()].copy_from_slice(&ex.inputs);
        targets[row..row + ex.targets.len()].copy_from_slice(&ex.targets);
        for (j, &s) in ex.scored.iter().enumerate() {
            mask[row + j] = if s { 1.0 } else { 0.0 };
        }
    }
    Ok(Batch {
        inputs: Tensor::from_vec(inputs, (b, len), device)?,
        targets: Tensor::from_vec(targets, (b, len), device)?,
        mask: Tensor::from_vec(mask, (b, len), device)?,
    })
}

/// The learning rate at optimizer step `step` (0-based) of `total`.
pub fn learning_rate(recipe: &Recipe, step: usize, total: usize) -> f64 {
    let peak = recipe.optimizer.lr;
    let warmup = recipe.schedule.warmup_steps;
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = (step - warmup) as f64 / span;
    match recipe.schedule.decay {
        Decay::Constant => peak,
        Decay::Linear => peak * (1.0 - progress),
        Decay::Cosine => peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

/// What a training run did.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Optimizer steps taken.
    pub steps: usize,
    /// Mean loss of each optimizer step (over its micro-batches).
    pub losses: Vec<f32>,
    /// Examples dropped for having no answer token within `seq_len`.
    pub dropped: usize,
    /// Examples trained on.
    pub examples: usize,
}

/// AdamW state (decoupled weight decay, as PyTorch's AdamW): one first and second moment per
/// parameter, in the model's sorted parameter order.
struct AdamW {
    params: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: i32,
}

impl AdamW {
    fn new(params: Vec<Var>) -> candle_core::Result<Self> {
        let zeros = |p: &Var| Tensor::zeros(p.shape(), DType::F32, p.device());
        Ok(AdamW {
            m: params
                .iter()
                .map(zeros)
                .collect::<candle_core::Result<_>>()?,
            v: params
                .iter()
                .map(zeros)
                .collect::<candle_core::Result<_>>()?,
            params,
            t: 0,
        })
    }

    fn step(
        &mut self,
        grads: &[Tensor],
        lr: f64,
        o: &crate::recipe::Optimizer,
    ) -> candle_core::Result<()> {
        self.t += 1;
        let (c1, c2) = (1.0 - o.beta1.powi(self.t), 1.0 - o.beta2.powi(self.t));
        for (i, p) in self.params.iter().enumerate() {
            let g = &grads[i];
            self.m[i] = ((&self.m[i] * o.beta1)? + (g * (1.0 - o.beta1))?)?;
            self.v[i] = ((&self.v[i] * o.beta2)? + (g.sqr()? * (1.0 - o.beta2))?)?;
            let m_hat = (&self.m[i] / c1)?;
            let v_hat = (&self.v[i] / c2)?;
            let update = m_hat.div(&(v_hat.sqrt()? + o.eps)?)?;
            let decayed = (p.as_tensor() * (1.0 - lr * o.weight_decay))?;
            p.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(())
    }
}

/// The gradient of one micro-batch's loss, computed shard by shard (see `docs/recipe.md`):
/// shard s of `shards` holds rows ⌊r·s/S⌋ … ⌊r·(s+1)/S⌋ of the micro-batch's r rows, its loss is
/// `scale` × its rows' summed NLL of scored tokens, and the shards' gradients are added in shard
/// order whichever of the `threads` computed them. Returns the summed loss value and the
/// gradients (detached, in `params` order; zeros for a parameter the loss does not reach).
/// `dropout(s)` gives shard s's dropout stream while training.
fn micro_batch_gradient(
    model: &Qwen2,
    params: &[Var],
    b: &Batch,
    scale: f64,
    shards: usize,
    threads: Threads,
    dropout: Option<&dyn Fn(usize) -> Rng>,
) -> Result<(f32, Vec<Tensor>), Error> {
    let rows = b.inputs.dim(0)?;
    let shards = shards.clamp(1, rows.max(1));
    let rngs: Vec<Option<Rng>> = (0..shards).map(|s| dropout.map(|d| d(s))).collect();
    let per_shard = map_ordered(shards, threads, |s| -> Result<(f32, Vec<Tensor>), Error> {
        let start = rows * s / shards;
        let len = rows * (s + 1) / shards - start;
        let mut rng = rngs[s].clone();
        let nll = model.masked_nll_sum(
            &b.inputs.narrow(0, start, len)?,
            &b.targets.narrow(0, start, len)?,
            &b.mask.narrow(0, start, len)?,
            rng.as_mut(),
        )?;
        let loss = (nll * scale)?;
        let value = loss.to_scalar::<f32>()?;
        let grads = loss.backward()?;
        let grads = params
            .iter()
            // Detached: a gradient is a value; kept with its history, the AdamW moments would
            // hold every step's graph alive.
            .map(|p| match grads.get(p.as_tensor()) {
                Some(g) => Ok(g.detach()),
                None => p.as_tensor().zeros_like(),
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok((value, grads))
    });
    let mut value = 0f32;
    let mut sum = None;
    for shard in per_shard {
        let (v, grads) = shard?;
        value += v;
        sum = Some(accumulate(sum, grads)?);
    }
    Ok((value, sum.expect("at least one shard")))
}

/// `acc + grads`, parameter by parameter (`grads` itself when nothing is accumulated yet).
fn accumulate(acc: Option<Vec<Tensor>>, grads: Vec<Tensor>) -> candle_core::Result<Vec<Tensor>> {
    match acc {
        None => Ok(grads),
        Some(acc) => acc.into_iter().zip(grads).map(|(a, g)| a + g).collect(),
    }
}

/// The number of scored tokens of a batch (exact: a count far below 2²⁴ summed in f32).
fn scored_tokens(b: &Batch) -> candle_core::Result<f64> {
    Ok(f64::from(b.mask.sum_all()?.to_scalar::<f32>()?))
}

/// One optimizer step at a time: forward and backward over each micro-batch (shard by shard),
/// gradients averaged over the micro-batches, then AdamW.
pub struct Trainer<'m> {
    model: &'m Qwen2,
    params: Vec<Var>,
    opt: AdamW,
    optimizer: crate::recipe::Optimizer,
    shards: usize,
    threads: Threads,
}

impl<'m> Trainer<'m> {
    /// A trainer of `model`'s adapters with `optimizer`'s settings, splitting each micro-batch
    /// into `shards` row shards computed on up to `threads` threads.
    pub fn new(
        model: &'m Qwen2,
        optimizer: &crate::recipe::Optimizer,
        shards: usize,
        threads: Threads,
    ) -> Result<Self, Error> {
        let params: Vec<Var> = model.lora_params().into_iter().map(|(_, v)| v).collect();
        Ok(Trainer {
            model,
            opt: AdamW::new(params.clone())?,
            params,
            optimizer: optimizer.clone(),
            shards,
            threads,
        })
    }

    /// One optimizer step over `micro` batches at learning rate `lr`; `dropout(m, s)` gives the
    /// dropout stream of micro-batch m's shard s. Returns the mean loss.
    pub fn step(
        &mut self,
        micro: &[Batch],
        lr: f64,
        dropout: impl Fn(usize, usize) -> Rng,
        step: usize,
    ) -> Result<f32, Error> {
        let mut acc: Option<Vec<Tensor>> = None;
        let mut loss_sum = 0f32;
        for (m, b) in micro.iter().enumerate() {
            let shard_rng = |s: usize| dropout(m, s);
            let (value, grads) = micro_batch_gradient(
                self.model,
                &self.params,
                b,
                1.0 / scored_tokens(b)?,
                self.shards,
                self.threads,
                Some(&shard_rng),
            )?;
            if !value.is_finite() {
                return Err(Error::Diverged { step, loss: value });
            }
            loss_sum += value;
            acc = Some(accumulate(acc, grads)?);
        }
        let n = micro.len() as f64;
        let grads: Vec<Tensor> = acc
            .expect("at least one micro-batch")
            .into_iter()
            .map(|g| g / n)
            .collect::<candle_core::Result<_>>()?;
        self.opt.step(&grads, lr, &self.optimizer)?;
        Ok(loss_sum / micro.len() as f32)
    }
}

/// Trains `model`'s adapters on `examples` per `recipe`, on up to `threads` threads.
pub fn train(
    model: &Qwen2,
    tokenizer: &ChatTokenizer,
    recipe: &Recipe,
    examples: &[Example],
    threads: Threads,
) -> Result<TrainReport, Error> {
    let t = &recipe.training;
    let (data, dropped) = tokenize(tokenizer, examples, t.seq_len)?;
    if data.is_empty() {
        return Err(Error::Empty(
            "no example has an answer token within training.seq_len".into(),
        ));
    }
    let mut trainer = Trainer::new(model, &recipe.optimizer, t.shards, threads)?;
    let micro_per_epoch = data.len().div_ceil(t.batch_size);
    let steps_per_epoch = micro_per_epoch.div_ceil(t.grad_accum);
    let total = steps_per_epoch * t.epochs;
    let mut losses = Vec::with_capacity(total);
    let mut step = 0;
    for epoch in 0..t.epochs {
        let order = epoch_order(&data, t.seed, epoch);
        let micro: Vec<Vec<&Tokenized>> = order
            .chunks(t.batch_size)
            .map(|c| c.iter().map(|&i| &data[i]).collect())
            .collect();
        for group in micro.chunks(t.grad_accum) {
            let batches: Vec<Batch> = group
                .iter()
                .map(|examples| batch(examples, model.device()))
                .collect::<candle_core::Result<_>>()?;
            let lr = learning_rate(recipe, step, total);
            let seed = t.seed;
            let loss = trainer.step(
                &batches,
                lr,
                |m, s| Rng::new(seed, &format!("dropout.{epoch}.{step}.{m}.{s}")),
                step,
            )?;
            losses.push(loss);
            step += 1;
        }
    }
    Ok(TrainReport {
        steps: step,
        losses,
        dropped,
        examples: data.len(),
    })
}

/// The gradient of the adapters (in [`Qwen2::lora_params`] order, flattened) of the loss on
/// `examples` as training would weigh them: each micro-batch of `batch_size` examples contributes
/// its answer-token mean loss times its number of examples, without dropout, computed in the
/// recipe's shards on up to `threads` threads. The model is not changed. First-order attribution
/// uses it (`g_holdout · g_contribution`).
pub fn adapter_gradient(
    model: &Qwen2,
    tokenizer: &ChatTokenizer,
    recipe: &Recipe,
    examples: &[Example],
    threads: Threads,
) -> Result<Vec<f32>, Error> {
    let (data, _) = tokenize(tokenizer, examples, recipe.training.seq_len)?;
    let params: Vec<Var> = model.lora_params().into_iter().map(|(_, v)| v).collect();
    let mut acc: Option<Vec<Tensor>> = None;
    let refs: Vec<&Tokenized> = data.iter().collect();
    for chunk in refs.chunks(recipe.training.batch_size.max(1)) {
        let b = batch(chunk, model.device())?;
        let (_, grads) = micro_batch_gradient(
            model,
            &params,
            &b,
            chunk.len() as f64 / scored_tokens(&b)?,
            recipe.training.shards,
            threads,
            None,
        )?;
        acc = Some(accumulate(acc, grads)?);
    }
    let mut out = Vec::new();
    match acc {
        Some(grads) => {
            for g in grads {
                out.extend(g.flatten_all()?.to_vec1::<f32>()?);
            }
        }
        None => {
            for p in &params {
                out.extend(std::iter::repeat_n(0.0, p.as_tensor().elem_count()));
            }
        }
    }
    Ok(out)
}

/// SHA-256 over the adapters: each parameter's name, a NUL, its shape (u64 LE per dimension) and
/// its f32 values (LE), in sorted order. Equal checksums mean bitwise-equal adapters.
pub fn adapter_checksum(model: &Qwen2) -> Result<String, Error> {
    let mut ctx = Context::new(&SHA256);
    for (name, var) in model.lora_params() {
        ctx.update(name.as_bytes());
        ctx.update(&[0]);
        for d in var.dims() {
            ctx.update(&(*d as u64).to_le_bytes());
        }
        for x in var.as_tensor().flatten_all()?.to_vec1::<f32>()? {
            ctx.update(&x.to_le_bytes());
        }
    }
    Ok(hex::encode(ctx.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{reverse_task, tiny_config, write_model};
    use crate::pinned::load_pinned;

    #[test]
    fn optimizer_state_holds_values_not_graphs() {
        // A gradient kept with its autograd history would make the AdamW moments hold every
        // step's whole graph alive (measured: 5 GB after a few hundred tiny steps).
        let dir = tempfile::tempdir().unwrap();
        let recipe = write_model(dir.path(), &tiny_config(), 3).unwrap();
        let p = load_pinned(&recipe, dir.path(), &Device::Cpu).unwrap();
        let (data, _) = tokenize(&p.tokenizer, &reverse_task(4, &["c"], 1), 64).unwrap();
        let refs: Vec<&Tokenized> = data.iter().collect();
        let b = batch(&refs, p.model.device()).unwrap();
        let mut trainer = Trainer::new(&p.model, &recipe.optimizer, 2, Threads::ONE).unwrap();
        for step in 0..2 {
            trainer
                .step(
                    std::slice::from_ref(&b),
                    1e-3,
                    |_, _| Rng::new(0, "d"),
                    step,
                )
                .unwrap();
        }
        assert!(!trainer.opt.m.is_empty());
        for t in trainer.opt.m.iter().chain(&trainer.opt.v) {
            assert!(
                !t.track_op(),
                "an optimizer moment records autograd history"
            );
        }
    }
}

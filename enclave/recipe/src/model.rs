//! A Qwen2-architecture decoder (RMSNorm, rotary embeddings, grouped-query attention, SwiGLU MLP,
//! tied or untied embeddings) built from differentiable ops, with LoRA on chosen modules.

use candle_core::{D, DType, Device, Tensor, Var};

use crate::config::ModelConfig;
use crate::lora::LoraLinear;
use crate::ops::{FrozenWeight, frozen_matmul, rms_norm, rope, rope_tables, softmax_last_dim};
use crate::rng::Rng;

/// One decoder layer.
#[derive(Clone, Debug)]
pub struct Layer {
    /// RMSNorm before attention.
    pub input_norm: Tensor,
    /// Query projection (with bias).
    pub q_proj: LoraLinear,
    /// Key projection (with bias).
    pub k_proj: LoraLinear,
    /// Value projection (with bias).
    pub v_proj: LoraLinear,
    /// Output projection.
    pub o_proj: LoraLinear,
    /// RMSNorm before the MLP.
    pub post_norm: Tensor,
    /// SwiGLU gate.
    pub gate_proj: LoraLinear,
    /// SwiGLU up projection.
    pub up_proj: LoraLinear,
    /// SwiGLU down projection.
    pub down_proj: LoraLinear,
}

/// The model: frozen base weights and the LoRA adapters being trained.
#[derive(Clone, Debug)]
pub struct Qwen2 {
    /// Architecture.
    pub config: ModelConfig,
    /// Token embedding, (vocab, hidden).
    pub embed: Tensor,
    /// Decoder layers.
    pub layers: Vec<Layer>,
    /// Final RMSNorm.
    pub norm: Tensor,
    /// LM head, (vocab, hidden); the embedding itself when tied.
    pub lm_head: FrozenWeight,
    cos: Tensor,
    sin: Tensor,
}

impl Layer {
    /// Every linear layer with its module name, in a fixed order.
    pub fn linears(&self) -> [(&'static str, &LoraLinear); 7] {
        [
            ("q_proj", &self.q_proj),
            ("k_proj", &self.k_proj),
            ("v_proj", &self.v_proj),
            ("o_proj", &self.o_proj),
            ("gate_proj", &self.gate_proj),
            ("up_proj", &self.up_proj),
            ("down_proj", &self.down_proj),
        ]
    }

    /// The same, mutable.
    pub fn linears_mut(&mut self) -> [(&'static str, &mut LoraLinear); 7] {
        [
            ("q_proj", &mut self.q_proj),
            ("k_proj", &mut self.k_proj),
            ("v_proj", &mut self.v_proj),
            ("o_proj", &mut self.o_proj),
            ("gate_proj", &mut self.gate_proj),
            ("up_proj", &mut self.up_proj),
            ("down_proj", &mut self.down_proj),
        ]
    }
}

/// RMSNorm: the fused kernel on the CPU, candle's elementary ops elsewhere.
fn norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() {
        crate::fused::rms_norm(x, w, eps)
    } else {
        rms_norm(x, w, eps)
    }
}

impl Qwen2 {
    /// Assembles a model from its parts; rotary tables cover `max_seq` positions.
    pub fn new(
        config: ModelConfig,
        embed: Tensor,
        layers: Vec<Layer>,
        norm: Tensor,
        lm_head: FrozenWeight,
        max_seq: usize,
    ) -> candle_core::Result<Self> {
        let (cos, sin) = rope_tables(
            max_seq,
            config.head_dim(),
            config.rope_theta,
            embed.device(),
        )?;
        Ok(Qwen2 {
            config,
            embed,
            layers,
            norm,
            lm_head,
            cos,
            sin,
        })
    }

    /// Replaces every adapter by a fresh one per `spec` (the base is untouched): the state of a
    /// just-loaded model, without reloading the base.
    pub fn reset_adapters(&mut self, spec: &crate::lora::LoraSpec) -> candle_core::Result<()> {
        let device = self.embed.device().clone();
        for (n, layer) in self.layers.iter_mut().enumerate() {
            for (name, linear) in layer.linears_mut() {
                linear.lora = crate::lora::adapter_for(
                    n,
                    name,
                    linear.in_dim,
                    linear.out_dim,
                    spec,
                    &device,
                )?;
            }
        }
        Ok(())
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.embed.device()
    }

    /// Every LoRA parameter with a stable name (`layers.3.q_proj.lora_a`), in sorted order: the
    /// optimizer and every checksum iterate in this order, never in a hash map's.
    pub fn lora_params(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for (name, linear) in layer.linears() {
                if let Some(l) = &linear.lora {
                    out.push((format!("layers.{i:04}.{name}.lora_a"), l.a.clone()));
                    out.push((format!("layers.{i:04}.{name}.lora_b"), l.b.clone()));
                }
            }
        }
        out.sort_by(|x, y| x.0.cmp(&y.0));
        out
    }

    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        mut train: Option<&mut Rng>,
    ) -> candle_core::Result<Tensor> {
        let c = &self.config;
        let (b, t, _) = x.dims3()?;
        let hd = c.head_dim();
        let (nh, nkv) = (c.num_attention_heads, c.num_key_value_heads);
        let q = layer.q_proj.forward(x, train.as_deref_mut())?;
        let k = layer.k_proj.forward(x, train.as_deref_mut())?;
        let v = layer.v_proj.forward(x, train.as_deref_mut())?;
        let (q, k) = (q.reshape((b, t, nh, hd))?, k.reshape((b, t, nkv, hd))?);
        let v = v.reshape((b, t, nkv, hd))?;
        let cos = self.cos.narrow(0, 0, t)?;
        let sin = self.sin.narrow(0, 0, t)?;
        let scale = 1.0 / (hd as f64).sqrt();
        let out = if x.device().is_cpu() {
            let q = crate::fused::rope_transposed(&q, &cos, &sin)?;
            let k = crate::fused::rope_transposed(&k, &cos, &sin)?;
            crate::fused::attention(&q, &k, &v, scale)?
        } else {
            let heads_first = |x: Tensor| x.transpose(1, 2)?.contiguous();
            let q = rope(&heads_first(q)?, &cos, &sin)?;
            let k = rope(&heads_first(k)?, &cos, &sin)?;
            let v = heads_first(v)?;
            // Grouped-query attention without repeating K and V: the `rep` query heads that
            // share a KV head are stacked along the sequence axis, (b, nkv, rep·t, hd), and
            // attend to that KV head in one matmul.
            let rep = nh / nkv;
            let q = q.reshape((b, nkv, rep * t, hd))?;
            let mask: Vec<f32> = (0..t)
                .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
                .collect();
            let mask = Tensor::from_vec(mask, (t, t), x.device())?;
            let scores = (q.matmul(&k.t()?)? * scale)?;
            let probs =
                softmax_last_dim(&scores.reshape((b, nkv, rep, t, t))?.broadcast_add(&mask)?)?;
            probs
                .reshape((b, nkv, rep * t, t))?
                .matmul(&v)?
                .reshape((b, nh, t, hd))?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b, t, nh * hd))?
        };
        layer.o_proj.forward(&out, train)
    }

    /// Logits for token ids of shape (batch, seq). `train` carries the dropout stream while
    /// training. Attention is causal; right padding never affects earlier positions.
    pub fn forward(
        &self,
        ids: &Tensor,
        mut train: Option<&mut Rng>,
    ) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let h = self.config.hidden_size;
        let mut x = self
            .embed
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, h))?;
        let eps = self.config.rms_norm_eps;
        for layer in &self.layers {
            let normed = norm(&x, &layer.input_norm, eps)?;
            x = (x + self.attention(layer, &normed, train.as_deref_mut())?)?;
            let normed = norm(&x, &layer.post_norm, eps)?;
            let gate = layer.gate_proj.forward(&normed, train.as_deref_mut())?;
            let up = layer.up_proj.forward(&normed, train.as_deref_mut())?;
            let act = if gate.device().is_cpu() {
                crate::fused::swiglu(&gate, &up)?
            } else {
                (gate.silu()? * up)?
            };
            x = (x + layer.down_proj.forward(&act, train.as_deref_mut())?)?;
        }
        let x = norm(&x, &self.norm, eps)?;
        frozen_matmul(&x, &self.lm_head)
    }

    /// Per-token negative log-likelihood of `targets` (batch, seq) under `logits`
    /// (batch, seq, vocab), shape (batch, seq).
    pub fn token_nll(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        if logits.device().is_cpu() {
            return crate::fused::cross_entropy(logits, targets);
        }
        Self::token_nll_composite(logits, targets)
    }

    /// [`Qwen2::token_nll`] from candle's elementary ops (any device; the CPU uses the fused
    /// kernel, tested against this).
    pub fn token_nll_composite(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        let max = logits.max_keepdim(D::Minus1)?.detach();
        let shifted = logits.broadcast_sub(&max)?;
        let log_z = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
        let log_probs = shifted.broadcast_sub(&log_z)?;
        let picked = log_probs.gather(&targets.unsqueeze(D::Minus1)?, D::Minus1)?;
        picked.squeeze(D::Minus1)?.neg()
    }

    /// Summed NLL over the tokens where `mask` (batch, seq; 1 = scored) is 1: a training shard's
    /// loss before its scale.
    pub fn masked_nll_sum(
        &self,
        ids: &Tensor,
        targets: &Tensor,
        mask: &Tensor,
        train: Option<&mut Rng>,
    ) -> candle_core::Result<Tensor> {
        let logits = self.forward(ids, train)?;
        let nll = Self::token_nll(&logits, targets)?;
        (nll * mask)?.sum_all()
    }

    /// Mean NLL over the tokens where `mask` (batch, seq; 1 = scored) is 1.
    pub fn masked_loss(
        &self,
        ids: &Tensor,
        targets: &Tensor,
        mask: &Tensor,
        train: Option<&mut Rng>,
    ) -> candle_core::Result<Tensor> {
        let count = mask.sum_all()?.to_dtype(DType::F32)?;
        self.masked_nll_sum(ids, targets, mask, train)?
            .broadcast_div(&count)
    }
}

//! LoRA adapters (Hu et al. 2021) on frozen linear layers: `y = x·Wᵀ + b + (α/r)·dropout(x)·Aᵀ·Bᵀ`,
//! with `A` initialised as PEFT does (Kaiming-uniform, bound 1/√in) from the run's seeded
//! generator and `B` zero, so that training starts from the base model exactly.

use candle_core::{Device, Tensor, Var};

use crate::ops::{FrozenWeight, frozen_matmul};
use crate::rng::Rng;

/// The modules LoRA can adapt.
pub const TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// A LoRA pair on one linear layer.
#[derive(Clone, Debug)]
pub struct Lora {
    /// Down projection, shape (rank, in).
    pub a: Var,
    /// Up projection, shape (out, rank).
    pub b: Var,
    /// α / rank.
    pub scale: f64,
    /// Dropout probability on the adapter's input.
    pub dropout: f32,
}

/// A linear layer with a frozen base and an optional trainable LoRA pair.
#[derive(Clone, Debug)]
pub struct LoraLinear {
    /// Frozen weight, shape (out, in).
    pub weight: FrozenWeight,
    /// Frozen bias, if the layer has one.
    pub bias: Option<Tensor>,
    /// The adapter, if this module is a target.
    pub lora: Option<Lora>,
    /// Input width.
    pub in_dim: usize,
    /// Output width.
    pub out_dim: usize,
}

impl Lora {
    /// A fresh adapter for an `in_dim → out_dim` layer; `rng` must be this adapter's own stream.
    pub fn new(
        in_dim: usize,
        out_dim: usize,
        rank: usize,
        alpha: f64,
        dropout: f32,
        rng: &mut Rng,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let bound = 1.0 / (in_dim as f32).sqrt();
        let a: Vec<f32> = (0..rank * in_dim)
            .map(|_| rng.uniform_f32(-bound, bound))
            .collect();
        Ok(Lora {
            a: Var::from_tensor(&Tensor::from_vec(a, (rank, in_dim), device)?)?,
            b: Var::zeros((out_dim, rank), candle_core::DType::F32, device)?,
            scale: alpha / rank as f64,
            dropout,
        })
    }
}

/// The adapter of layer `layer`'s module `name` under `spec`, or `None` if the module is not a
/// target. Each adapter draws from its own seeded stream, so a fresh model and a reset one get
/// bitwise the same initial adapters.
pub fn adapter_for(
    layer: usize,
    name: &str,
    in_dim: usize,
    out_dim: usize,
    spec: &crate::weights::LoraSpec,
    device: &Device,
) -> candle_core::Result<Option<Lora>> {
    if !spec.targets.iter().any(|t| t == name) {
        return Ok(None);
    }
    let mut rng = Rng::new(spec.seed, &format!("lora.{layer}.{name}"));
    Lora::new(
        in_dim,
        out_dim,
        spec.rank,
        spec.alpha,
        spec.dropout,
        &mut rng,
        device,
    )
    .map(Some)
}

/// Inverted dropout with a mask from `rng`: keep with probability 1−p, scale kept values by
/// 1/(1−p).
fn dropout(x: &Tensor, p: f32, rng: &mut Rng) -> candle_core::Result<Tensor> {
    let keep = 1.0 - p;
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.uniform() < f64::from(keep) {
                1.0 / keep
            } else {
                0.0
            }
        })
        .collect();
    x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
}

impl LoraLinear {
    /// The layer's output. `train` carries the dropout stream while training; evaluation passes
    /// `None` (no dropout).
    pub fn forward(&self, x: &Tensor, train: Option<&mut Rng>) -> candle_core::Result<Tensor> {
        let mut y = frozen_matmul(x, &self.weight)?;
        if let Some(bias) = &self.bias {
            y = y.broadcast_add(bias)?;
        }
        if let Some(lora) = &self.lora {
            let input = match train {
                Some(rng) if lora.dropout > 0.0 => dropout(x, lora.dropout, rng)?,
                _ => x.clone(),
            };
            let a = input.broadcast_matmul(&lora.a.as_tensor().t()?)?;
            let delta = a.broadcast_matmul(&lora.b.as_tensor().t()?)?;
            y = (y + (delta * lora.scale)?)?;
        }
        Ok(y)
    }
}

//! LoRA adapters (Hu et al. 2021) on frozen linear layers: `y = x·Wᵀ + b + (α/r)·dropout(x)·Aᵀ·Bᵀ`,
//! with `A` initialised as PEFT does (Kaiming-uniform, bound 1/√in) from the run's seeded
//! generator and `B` zero, so that training starts from the base model exactly.

use candle_core::{Device, Tensor, Var};

use crate::ops::{FrozenWeight, frozen_matmul};
use crate::rng::Rng;

/// The adapters to train.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraSpec {
    /// Rank r.
    pub rank: usize,
    /// Scale numerator α (the update is scaled by α/r).
    pub alpha: f64,
    /// Dropout on the adapters' input.
    pub dropout: f32,
    /// Module names from [`TARGETS`].
    pub targets: Vec<String>,
    /// Seed of the adapters' initialisation.
    pub seed: u64,
}

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
    spec: &LoraSpec,
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
    /// `None` (no dropout). On the CPU without dropout, one fused node ([`FusedLora`]).
    pub fn forward(&self, x: &Tensor, train: Option<&mut Rng>) -> candle_core::Result<Tensor> {
        if let Some(lora) = &self.lora {
            let no_dropout = train.is_none() || lora.dropout <= 0.0;
            if no_dropout && x.device().is_cpu() {
                return self.fused_forward(x, lora);
            }
        }
        self.composite_forward(x, train)
    }

    /// [`LoraLinear::forward`] from candle's ops (any device, dropout).
    pub fn composite_forward(
        &self,
        x: &Tensor,
        train: Option<&mut Rng>,
    ) -> candle_core::Result<Tensor> {
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

impl LoraLinear {
    fn fused_forward(&self, x: &Tensor, lora: &Lora) -> candle_core::Result<Tensor> {
        let dims = x.dims().to_vec();
        let rows = x.elem_count() / self.in_dim;
        let x2 = x.reshape((rows, self.in_dim))?;
        let xd = x2.detach();
        let (a, b) = (lora.a.as_tensor(), lora.b.as_tensor());
        let mut value = xd.matmul(&self.weight.dense(x.device())?.t()?)?;
        if let Some(bias) = &self.bias {
            value = value.broadcast_add(bias)?;
        }
        let xa = xd.matmul(&a.detach().t()?)?;
        let value = (value + (xa.matmul(&b.detach().t()?)? * lora.scale)?)?;
        let y = x2.apply_op3(
            a,
            b,
            FusedLora {
                value: std::sync::Mutex::new(Some(value)),
                weight: self.weight.clone(),
                scale: lora.scale,
            },
        )?;
        let mut out = dims;
        *out.last_mut().expect("x has a last dimension") = self.out_dim;
        y.reshape(out)
    }
}

/// A LoRA linear layer as one graph node: `y = x·Wᵀ + bias + s·(x·Aᵀ)·Bᵀ` (computed by candle's
/// kernels on detached inputs, then attached here) with the backward pass
/// `dx = g·W + s·(g·B)·A`, `dA = s·(g·B)ᵀ·x`, `dB = s·gᵀ·(x·Aᵀ)` — the frozen `W` and bias get
/// none. Used on the CPU when no dropout applies; the composite path is tested equal.
struct FusedLora {
    value: std::sync::Mutex<Option<Tensor>>,
    weight: FrozenWeight,
    scale: f64,
}

impl candle_core::CustomOp3 for FusedLora {
    fn name(&self) -> &'static str {
        "fused-lora"
    }

    fn cpu_fwd(
        &self,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        crate::ops::take_precomputed(&self.value, self.name())
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Gradients are values, not graph: computed on detached inputs, they record no history
        // (which an optimizer's moments would otherwise keep alive from step to step).
        let (x, a, b, g) = (x.detach(), a.detach(), b.detach(), g.detach());
        let (a, b) = (&a, &b);
        let w = self.weight.dense(g.device())?;
        let gb = (g.matmul(b)? * self.scale)?; // (rows, rank)
        let dx = (g.matmul(&w)? + gb.matmul(a)?)?;
        let da = gb.t()?.matmul(&x)?;
        let db = (g.t()?.matmul(&x.matmul(&a.t()?)?)? * self.scale)?;
        Ok((Some(dx), Some(da), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::tests::same_values_and_gradients;

    fn values(n: usize, salt: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + salt) * 0.917).sin()).collect()
    }

    #[test]
    fn fused_lora_equals_the_composite_in_values_and_gradients() {
        let dev = Device::Cpu;
        let (inp, out, rank) = (6, 5, 3);
        let layer = LoraLinear {
            weight: FrozenWeight::F32(
                Tensor::from_vec(values(out * inp, 1.0), (out, inp), &dev).unwrap(),
            ),
            bias: Some(Tensor::from_vec(values(out, 2.0), out, &dev).unwrap()),
            lora: Some(Lora {
                a: Var::from_vec(values(rank * inp, 3.0), (rank, inp), &dev).unwrap(),
                b: Var::from_vec(values(out * rank, 4.0), (out, rank), &dev).unwrap(),
                scale: 2.0,
                dropout: 0.0,
            }),
            in_dim: inp,
            out_dim: out,
        };
        let x = Var::from_vec(values(2 * 4 * inp, 5.0), (2, 4, inp), &dev).unwrap();
        let m = Tensor::from_vec(values(2 * 4 * out, 6.0), (2, 4, out), &dev).unwrap();
        let fused = layer.forward(x.as_tensor(), None).unwrap();
        let composite = layer.composite_forward(x.as_tensor(), None).unwrap();
        assert_eq!(fused.dims(), &[2, 4, out]);
        let lora = layer.lora.as_ref().unwrap();
        same_values_and_gradients(
            &fused,
            &composite,
            &m,
            &[x.as_tensor(), lora.a.as_tensor(), lora.b.as_tensor()],
        );
    }
}

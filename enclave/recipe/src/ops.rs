//! Differentiable building blocks of the model, written from candle's elementary ops because
//! candle's fused `rms_norm`, `rope` and `softmax_last_dim` record no backward pass (gradients
//! would silently stop at them), and the frozen-weight matmuls of LoRA.

use std::sync::{Arc, Mutex};

use candle_core::quantized::QTensor;
use candle_core::{CpuStorage, CustomOp1, D, Layout, Shape, Storage, Tensor};

/// RMSNorm: `x / sqrt(mean(x²) + eps) * weight` over the last dimension.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let mean_sq = x.sqr()?.mean_keepdim(D::Minus1)?;
    let inv = (mean_sq + eps)?.sqrt()?.recip()?;
    x.broadcast_mul(&inv)?.broadcast_mul(weight)
}

/// Softmax over the last dimension. The row maximum is subtracted for stability and detached:
/// softmax is shift-invariant, so it carries no gradient.
pub fn softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    e.broadcast_div(&sum)
}

/// Rotary position embedding in the Hugging Face (rotate-half) form:
/// `x·cos + rotate_half(x)·sin`, with `x` of shape (batch, heads, seq, head_dim) and `cos`, `sin`
/// of shape (seq, head_dim).
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(cos)?.add(&rotated.broadcast_mul(sin)?)
}

/// The cos and sin tables of [`rope`] for positions `0..seq`.
pub fn rope_tables(
    seq: usize,
    head_dim: usize,
    theta: f64,
    device: &candle_core::Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(seq * head_dim);
    let mut sin = Vec::with_capacity(seq * head_dim);
    for pos in 0..seq {
        let angles: Vec<f64> = (0..half)
            .map(|i| pos as f64 / theta.powf(2.0 * i as f64 / head_dim as f64))
            .collect();
        // The halves repeat: cat(freqs, freqs).
        for _ in 0..2 {
            cos.extend(angles.iter().map(|a| a.cos() as f32));
            sin.extend(angles.iter().map(|a| a.sin() as f32));
        }
    }
    Ok((
        Tensor::from_vec(cos, (seq, head_dim), device)?,
        Tensor::from_vec(sin, (seq, head_dim), device)?,
    ))
}

/// A frozen weight of a linear layer: f32, or 4-bit quantized (QLoRA).
#[derive(Clone, Debug)]
pub enum FrozenWeight {
    /// Full-precision weight, shape (out, in).
    F32(Tensor),
    /// Quantized weight (candle k-quants), shape (out, in).
    Quantized(Arc<QTensor>),
}

impl FrozenWeight {
    /// The weight in f32, shape (out, in): the tensor itself, or a quantized weight dequantized
    /// for the duration of one product (QLoRA keeps only the quantized form between uses, as
    /// bitsandbytes does).
    pub fn dense(&self, device: &candle_core::Device) -> candle_core::Result<Tensor> {
        match self {
            FrozenWeight::F32(w) => Ok(w.clone()),
            FrozenWeight::Quantized(q) => q.dequantize(device),
        }
    }
}

/// `x · Wᵀ` for a frozen `W`, recording a backward pass for `x` only.
///
/// candle's matmul backward also computes the gradient of every weight, which for a frozen base
/// is pure waste (measured ~1.6× slower and ~2× the memory on a 3B-sized layer). The product is
/// computed on a detached input by candle's f32 gemm, then attached to `x` by [`FrozenMatmul`],
/// whose backward is `grad · W`. A quantized `W` is dequantized for each product: candle's
/// `QMatMul` records no input gradient at all, and its forward kernel (which also quantizes the
/// activations to 8 bits) was 3.5× slower per training step than f32 gemm on a dequantized
/// weight (measured on the mid config).
pub fn frozen_matmul(x: &Tensor, weight: &FrozenWeight) -> candle_core::Result<Tensor> {
    let dims = x.dims().to_vec();
    let k = *dims.last().expect("x has a last dimension");
    let rows = x.elem_count() / k;
    let x2 = x.reshape((rows, k))?;
    let value = x2.detach().matmul(&weight.dense(x.device())?.t()?)?;
    let n = value.dim(1)?;
    let y = x2.apply_op1(FrozenMatmul {
        value: Mutex::new(Some(value)),
        weight: weight.clone(),
    })?;
    let mut out = dims;
    *out.last_mut().expect("x has a last dimension") = n;
    y.reshape(out)
}

/// The storage of a product computed before the op was applied (taken, so released, by the
/// forward pass): how [`FrozenMatmul`] and the fused LoRA op attach values that candle's own
/// kernels computed on detached inputs.
pub(crate) fn take_precomputed(
    value: &Mutex<Option<Tensor>>,
    op: &str,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let value = value
        .lock()
        .map_err(|_| candle_core::Error::Msg(format!("{op} lock poisoned")))?
        .take()
        .ok_or_else(|| candle_core::Error::Msg(format!("{op} forward ran twice")))?
        .contiguous()?;
    let shape = value.shape().clone();
    let (storage, layout) = value.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) if layout.start_offset() == 0 && layout.is_contiguous() => {
            Ok((cpu.clone(), shape))
        }
        _ => Err(candle_core::Error::Msg(format!(
            "{op} expects a contiguous CPU product"
        ))),
    }
}

/// The op that gives a precomputed `x · Wᵀ` its place in the graph, with `x`'s gradient only.
struct FrozenMatmul {
    /// The product, taken (and so released) by the forward pass.
    value: Mutex<Option<Tensor>>,
    weight: FrozenWeight,
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        take_precomputed(&self.value, self.name())
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight.dense(grad.device())?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn frozen_matmul_gives_the_input_gradient_of_a_plain_matmul() {
        let dev = Device::Cpu;
        let w = Tensor::from_vec(
            (0..12).map(|i| i as f32 * 0.1 - 0.5).collect::<Vec<_>>(),
            (3, 4),
            &dev,
        )
        .unwrap();
        let xv = Var::from_tensor(
            &Tensor::from_vec(
                (0..8).map(|i| i as f32 * 0.3).collect::<Vec<_>>(),
                (2, 4),
                &dev,
            )
            .unwrap(),
        )
        .unwrap();
        let ours = frozen_matmul(xv.as_tensor(), &FrozenWeight::F32(w.clone())).unwrap();
        let plain = xv.as_tensor().matmul(&w.t().unwrap()).unwrap();
        assert_eq!(
            ours.to_vec2::<f32>().unwrap(),
            plain.to_vec2::<f32>().unwrap()
        );
        let g1 = ours.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = plain.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(
            g1.get(xv.as_tensor()).unwrap().to_vec2::<f32>().unwrap(),
            g2.get(xv.as_tensor()).unwrap().to_vec2::<f32>().unwrap()
        );
        // No gradient is computed for the frozen weight.
        assert!(g1.get(&w).is_none());
    }

    #[test]
    fn softmax_and_rms_norm_match_candle_fused_ops() {
        let dev = Device::Cpu;
        let x = Tensor::from_vec(
            (0..24).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>(),
            (2, 3, 4),
            &dev,
        )
        .unwrap();
        let a = softmax_last_dim(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = candle_nn::ops::softmax_last_dim(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-6));
        let w = Tensor::from_vec(vec![0.5f32, 1.0, 1.5, 2.0], 4, &dev).unwrap();
        let a = rms_norm(&x, &w, 1e-6)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = candle_nn::ops::rms_norm(&x, &w, 1e-6)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-5));
    }
}

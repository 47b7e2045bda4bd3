//! Fused CPU kernels with hand-written backward passes for the model's elementwise chains.
//!
//! Each op replaces a chain of candle's elementary ops — each a pass over memory, an allocation,
//! and in the backward a zero-filled gradient plus an addition per node — by one pass forward and
//! one backward (measured on the tiny config: see docs/performance.md). They compute exactly
//! what the composite versions in [`crate::ops`] compute, up to float rounding (tested against
//! them, values and gradients), run row by row on the calling thread (so results never depend on
//! thread counts), and exist for the CPU only: on other devices the model uses the composites.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

/// The contiguous f32 data of a storage, or an error naming `op`.
fn f32_slice<'a>(
    op: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((start, end))) => Ok(&v[start..end]),
        _ => Err(candle_core::Error::Msg(format!(
            "{op}: expects a contiguous f32 tensor"
        ))),
    }
}

fn u32_slice<'a>(
    op: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [u32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::U32(v), Some((start, end))) => Ok(&v[start..end]),
        _ => Err(candle_core::Error::Msg(format!(
            "{op}: expects contiguous u32 targets"
        ))),
    }
}

/// `softmax(scale · x)` over the last dimension with a causal mask: in a tensor whose last two
/// dimensions are (query position, key position) of a square `t × t` block — or a stack of such
/// blocks along the second-to-last axis — key positions after the query position get
/// probability 0.
struct CausalSoftmax {
    t: usize,
    scale: f32,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(self.name(), s, l)?;
        let t = self.t;
        let mut out = vec![0f32; x.len()];
        for (r, (row, o)) in x.chunks_exact(t).zip(out.chunks_exact_mut(t)).enumerate() {
            let q = r % t;
            let live = &row[..=q];
            let max = live.iter().copied().fold(f32::NEG_INFINITY, f32::max) * self.scale;
            let mut sum = 0f32;
            for (o, &v) in o[..=q].iter_mut().zip(live) {
                *o = (v * self.scale - max).exp();
                sum += *o;
            }
            let inv = 1.0 / sum;
            for o in &mut o[..=q] {
                *o *= inv;
            }
        }
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(y.detach().contiguous()?.apply_op2(
            &g.detach().contiguous()?,
            SoftmaxGrad {
                t: self.t,
                scale: self.scale,
            },
        )?))
    }
}

/// `dx = scale · y ⊙ (g − Σ_j g_j y_j)` per row of the softmax `y`.
struct SoftmaxGrad {
    t: usize,
    scale: f32,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (y, g) = (
            f32_slice(self.name(), s1, l1)?,
            f32_slice(self.name(), s2, l2)?,
        );
        let t = self.t;
        let mut out = vec![0f32; y.len()];
        for ((yr, gr), o) in y
            .chunks_exact(t)
            .zip(g.chunks_exact(t))
            .zip(out.chunks_exact_mut(t))
        {
            let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
            for ((o, &a), &b) in o.iter_mut().zip(yr).zip(gr) {
                *o = self.scale * a * (b - dot);
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Causal softmax of `scale ·` attention scores whose last two dimensions are `(rep·t, t)` or
/// `(t, t)` blocks (see [`CausalSoftmax`]). `scale` must be positive.
pub fn causal_softmax(scores: &Tensor, t: usize, scale: f64) -> candle_core::Result<Tensor> {
    scores.contiguous()?.apply_op1(CausalSoftmax {
        t,
        scale: scale as f32,
    })
}

/// Per-row negative log-likelihood of `targets` under `logits` (rows × vocab).
struct CrossEntropy;

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let logits = f32_slice(self.name(), s1, l1)?;
        let targets = u32_slice(self.name(), s2, l2)?;
        let (rows, vocab) = l1.shape().dims2()?;
        let mut out = Vec::with_capacity(rows);
        for (row, &target) in logits.chunks_exact(vocab).zip(targets) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
            let picked = *row.get(target as usize).ok_or_else(|| {
                candle_core::Error::Msg(format!("target {target} outside the vocabulary {vocab}"))
            })?;
            out.push(sum.ln() - (picked - max));
        }
        Ok((CpuStorage::F32(out), Shape::from(rows)))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _nll: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = logits.detach().contiguous()?.apply_op2(
            &targets.detach().contiguous()?,
            CrossEntropyGrad {
                g: g.detach().contiguous()?,
            },
        )?;
        Ok((Some(grad), None))
    }
}

/// `dlogits = g_r · (softmax(row) − onehot(target))`.
struct CrossEntropyGrad {
    g: Tensor,
}

impl CustomOp2 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "cross-entropy-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let logits = f32_slice(self.name(), s1, l1)?;
        let targets = u32_slice(self.name(), s2, l2)?;
        let g = self.g.flatten_all()?.to_vec1::<f32>()?;
        let (_, vocab) = l1.shape().dims2()?;
        let mut out = vec![0f32; logits.len()];
        for (((row, o), &target), &gr) in logits
            .chunks_exact(vocab)
            .zip(out.chunks_exact_mut(vocab))
            .zip(targets)
            .zip(&g)
        {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (o, &v) in o.iter_mut().zip(row) {
                *o = (v - max).exp();
                sum += *o;
            }
            let scale = gr / sum;
            for o in o.iter_mut() {
                *o *= scale;
            }
            o[target as usize] -= gr;
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Per-token NLL of `targets` (…) under `logits` (…, vocab), shape of `targets`.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let vocab = logits.dim(candle_core::D::Minus1)?;
    let rows = logits.elem_count() / vocab;
    let shape = targets.shape().clone();
    logits
        .reshape((rows, vocab))?
        .contiguous()?
        .apply_op2(&targets.flatten_all()?.contiguous()?, CrossEntropy)?
        .reshape(shape)
}

/// RMSNorm over the last dimension with a frozen weight: `y = x · w / sqrt(mean(x²) + eps)`.
/// The weight gets no gradient (the base model is frozen).
struct RmsNorm {
    eps: f32,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = (
            f32_slice(self.name(), s1, l1)?,
            f32_slice(self.name(), s2, l2)?,
        );
        let h = w.len();
        let mut out = vec![0f32; x.len()];
        for (row, o) in x.chunks_exact(h).zip(out.chunks_exact_mut(h)) {
            let inv = inv_rms(row, self.eps);
            for ((o, &v), &wi) in o.iter_mut().zip(row).zip(w) {
                *o = v * inv * wi;
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = x.detach().contiguous()?.apply_op2(
            &g.detach().contiguous()?,
            RmsNormGrad {
                eps: self.eps,
                w: w.flatten_all()?.to_vec1::<f32>()?,
            },
        )?;
        Ok((Some(dx), None))
    }
}

fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let mean_sq = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
    1.0 / (mean_sq + eps).sqrt()
}

/// `dx = inv·(g⊙w) − x·inv³·Σ(g⊙w⊙x)/h` per row.
struct RmsNormGrad {
    eps: f32,
    w: Vec<f32>,
}

impl CustomOp2 for RmsNormGrad {
    fn name(&self) -> &'static str {
        "rms-norm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, g) = (
            f32_slice(self.name(), s1, l1)?,
            f32_slice(self.name(), s2, l2)?,
        );
        let h = self.w.len();
        let mut out = vec![0f32; x.len()];
        for ((row, gr), o) in x
            .chunks_exact(h)
            .zip(g.chunks_exact(h))
            .zip(out.chunks_exact_mut(h))
        {
            let inv = inv_rms(row, self.eps);
            let dot: f32 = row
                .iter()
                .zip(gr)
                .zip(&self.w)
                .map(|((a, b), c)| a * b * c)
                .sum();
            let k = inv * inv * inv * dot / h as f32;
            for (((o, &v), &gi), &wi) in o.iter_mut().zip(row).zip(gr).zip(&self.w) {
                *o = inv * gi * wi - v * k;
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// RMSNorm of `x` (…, h) with the frozen weight `w` (h).
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op2(&w.contiguous()?, RmsNorm { eps: eps as f32 })
}

/// Rotary embedding (rotate-half form) fused with the head transpose: forward reads `x` as
/// (batch, t, heads, head_dim) — the projection's layout — and writes (batch, heads, t,
/// head_dim); the backward (`inverse`) reads the gradient in (batch, heads, t, head_dim),
/// rotates it by the opposite angle and writes (batch, t, heads, head_dim). Tables `cos`, `sin`
/// are `t × head_dim`, flattened.
struct Rope {
    t: usize,
    heads: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
    inverse: bool,
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(self.name(), s, l)?;
        let (t, nh) = (self.t, self.heads);
        let hd = self.cos.len() / t;
        let half = hd / 2;
        let b = x.len() / (t * nh * hd);
        let mut out = vec![0f32; x.len()];
        for bi in 0..b {
            for h in 0..nh {
                for pos in 0..t {
                    let bthd = ((bi * t + pos) * nh + h) * hd;
                    let bhtd = ((bi * nh + h) * t + pos) * hd;
                    let (src, dst) = if self.inverse {
                        (bhtd, bthd)
                    } else {
                        (bthd, bhtd)
                    };
                    let row = &x[src..src + hd];
                    let o = &mut out[dst..dst + hd];
                    let (c, sn) = (&self.cos[pos * hd..][..hd], &self.sin[pos * hd..][..hd]);
                    for i in 0..half {
                        let (a, b) = (row[i], row[i + half]);
                        if self.inverse {
                            // dx = g·cos + Rᵀ(g·sin), Rᵀ(u) = (u₂, −u₁).
                            o[i] = a * c[i] + b * sn[i + half];
                            o[i + half] = b * c[i + half] - a * sn[i];
                        } else {
                            // y = x·cos + R(x)·sin, R(x) = (−x₂, x₁).
                            o[i] = a * c[i] - b * sn[i];
                            o[i + half] = b * c[i + half] + a * sn[i + half];
                        }
                    }
                }
            }
        }
        let shape = if self.inverse {
            Shape::from((b, t, nh, hd))
        } else {
            Shape::from((b, nh, t, hd))
        };
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(g.detach().contiguous()?.apply_op1(Rope {
            t: self.t,
            heads: self.heads,
            cos: self.cos.clone(),
            sin: self.sin.clone(),
            inverse: !self.inverse,
        })?))
    }
}

/// [`crate::ops::rope`] of `x.transpose(1, 2)`, fused: `x` is (batch, t, heads, head_dim), the
/// result (batch, heads, t, head_dim); `cos`/`sin` are (t, head_dim).
pub fn rope_transposed(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let (_, t, heads, _) = x.dims4()?;
    x.contiguous()?.apply_op1(Rope {
        t,
        heads,
        cos: cos.flatten_all()?.to_vec1::<f32>()?,
        sin: sin.flatten_all()?.to_vec1::<f32>()?,
        inverse: false,
    })
}

/// SwiGLU: `silu(gate) ⊙ up`, with gradients for both.
struct SwiGlu;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (gate, up) = (
            f32_slice(self.name(), s1, l1)?,
            f32_slice(self.name(), s2, l2)?,
        );
        let out = gate
            .iter()
            .zip(up)
            .map(|(&a, &u)| a * sigmoid(a) * u)
            .collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // One pass for both gradients: σ(a) is computed once per element.
        let values = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        let (a, u, gr) = (values(gate)?, values(up)?, values(g)?);
        let mut d_gate = Vec::with_capacity(a.len());
        let mut d_up = Vec::with_capacity(a.len());
        for ((&a, &u), &gi) in a.iter().zip(&u).zip(&gr) {
            let s = sigmoid(a);
            d_gate.push(gi * u * s * (1.0 + a * (1.0 - s)));
            d_up.push(gi * a * s);
        }
        Ok((
            Some(Tensor::from_vec(d_gate, gate.shape(), gate.device())?),
            Some(Tensor::from_vec(d_up, up.shape(), up.device())?),
        ))
    }
}

/// `silu(gate) ⊙ up`.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, SwiGlu)
}

/// Causal grouped-query attention as one graph node: `softmax(scale·Q·Kᵀ + causal)·V` with the
/// `rep = heads / kv_heads` query heads of a KV head stacked along the sequence axis, computed by
/// candle's kernels on detached inputs and attached with a hand-written backward:
/// `dV = Pᵀ·dO`, `dS = scale·P ⊙ (dO·Vᵀ − rowsum(…))`, `dQ = dS·K`, `dK = dSᵀ·Q`.
struct Attention {
    value: std::sync::Mutex<Option<Tensor>>,
    /// The probabilities `P`, (batch, kv_heads, rep·t, t).
    probs: Tensor,
    scale: f64,
    /// (batch, heads, kv_heads, t, head_dim).
    dims: (usize, usize, usize, usize, usize),
}

impl candle_core::CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        crate::ops::take_precomputed(&self.value, self.name())
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _out: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, nh, nkv, t, hd) = self.dims;
        let rep = nh / nkv;
        let (q, k, v, g) = (q.detach(), k.detach(), v.detach(), g.detach());
        let go = g
            .reshape((b, t, nh, hd))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, nkv, rep * t, hd))?;
        let v = v.transpose(1, 2)?.contiguous()?;
        let qg = q.reshape((b, nkv, rep * t, hd))?;
        let dv = self.probs.t()?.matmul(&go)?;
        let dp = go.matmul(&v.t()?)?;
        let ds = self.probs.apply_op2(
            &dp,
            SoftmaxGrad {
                t,
                scale: self.scale as f32,
            },
        )?;
        let dq = ds.matmul(&k)?.reshape((b, nh, t, hd))?;
        let dk = ds.t()?.matmul(&qg)?;
        Ok((Some(dq), Some(dk), Some(dv.transpose(1, 2)?.contiguous()?)))
    }
}

/// Causal attention of `q` (batch, heads, t, head_dim) over `k` (batch, kv_heads, t, head_dim)
/// and `v` in the projection's layout (batch, t, kv_heads, head_dim); the result is (batch, t,
/// heads·head_dim), ready for the output projection.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    let (b, nh, t, hd) = q.dims4()?;
    let nkv = k.dim(1)?;
    let rep = nh / nkv;
    let vd = v.detach().transpose(1, 2)?.contiguous()?;
    let qg = q.detach().reshape((b, nkv, rep * t, hd))?;
    let probs = causal_softmax(&qg.matmul(&k.detach().t()?)?, t, scale)?;
    let out = probs
        .matmul(&vd)?
        .reshape((b, nh, t, hd))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b, t, nh * hd))?;
    q.contiguous()?.apply_op3(
        &k.contiguous()?,
        &v.contiguous()?,
        Attention {
            value: std::sync::Mutex::new(Some(out)),
            probs,
            scale,
            dims: (b, nh, nkv, t, hd),
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn data(n: usize, salt: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 + salt) * 0.731).sin() * 3.0)
            .collect()
    }

    /// Equal up to float rounding.
    pub(crate) fn close(a: &Tensor, b: &Tensor) {
        let (a, b) = (
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + x.abs().max(y.abs())),
                "{x} vs {y}"
            );
        }
    }

    /// `fused` equals `composite`, and so do the gradients of `Σ out ⊙ weights` for each of
    /// `vars`.
    pub(crate) fn same_values_and_gradients(
        fused: &Tensor,
        composite: &Tensor,
        weights: &Tensor,
        vars: &[&Tensor],
    ) {
        close(fused, composite);
        let loss = |t: &Tensor| {
            (t * weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
        };
        let (g1, g2) = (loss(fused), loss(composite));
        for v in vars {
            close(g1.get(v).unwrap(), g2.get(v).unwrap());
        }
    }

    #[test]
    fn causal_softmax_matches_masked_composite() {
        let dev = Device::Cpu;
        let (t, rep) = (5, 2);
        let x = Var::from_vec(data(2 * rep * t * t, 0.0), (2, rep * t, t), &dev).unwrap();
        let w = Tensor::from_vec(data(2 * rep * t * t, 7.0), (2, rep * t, t), &dev).unwrap();
        let mask: Vec<f32> = (0..t)
            .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), &dev).unwrap();
        let scaled = (x.as_tensor() * 0.35)
            .unwrap()
            .reshape((2, rep, t, t))
            .unwrap();
        let composite = crate::ops::softmax_last_dim(&scaled.broadcast_add(&mask).unwrap())
            .unwrap()
            .reshape((2, rep * t, t))
            .unwrap();
        let fused = causal_softmax(x.as_tensor(), t, 0.35).unwrap();
        same_values_and_gradients(&fused, &composite, &w, &[x.as_tensor()]);
    }

    #[test]
    fn cross_entropy_matches_composite() {
        let dev = Device::Cpu;
        let logits = Var::from_vec(data(2 * 3 * 7, 1.0), (2, 3, 7), &dev).unwrap();
        let targets = Tensor::from_vec(vec![0u32, 6, 3, 2, 5, 1], (2, 3), &dev).unwrap();
        let w = Tensor::from_vec(data(6, 3.0), (2, 3), &dev).unwrap();
        let composite =
            crate::model::Qwen2::token_nll_composite(logits.as_tensor(), &targets).unwrap();
        let fused = cross_entropy(logits.as_tensor(), &targets).unwrap();
        same_values_and_gradients(&fused, &composite, &w, &[logits.as_tensor()]);
        let bad = Tensor::from_vec(vec![9u32; 6], (2, 3), &dev).unwrap();
        assert!(cross_entropy(logits.as_tensor(), &bad).is_err());
    }

    #[test]
    fn rms_norm_matches_composite() {
        let dev = Device::Cpu;
        let x = Var::from_vec(data(2 * 3 * 8, 2.0), (2, 3, 8), &dev).unwrap();
        let w = Tensor::from_vec(data(8, 5.0), 8, &dev).unwrap();
        let m = Tensor::from_vec(data(48, 9.0), (2, 3, 8), &dev).unwrap();
        let composite = crate::ops::rms_norm(x.as_tensor(), &w, 1e-6).unwrap();
        let fused = rms_norm(x.as_tensor(), &w, 1e-6).unwrap();
        same_values_and_gradients(&fused, &composite, &m, &[x.as_tensor()]);
    }

    #[test]
    fn rope_with_transpose_matches_composite() {
        let dev = Device::Cpu;
        let (t, hd) = (6, 8);
        let (cos, sin) = crate::ops::rope_tables(t, hd, 10_000.0, &dev).unwrap();
        let x = Var::from_vec(data(2 * 3 * t * hd, 4.0), (2, t, 3, hd), &dev).unwrap();
        let m = Tensor::from_vec(data(2 * 3 * t * hd, 8.0), (2, 3, t, hd), &dev).unwrap();
        let heads_first = x.as_tensor().transpose(1, 2).unwrap().contiguous().unwrap();
        let composite = crate::ops::rope(&heads_first, &cos, &sin).unwrap();
        let fused = rope_transposed(x.as_tensor(), &cos, &sin).unwrap();
        assert_eq!(fused.dims(), &[2, 3, t, hd]);
        same_values_and_gradients(&fused, &composite, &m, &[x.as_tensor()]);
    }

    #[test]
    fn swiglu_matches_composite() {
        let dev = Device::Cpu;
        let gate = Var::from_vec(data(40, 1.5), (5, 8), &dev).unwrap();
        let up = Var::from_vec(data(40, 6.5), (5, 8), &dev).unwrap();
        let m = Tensor::from_vec(data(40, 2.5), (5, 8), &dev).unwrap();
        let composite = (gate.as_tensor().silu().unwrap() * up.as_tensor()).unwrap();
        let fused = swiglu(gate.as_tensor(), up.as_tensor()).unwrap();
        same_values_and_gradients(&fused, &composite, &m, &[gate.as_tensor(), up.as_tensor()]);
    }

    #[test]
    fn attention_matches_composite() {
        let dev = Device::Cpu;
        let (b, nh, nkv, t, hd) = (2, 4, 2, 5, 6);
        let q = Var::from_vec(data(b * nh * t * hd, 1.0), (b, nh, t, hd), &dev).unwrap();
        let k = Var::from_vec(data(b * nkv * t * hd, 2.0), (b, nkv, t, hd), &dev).unwrap();
        let v = Var::from_vec(data(b * t * nkv * hd, 3.0), (b, t, nkv, hd), &dev).unwrap();
        let m = Tensor::from_vec(data(b * t * nh * hd, 4.0), (b, t, nh * hd), &dev).unwrap();
        let scale = 0.4;
        let mask: Vec<f32> = (0..t)
            .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), &dev).unwrap();
        let rep = nh / nkv;
        let vh = v.as_tensor().transpose(1, 2).unwrap().contiguous().unwrap();
        let scores = (q
            .as_tensor()
            .reshape((b, nkv, rep * t, hd))
            .unwrap()
            .matmul(&k.as_tensor().t().unwrap())
            .unwrap()
            * scale)
            .unwrap();
        let probs = crate::ops::softmax_last_dim(
            &scores
                .reshape((b, nkv, rep, t, t))
                .unwrap()
                .broadcast_add(&mask)
                .unwrap(),
        )
        .unwrap();
        let composite = probs
            .reshape((b, nkv, rep * t, t))
            .unwrap()
            .matmul(&vh)
            .unwrap()
            .reshape((b, nh, t, hd))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((b, t, nh * hd))
            .unwrap();
        let fused = attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), scale).unwrap();
        same_values_and_gradients(
            &fused,
            &composite,
            &m,
            &[q.as_tensor(), k.as_tensor(), v.as_tensor()],
        );
    }
}

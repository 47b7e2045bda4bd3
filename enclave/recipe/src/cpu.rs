//! The CPUs results are reproducible on: x86-64-v3 (AVX2 and FMA). There candle's matmuls give
//! the same bits with AVX2 or AVX-512 kernels and any cache (the patched gemm-common,
//! docs/recipe.md); without FMA gemm multiplies and adds separately, and rounds otherwise.
//! Checked before a model is loaded, so that no result computed elsewhere is ever signed.

use crate::Error;

/// `Ok` on a CPU with AVX2 and FMA; otherwise the feature it lacks.
pub fn check() -> Result<(), Error> {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::arch::is_x86_feature_detected!("fma") {
            return Err(Error::Cpu("FMA"));
        }
        if !std::arch::is_x86_feature_detected!("avx2") {
            return Err(Error::Cpu("AVX2"));
        }
        Ok(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Err(Error::Cpu("the x86-64 architecture"))
    }
}

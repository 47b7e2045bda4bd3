//! Expected launch measurements of Assay's confidential VMs.
//!
//! Before trusting a report, an auditor or relayer must know which MEASUREMENT an honest enclave
//! has. This crate computes the SEV-SNP launch digest (and the SEV and SEV-ES ones) from the
//! firmware, kernel, initrd, command line and vCPUs, byte for byte as the reference tool
//! sev-snp-measure (virtee) does, and defines the reference-values file that names an enclave
//! build and its expected measurement.
//!
//! - [`ovmf`], [`guid`]: the firmware's footer table and SEV metadata;
//! - [`gctx`]: the SNP launch digest (PAGE_INFO chain);
//! - [`hashes`]: the SEV hashes table of a measured direct kernel boot;
//! - [`vmsa`], [`vcpu`]: the initial register state of each vCPU;
//! - [`launch`]: the digests per mode;
//! - [`files`]: measuring a launch from its files (streamed), and its reference values;
//! - [`reference`]: reference values.

#![forbid(unsafe_code)]

mod error;
pub mod files;
pub mod gctx;
pub mod guid;
pub mod hashes;
pub mod launch;
pub mod ovmf;
pub mod reference;
pub mod vcpu;
pub mod vmsa;

pub use error::Error;
pub use launch::{
    DirectBoot, Launch, SvsmLaunch, sev_launch_digest, seves_launch_digest, snp_launch_digest,
    snp_ovmf_hash, svsm_launch_digest,
};

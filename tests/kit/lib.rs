//! The fixture kit of Assay's end-to-end tests: one place for what every flow needs.
//!
//! - [`paths`]: the repository, the shared vectors, the workspace's binaries;
//! - [`sim`]: the simulated AMD-SP (in process, or as `assay sim-sp` beside the enclave), the
//!   launch it measures, verifiers that name its root;
//! - [`forge`]: EvalResults as the enclave makes them, the coordinator key;
//! - [`host`]: the host daemon and a key service as processes, and the daemon's API client;
//! - [`image`]: an image's initramfs read back;
//! - [`job`]: a whole Forge job on a tiny model (recipe, contributions, encrypted holdout);
//! - [`key_service`]: a key service on loopback that records what it is sent;
//! - [`scan`]: searching outputs for the holdout's plaintext and key;
//! - [`tee`]: a TEE job on loopback (simulated AMD-SP, key service, job file).

pub mod forge;
pub mod host;
pub mod image;
pub mod job;
pub mod key_service;
pub mod paths;
pub mod scan;
pub mod sim;
pub mod tee;

//! `assay-train`: the training commands of `assay` (recipe, attribute, replay), which `assay`
//! hands over with `exec`; it reads the same command line (`assay-train attribute …` is
//! `assay attribute …`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use assay_cli::Cli;
use clap::Parser;

// Training allocates and frees large tensors every step; glibc's malloc hands each back to the
// kernel and faults it in again (measured: training steps ~1.7× slower than with mimalloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    assay_cli::run_training(Cli::parse())
}

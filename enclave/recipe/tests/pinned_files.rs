//! A pinned model is read once, from regular files only: the bytes that are hashed are the bytes
//! that are loaded. A FIFO (which could serve the pinned bytes to a hash and others to a loader)
//! is refused wherever a pinned file is expected, and a changed file fails its hash.

use std::path::Path;
use std::process::Command;

use assay_recipe::Error;
use assay_recipe::fixture::{tiny_config, write_model};
use assay_recipe::pinned::load_pinned;
use candle_core::Device;

fn fifo_in_place_of(path: &Path) {
    std::fs::remove_file(path).unwrap();
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn a_fifo_in_place_of_any_pinned_file_is_refused() {
    for file in [
        "model.safetensors",
        "tokenizer.json",
        "config.json",
        "tokenizer_config.json",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let recipe = write_model(dir.path(), &tiny_config(), 3).unwrap();
        load_pinned(&recipe, dir.path(), &Device::Cpu).unwrap();
        let path = dir.path().join(file);
        fifo_in_place_of(&path);
        let e = load_pinned(&recipe, dir.path(), &Device::Cpu)
            .err()
            .expect("a FIFO is refused");
        assert!(
            matches!(&e, Error::NotRegularFile { path: p } if p.ends_with(file)),
            "{file}: {e}"
        );
    }
}

#[test]
fn a_changed_weight_file_fails_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = write_model(dir.path(), &tiny_config(), 3).unwrap();
    let weights = dir.path().join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let e = load_pinned(&recipe, dir.path(), &Device::Cpu)
        .err()
        .expect("a changed weight is refused");
    assert!(
        matches!(
            e,
            Error::HashMismatch {
                what: "weights",
                ..
            }
        ),
        "{e}"
    );
}

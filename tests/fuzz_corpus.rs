//! Every fuzz target's corpus and every crash input it ever found, replayed on stable through
//! the very checks the targets run (each crate's `fuzz/checks.rs`): CI checks them without
//! nightly or libFuzzer. Corpora sit in `<crate>/fuzz/corpus/<target>/`, crash inputs (kept as
//! regression tests) in `<crate>/fuzz/regressions/<target>/`; `scripts/fuzz` fills both.
//!
//! The seeds a campaign starts from are made here too (`valid_inputs_pass_their_checks`): real
//! reports and certificates from `../shared/vectors/snp`, and the kit's bundles, jobs, holdout
//! and key-release messages. Each must parse, so no check passes by rejecting everything;
//! with `ASSAY_FUZZ_SEEDS=1` (`scripts/fuzz seeds`) they are written into the corpora.

use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use assay_attestation::abi::{CertificateKind, TableEntry, build_cert_table};
use assay_enclave::evidence::none::NoTee;
use assay_enclave::identity::Signer;
use assay_forge::job::{JobFile, RunSpec};
use assay_keys::holdout;
use assay_keys::protocol::{KeyRequest, KeyResponse};
use assay_keys::wrap::WrappedKey;
use assay_tests::forge::{coordinator_key_file, sample_bundle, sample_job};
use assay_tests::job::{holdout as holdout_examples, jsonl};
use assay_tests::paths::repo;
use assay_tests::sim::{InProcessSp, MEASUREMENT};

#[path = "../alloy/fuzz/checks.rs"]
mod alloy;
#[path = "../attestation/fuzz/checks.rs"]
mod attestation;
#[path = "../forge/fuzz/checks.rs"]
mod forge;
#[path = "../keys/fuzz/checks.rs"]
mod keys;
#[path = "../enclave/recipe/fuzz/checks.rs"]
mod recipe;

/// Every crate with fuzz targets, and its targets.
const FUZZ_CRATES: [(&str, &[attestation::Target]); 5] = [
    ("alloy", alloy::TARGETS),
    ("attestation", attestation::TARGETS),
    ("forge", forge::TARGETS),
    ("keys", keys::TARGETS),
    ("enclave/recipe", recipe::TARGETS),
];

/// Runs `check` on every file in `dir` (none when it does not exist); how many it ran.
fn replay_dir(dir: &Path, check: fn(&[u8]) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{} fails its target's check",
            path.display()
        );
        n += 1;
    }
    n
}

fn replay(krate: &str, targets: &[attestation::Target]) {
    let fuzz = repo().join(krate).join("fuzz");
    for (target, check) in targets {
        assert!(
            fuzz.join("fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file(),
            "{krate}/fuzz has no target {target}"
        );
        let seeds = replay_dir(&fuzz.join("corpus").join(target), *check);
        assert!(seeds > 0, "{krate}/fuzz/corpus/{target} holds no input");
        let crashes = replay_dir(&fuzz.join("regressions").join(target), *check);
        eprintln!("{krate} {target}: {seeds} corpus inputs, {crashes} regression inputs");
    }
}

#[test]
fn attestation_corpora_pass_their_checks() {
    replay("attestation", attestation::TARGETS);
}

#[test]
fn forge_corpora_pass_their_checks() {
    replay("forge", forge::TARGETS);
}

#[test]
fn keys_corpora_pass_their_checks() {
    replay("keys", keys::TARGETS);
}

#[test]
fn recipe_corpora_pass_their_checks() {
    replay("enclave/recipe", recipe::TARGETS);
}

/// Every target a fuzz crate declares is replayed here, and every replayed target exists.
#[test]
fn every_fuzz_target_is_replayed() {
    for (krate, targets) in FUZZ_CRATES {
        let dir = repo().join(krate).join("fuzz/fuzz_targets");
        let mut declared: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".rs").unwrap().to_owned()
            })
            .collect();
        declared.sort();
        let mut replayed: Vec<String> = targets.iter().map(|(t, _)| t.to_string()).collect();
        replayed.sort();
        assert_eq!(declared, replayed, "{krate}/fuzz");
    }
}

/// The corpus policy (docs/security.md, "Fuzzing"): committed corpora are set covers
/// (`scripts/fuzz shrink`), at most 4.5 MiB a target and 16 MiB in all, so every clone and
/// every CI run replays them in seconds.
#[test]
fn corpora_stay_small() {
    const TARGET_MAX: u64 = 9 << 19;
    const TOTAL_MAX: u64 = 16 << 20;
    let mut total = 0;
    for (krate, _) in FUZZ_CRATES {
        let corpus = repo().join(krate).join("fuzz/corpus");
        for entry in std::fs::read_dir(&corpus).unwrap() {
            let dir = entry.unwrap().path();
            let size: u64 = assay_tests::scan::files(&dir)
                .iter()
                .map(|f| std::fs::metadata(f).unwrap().len())
                .sum();
            assert!(
                size <= TARGET_MAX,
                "{} holds {size} bytes; run scripts/fuzz shrink",
                dir.display()
            );
            total += size;
        }
    }
    assert!(total <= TOTAL_MAX, "the corpora hold {total} bytes");
}

/// Files under `dir` (recursively) whose name ends in one of `exts`, in order.
fn files_under(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = assay_tests::scan::files(dir)
        .into_iter()
        .filter(|p| exts.iter().any(|e| p.to_string_lossy().ends_with(e)))
        .collect();
    out.sort();
    out
}

/// Valid inputs of each target, by crate and target.
fn valid_inputs() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let vectors = repo().join("../shared/vectors/snp");
    for report in files_under(&vectors, &[".bin"]) {
        let bytes = std::fs::read(&report).unwrap();
        if assay_attestation::abi::extract_report(&bytes).is_ok() {
            out.push(("attestation", "parse_report", bytes));
        }
    }
    // Certificates and CRLs (the folders also hold keys and other PEM files: not seeds here).
    for cert in files_under(&vectors, &[".pem", ".der"]) {
        let bytes = std::fs::read(cert).unwrap();
        if attestation::parse_certificates_and_crls(&bytes) {
            out.push(("attestation", "parse_certificates", bytes));
        }
    }
    let job = sample_job(true, 3);
    let sp = InProcessSp::launched(MEASUREMENT, job.hash());
    let report = sp.report([0x11; 64]);
    out.push(("attestation", "parse_report", report.clone()));
    let certificates = sp.certificates();
    let kinds = [
        CertificateKind::Vcek,
        CertificateKind::Ask,
        CertificateKind::Ark,
    ];
    let entries: Vec<TableEntry> = certificates
        .iter()
        .zip(kinds)
        .map(|(der, kind)| TableEntry {
            kind,
            der: der.clone(),
        })
        .collect();
    out.push((
        "attestation",
        "parse_cert_table",
        build_cert_table(&entries),
    ));
    out.push((
        "attestation",
        "parse_cert_table",
        build_cert_table(&entries[..1]),
    ));
    for der in &certificates {
        out.push(("attestation", "parse_certificates", der.clone()));
    }

    let tee = sample_bundle(
        true,
        MEASUREMENT,
        &[0.25, -0.5, 0.125],
        &sp,
        &Signer::generate(),
        [0x42; 32],
    );
    let dir = tempfile::tempdir().unwrap();
    let coordinator = Signer::load(&coordinator_key_file(dir.path())).unwrap();
    let none = sample_bundle(false, [0; 48], &[0.2, -0.1], &NoTee, &coordinator, [0; 32]);
    for bundle in [&tee, &none] {
        out.push(("forge", "parse_bundle", bundle.to_json().into_bytes()));
        out.push(("forge", "parse_bundle", bundle.to_cbor()));
        out.push(("forge", "verify_bundle", bundle.to_json().into_bytes()));
        out.push(("forge", "verify_bundle", bundle.to_cbor()));
    }
    for spec in [&job, &sample_job(false, 2)] {
        out.push(("forge", "parse_jobspec", spec.canonical_bytes()));
        let file = JobFile {
            job: spec.clone(),
            run: RunSpec::default(),
        };
        out.push(("forge", "parse_jobspec", file.to_toml().into_bytes()));
    }

    // One chunk, and several (the smallest chunk size over a longer holdout).
    let one = jsonl(&holdout_examples(), false);
    for plaintext in [one.clone(), one.repeat(1 + 2048 / one.len().max(1))] {
        let file = holdout::encrypt(plaintext.as_bytes(), &keys::fuzz_key(), 1024).unwrap();
        out.push(("keys", "holdout_container", file));
    }
    let request = KeyRequest {
        resource: "holdout".into(),
        job,
        nonce: [0x33; 32],
        enclave: Address::repeat_byte(0x44),
        x25519: [0x55; 32],
        report,
        certificates: certificates.iter().map(hex::encode).collect(),
    };
    out.push((
        "keys",
        "key_release_messages",
        serde_json::to_vec(&request).unwrap(),
    ));
    let response = KeyResponse {
        resource: "holdout".into(),
        wrapped: WrappedKey {
            encapsulated_key: vec![0x66; 32],
            ciphertext: vec![0x77; 48],
        },
    };
    out.push((
        "keys",
        "key_release_messages",
        serde_json::to_vec(&response).unwrap(),
    ));
    out.extend(recipe_inputs());
    out.extend(alloy_inputs());
    out
}

/// Valid inputs of the recipe crate's targets: the fixture model's files and recipe, a small
/// safetensors file of several dtypes, a sharded model's index, contributions and a holdout.
/// The alloy seeds: the inputs of docs/alloy/vectors that verify as valid.
fn alloy_inputs() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for file in files_under(&repo().join("docs/alloy/vectors"), &[".json"]) {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        if v["expect"]["valid"] != true {
            continue;
        }
        for input in v["inputs"].as_array().unwrap() {
            if let Some(cbor) = input["cbor"].as_str() {
                out.push(("alloy", "decode_chain", hex::decode(cbor).unwrap()));
            }
            if let Some(text) = input["text"].as_str() {
                // As the verifier takes it: a scanned code's line break removed.
                let text = text.trim_end_matches(['\r', '\n']);
                out.push(("alloy", "parse_qr_text", text.as_bytes().to_vec()));
            }
        }
    }
    out
}

fn recipe_inputs() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    use assay_recipe::fixture::{reverse_task, tiny_config, write_model};
    const KRATE: &str = "enclave/recipe";
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path();
    let recipe = write_model(model, &tiny_config(), 3).unwrap();
    let read = |name: &str| std::fs::read(model.join(name)).unwrap();
    let mut out = vec![
        (KRATE, "parse_recipe", recipe.to_toml().into_bytes()),
        (KRATE, "parse_model_config", read("config.json")),
        (KRATE, "parse_tokenizer", read("tokenizer.json")),
        (
            KRATE,
            "parse_tokenizer",
            [
                read("tokenizer.json"),
                vec![0],
                read("tokenizer_config.json"),
            ]
            .concat(),
        ),
    ];
    // The fixture's weights are larger than a fuzz input (-max_len 64 kB): a small file instead.
    let device = candle_core::Device::Cpu;
    let small: std::collections::HashMap<String, candle_core::Tensor> = [
        ("a.weight", candle_core::DType::F32),
        ("b.bias", candle_core::DType::F16),
        ("c.ids", candle_core::DType::I64),
        ("d.mask", candle_core::DType::U8),
    ]
    .into_iter()
    .map(|(name, dtype)| {
        let t = candle_core::Tensor::ones((2, 3), dtype, &device).unwrap();
        (name.to_owned(), t)
    })
    .collect();
    let file = model.join("small.safetensors");
    candle_core::safetensors::save(&small, &file).unwrap();
    out.push((KRATE, "parse_weights", std::fs::read(&file).unwrap()));
    let index = serde_json::json!({
        "metadata": {"total_size": 4096},
        "weight_map": {
            "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
            "model.norm.weight": "model-00002-of-00002.safetensors",
            "lm_head.weight": "model-00002-of-00002.safetensors",
        }
    });
    out.push((
        KRATE,
        "parse_weights",
        serde_json::to_vec_pretty(&index).unwrap(),
    ));
    let examples = reverse_task(6, &["alice", "bob"], 1);
    out.push((KRATE, "parse_data", jsonl(&examples, true).into_bytes()));
    out.push((
        KRATE,
        "parse_data",
        jsonl(&holdout_examples(), false).into_bytes(),
    ));
    out
}

#[test]
fn valid_inputs_pass_their_checks() {
    let write = std::env::var_os("ASSAY_FUZZ_SEEDS").is_some();
    let all: Vec<attestation::Target> = FUZZ_CRATES
        .iter()
        .flat_map(|(_, targets)| targets.iter().copied())
        .collect();
    let mut seeded = std::collections::BTreeSet::new();
    for (i, (krate, target, data)) in valid_inputs().into_iter().enumerate() {
        let check = all.iter().find(|(t, _)| *t == target).unwrap().1;
        assert!(
            check(&data),
            "valid input {i} of {target} is refused: {}",
            hex::encode(&data[..data.len().min(32)])
        );
        seeded.insert(target);
        if write {
            let dir = repo().join(krate).join("fuzz/corpus").join(target);
            std::fs::create_dir_all(&dir).unwrap();
            let name = hex::encode(assay_forge::job::sha256(&data));
            std::fs::write(dir.join(name), &data).unwrap();
        }
    }
    let every: std::collections::BTreeSet<_> = all.iter().map(|(t, _)| *t).collect();
    assert_eq!(seeded, every, "every target has valid inputs");
}

/// Each dictionary (`<crate>/fuzz/dicts/TARGET.dict`) belongs to a target and is in libFuzzer's
/// syntax (a quoted string a line, `\\`, `\"` and `\xHH` its only escapes), which libFuzzer
/// would otherwise refuse at the start of a campaign.
#[test]
fn dictionaries_are_libfuzzer_syntax() {
    let mut seen = 0;
    for (krate, targets) in FUZZ_CRATES {
        let Ok(entries) = std::fs::read_dir(repo().join(krate).join("fuzz/dicts")) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            assert!(
                targets.iter().any(|(t, _)| *t == stem),
                "{} names no target of {krate}",
                path.display()
            );
            for (n, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let body = line.strip_prefix('"').and_then(|l| l.strip_suffix('"'));
                let ok = body.is_some_and(|b| {
                    let mut chars = b.chars();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => match chars.next() {
                                Some('\\' | '"') => {}
                                Some('x') => {
                                    let hex: String = chars.by_ref().take(2).collect();
                                    if hex.len() != 2 || !hex.chars().all(|h| h.is_ascii_hexdigit())
                                    {
                                        return false;
                                    }
                                }
                                _ => return false,
                            },
                            '"' => return false,
                            c if c.is_ascii() && !c.is_ascii_control() => {}
                            _ => return false,
                        }
                    }
                    true
                });
                assert!(ok, "{} line {}: {line}", path.display(), n + 1);
            }
            seen += 1;
        }
    }
    assert!(
        seen >= 8,
        "the text formats' dictionaries are there ({seen})"
    );
}

//! Resource bounds of every parser of untrusted bytes (docs/security.md, "Resource bounds"): an
//! input one byte over its parser's limit is refused with a message naming its size and the
//! limit, one at the limit is not refused for its size; nesting past a limit is an error, not a
//! stack overflow; a declared length cannot make a parser allocate what the input does not hold.

use std::path::Path;
use std::process::Command;

use assay_attestation::verify::{Crl, MAX_CERTIFICATES, parse_certificates};
use assay_forge::job::{JobFile, JobSpec, MAX_JOB};
use assay_forge::{Bundle, MAX_BUNDLE};
use assay_recipe::config::ModelConfig;
use assay_recipe::data::{self, Kind};
use assay_recipe::recipe::Recipe;
use assay_recipe::tokenizer::ChatTokenizer;
use assay_recipe::{limits, weights};
use assay_tests::paths::bin;

type Parser = fn(&[u8]) -> Result<(), String>;

/// A parser's outcome, its error as the message a person reads.
fn outcome<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<(), String> {
    r.map(drop).map_err(|e| e.to_string())
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

/// Every bounded parser: its name, its limit, and a call.
fn parsers() -> Vec<(&'static str, usize, Parser)> {
    vec![
        ("bundle", MAX_BUNDLE, |b| outcome(Bundle::parse(b, "input"))),
        ("alloy chain file", assay_alloy::MAX_CHAIN_FILE, |b| {
            outcome(assay_alloy::Part::decode(b))
        }),
        ("alloy code text", assay_alloy::MAX_TEXT, |b| {
            outcome(assay_alloy::Part::from_text(text(b)))
        }),
        ("JobSpec", MAX_JOB, |b| {
            outcome(JobSpec::parse(text(b), "input"))
        }),
        ("job file", MAX_JOB, |b| {
            outcome(JobFile::parse(text(b), "input"))
        }),
        ("certificates", MAX_CERTIFICATES, |b| {
            outcome(parse_certificates(b, "input"))
        }),
        ("CRL", MAX_CERTIFICATES, |b| {
            outcome(Crl::from_bytes(b, "input"))
        }),
        ("recipe", limits::RECIPE, |b| {
            outcome(Recipe::from_toml(text(b), "input"))
        }),
        ("config.json", limits::MODEL_CONFIG, |b| {
            outcome(ModelConfig::from_json(b, Path::new("input")))
        }),
        ("safetensors index", limits::WEIGHTS_INDEX, |b| {
            outcome(weights::parse_index(b, Path::new("input")))
        }),
        ("tokenizer.json", limits::TOKENIZER, |b| {
            outcome(ChatTokenizer::from_bytes(b, None, Path::new("input")))
        }),
        ("tokenizer_config.json", limits::TOKENIZER_CONFIG, |b| {
            let tokenizer = assay_recipe::tokenizer::byte_level_tokenizer_json();
            outcome(ChatTokenizer::from_bytes(
                tokenizer.as_bytes(),
                Some(b),
                Path::new("input"),
            ))
        }),
        ("contributions", limits::DATA, |b| {
            outcome(data::parse(text(b), "input", Kind::Contributions))
        }),
    ]
}

#[test]
fn one_byte_over_the_limit_is_refused_for_its_size() {
    for (name, max, parse) in parsers() {
        // Spaces: valid UTF-8, and no parser gets past its size check to read them.
        let over = vec![b' '; max + 1];
        let e = parse(&over).expect_err(name);
        assert!(
            e.contains(&format!("{} bytes", max + 1)) && e.contains(&format!("at most {max}")),
            "{name}: {e}"
        );
        let at = vec![b' '; max];
        match parse(&at) {
            Ok(()) => {}
            Err(e) => assert!(
                !e.contains(&format!("{max} bytes")),
                "{name} at its limit: {e}"
            ),
        }
    }
}

/// Nesting far past every limit: each parser answers with an error.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    const DEPTH: usize = 100_000;
    let json = format!("{}{}", r#"{"a":"#.repeat(DEPTH), "}".repeat(DEPTH));
    let toml_arrays = format!("a = {}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let toml_tables = format!("a = {}1{}", "{b = ".repeat(DEPTH), "}".repeat(DEPTH));
    let cbor = [vec![0x81; 64], vec![0x00]].concat();
    let jsonl = format!("{}\n", json);
    let cases: Vec<(&str, Result<(), String>)> = vec![
        ("bundle JSON", outcome(Bundle::parse(json.as_bytes(), "i"))),
        ("bundle CBOR", outcome(Bundle::parse(&cbor, "i"))),
        (
            "alloy chain file",
            outcome(assay_alloy::Part::decode(&cbor)),
        ),
        ("JobSpec JSON", outcome(JobSpec::parse(&json, "i"))),
        (
            "JobSpec TOML arrays",
            outcome(JobSpec::parse(&toml_arrays, "i")),
        ),
        (
            "JobSpec TOML tables",
            outcome(JobSpec::parse(&toml_tables, "i")),
        ),
        ("job file TOML", outcome(JobFile::parse(&toml_arrays, "i"))),
        ("recipe TOML", outcome(Recipe::from_toml(&toml_tables, "i"))),
        (
            "config.json",
            outcome(ModelConfig::from_json(json.as_bytes(), Path::new("i"))),
        ),
        (
            "index",
            outcome(weights::parse_index(json.as_bytes(), Path::new("i"))),
        ),
        (
            "tokenizer.json",
            outcome(ChatTokenizer::from_bytes(
                json.as_bytes(),
                None,
                Path::new("i"),
            )),
        ),
        (
            "contributions",
            outcome(data::parse(&jsonl, "i", Kind::Contributions)),
        ),
    ];
    for (name, outcome) in cases {
        let e = outcome.expect_err(name);
        assert!(!e.is_empty(), "{name}");
    }
    let e = Bundle::parse(&cbor, "i").unwrap_err().to_string();
    assert!(e.contains("nested more than"), "{e}");
}

/// A safetensors file whose header claims 100 GB is refused by its declared size, before any
/// of it is read.
#[test]
fn a_safetensors_header_claiming_100_gb_is_refused() {
    let mut file = 100_000_000_000u64.to_le_bytes().to_vec();
    file.extend_from_slice(b"{}");
    let e = weights::tensors(
        &file,
        Path::new("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("model.safetensors") && e.to_lowercase().contains("header"),
        "{e}"
    );
    // A tensor whose offsets run past the file is refused too (8 bytes declared, 4 held).
    let header = br#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    file.extend_from_slice(&[0; 4]);
    assert!(weights::tensors(&file, Path::new("m"), &candle_core::Device::Cpu).is_err());
}

/// An index naming a file outside the model's folder is refused.
#[test]
fn a_safetensors_index_cannot_name_a_file_outside_the_model() {
    for name in [
        "../../etc/passwd.safetensors",
        "/etc/x.safetensors",
        "..",
        ".hidden.safetensors",
        "model.bin",
        "a\\b.safetensors",
    ] {
        let index = serde_json::json!({"weight_map": {"w": name}}).to_string();
        let e = weights::parse_index(index.as_bytes(), Path::new("index.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a shard is a *.safetensors file in the model's folder"),
            "{name}: {e}"
        );
    }
    let index = serde_json::json!({"weight_map": {"w": 7}}).to_string();
    let e = weights::parse_index(index.as_bytes(), Path::new("index.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a file name"), "{e}");
}

/// `assay verify attestation` on a 9-byte CBOR bundle whose map claims 2^32 entries, and on
/// one whose array claims 2^60, under a 1 GiB address-space limit: a clear error, not an
/// allocation failure (which would abort with a signal).
#[test]
fn declared_lengths_cannot_make_the_verifier_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "map",
            [vec![0xbb], (1u64 << 32).to_be_bytes().to_vec()].concat(),
        ),
        (
            "array",
            [vec![0x9b], (1u64 << 60).to_be_bytes().to_vec()].concat(),
        ),
    ];
    for (what, bytes) in cases {
        let path = dir.path().join(format!("{what}.cbor"));
        std::fs::write(&path, &bytes).unwrap();
        let o = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -v 1048576 && exec "$0" verify attestation --nonce "$2" "$1""#)
            .arg(bin("assay"))
            .arg(&path)
            .arg(format!("0x{}", "00".repeat(32)))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.code().is_some_and(|c| c != 0),
            "{what}: {:?} {err}",
            o.status
        );
        assert!(
            err.contains("byte 0") && err.contains("more than the"),
            "{what}: {err}"
        );
    }
}

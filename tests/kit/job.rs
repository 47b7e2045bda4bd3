//! A whole Forge job on a tiny model built in code: recipe, contributions of three
//! contributors, and a holdout (each prompt carrying a canary) encrypted under a fresh key.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use assay_forge::job::{
    AttributionSpec, EvidenceSpec, ForgeRef, Input, JOB_FORMAT, JobSpec, KeyRelease, ModelRef,
    OutputSpec, ProviderSpec,
};
use assay_keys::DataKey;
use assay_recipe::data::Example;
use assay_recipe::fixture::{reverse_task, tiny_config, write_model};

use crate::forge::NONCE;

/// The contributors.
pub const CONTRIBUTORS: [&str; 3] = [
    "0x1111111111111111111111111111111111111111",
    "0x2222222222222222222222222222222222222222",
    "0x3333333333333333333333333333333333333333",
];

/// Examples as JSON Lines, with their contributors or without.
pub fn jsonl(examples: &[Example], with_contributor: bool) -> String {
    examples
        .iter()
        .map(|e| {
            let mut v = serde_json::json!({"prompt": e.prompt, "answer": e.answer});
            if with_contributor {
                v["contributor"] = e.contributor.clone().into();
            }
            v.to_string() + "\n"
        })
        .collect()
}

/// The holdout, each prompt carrying a unique canary.
pub fn holdout() -> Vec<Example> {
    let mut h = reverse_task(8, &["holdout"], 5);
    for (i, e) in h.iter_mut().enumerate() {
        e.prompt = format!("{} zq-canary-{i}-holdout", e.prompt);
    }
    h
}

/// A job's files in a temporary folder, and the holdout's key and plaintext.
pub struct Setup {
    /// The folder: `model/`, `recipe.toml`, `contributions.jsonl`, `holdout.enc`.
    pub dir: tempfile::TempDir,
    /// The holdout's data key.
    pub key: DataKey,
    /// The holdout.
    pub holdout: Vec<Example>,
}

impl Setup {
    /// Writes the job's files.
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let recipe = write_model(&d.join("model"), &tiny_config(), 11).unwrap();
        std::fs::write(d.join("recipe.toml"), recipe.to_toml()).unwrap();
        std::fs::write(
            d.join("contributions.jsonl"),
            jsonl(&reverse_task(24, &CONTRIBUTORS, 0), true),
        )
        .unwrap();
        let key = DataKey::generate();
        let holdout = holdout();
        let sealed =
            assay_keys::holdout::encrypt(jsonl(&holdout, false).as_bytes(), &key, 1024).unwrap();
        std::fs::write(d.join("holdout.enc"), sealed).unwrap();
        Setup { dir, key, holdout }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The JobSpec of this job (paths relative to the folder), with `evidence` and, with a
    /// TEE, the key service at `key_service`.
    pub fn spec(&self, evidence: EvidenceSpec, key_service: Option<&str>) -> JobSpec {
        JobSpec {
            format: JOB_FORMAT.into(),
            forge: ForgeRef {
                id: B256::repeat_byte(0xf0),
                chain_id: 8453,
                contract: Address::repeat_byte(0xfc),
                nonce: NONCE,
            },
            recipe: Input::path("recipe.toml"),
            model: ModelRef {
                path: "model".into(),
            },
            contributions: Input::path("contributions.jsonl"),
            holdout: Input::path("holdout.enc"),
            key_release: key_service.map(|url| KeyRelease {
                url: url.to_owned(),
                resource: "holdout".into(),
            }),
            evidence,
            attribution: AttributionSpec {
                compute_bps: 1500,
                providers: vec![ProviderSpec {
                    address: Address::repeat_byte(0xee),
                    units: 3,
                }],
                journal: Some("journal".into()),
                ..AttributionSpec::default()
            },
            output: OutputSpec {
                bundle: "bundle.json".into(),
                cbor: Some("bundle.cbor".into()),
            },
        }
    }

    /// Writes `spec` as `name` (TOML) into the folder and returns its path.
    pub fn write_spec(&self, spec: &JobSpec, name: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, toml_text(spec)).unwrap();
        path
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

/// A JobSpec as TOML.
pub fn toml_text(spec: &JobSpec) -> String {
    toml::to_string(spec).expect("a JobSpec is TOML")
}

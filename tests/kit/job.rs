//! A whole Forge job on a tiny model built in code: recipe, contributions of three
//! contributors, and a holdout (each prompt carrying a canary) encrypted under a fresh key.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use assay_enclave::job::{Files, describe};
use assay_forge::job::{
    AttributionRules, EvidenceSpec, ForgeRef, JobFile, JobSpec, KeyReleaseSpec, ProviderSpec,
    RunSpec,
};
use assay_keys::DataKey;
use assay_keys::wrap::ServiceKey;
use assay_recipe::data::Example;
use assay_recipe::fixture::{reverse_task, tiny_config, write_model};

use crate::forge::{CHAIN_ID, CONTRACT, FORGE_ID, NONCE};

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

/// A job's files in a temporary folder, the holdout's key and plaintext, and the key
/// service's key.
pub struct Setup {
    /// The folder: `model/`, `recipe.toml`, `contributions.jsonl`, `holdout.enc`.
    pub dir: tempfile::TempDir,
    /// The holdout's data key.
    pub key: DataKey,
    /// The holdout.
    pub holdout: Vec<Example>,
    /// The key service's own key, which the TEE job pins.
    pub service_key: ServiceKey,
}

impl Setup {
    /// Writes the job's files, with [`holdout`] as the holdout.
    pub fn new() -> Setup {
        Setup::with_holdout(&jsonl(&holdout(), false), holdout())
    }

    /// Writes the job's files, with `text` encrypted as the holdout (`holdout`: what it holds,
    /// for the leak scan).
    pub fn with_holdout(text: &str, holdout: Vec<Example>) -> Setup {
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
        let sealed = assay_keys::holdout::encrypt(text.as_bytes(), &key, 1024).unwrap();
        std::fs::write(d.join("holdout.enc"), sealed).unwrap();
        Setup {
            dir,
            key,
            holdout,
            service_key: ServiceKey::generate(),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the model's chat template with `template`, and the recipe's pin of it (as a
    /// Forge that approved such a recipe would have it).
    pub fn set_chat_template(&self, template: &str) {
        let d = self.path();
        let config = serde_json::json!({"chat_template": template, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"});
        std::fs::write(d.join("model/tokenizer_config.json"), config.to_string()).unwrap();
        let mut recipe = assay_recipe::recipe::Recipe::load(&d.join("recipe.toml")).unwrap();
        recipe.model.chat_template_sha256 = assay_recipe::pinned::template_hash(template);
        std::fs::write(d.join("recipe.toml"), recipe.to_toml()).unwrap();
    }

    /// Where the inputs are.
    pub fn files(&self) -> Files {
        let d = self.path();
        Files {
            recipe: d.join("recipe.toml"),
            model: d.join("model"),
            contributions: d.join("contributions.jsonl"),
            holdout: d.join("holdout.enc"),
        }
    }

    /// The job a Forge approves for these files, with nonce `nonce`: with a TEE, the holdout
    /// key comes from the key service whose key is [`Setup::service_key`]; 1500 bps to one
    /// compute provider with 3 units.
    pub fn job_with_nonce(&self, tee: bool, nonce: B256) -> JobSpec {
        describe(
            ForgeRef {
                id: FORGE_ID,
                chain_id: CHAIN_ID,
                contract: CONTRACT,
                nonce,
            },
            &self.files(),
            tee.then(|| KeyReleaseSpec {
                service_key: self.service_key.public(),
                resource: "holdout".into(),
            }),
            AttributionRules {
                compute_bps: 1500,
                providers: vec![ProviderSpec {
                    address: Address::repeat_byte(0xee),
                    units: 3,
                }],
                ..AttributionRules::default()
            },
        )
        .unwrap()
    }

    /// [`Setup::job_with_nonce`] with the tests' [`NONCE`].
    pub fn job(&self, tee: bool) -> JobSpec {
        self.job_with_nonce(tee, NONCE)
    }

    /// How the host runs a job here: the files (relative to the folder), `evidence`, the key
    /// service at `key_service` with a TEE, a journal, the bundle as JSON and CBOR.
    pub fn run(&self, evidence: EvidenceSpec, key_service: Option<&str>) -> RunSpec {
        RunSpec {
            recipe: Some("recipe.toml".into()),
            model: Some("model".into()),
            contributions: Some("contributions.jsonl".into()),
            holdout: Some("holdout.enc".into()),
            key_service: key_service.map(str::to_owned),
            evidence: Some(evidence),
            journal: Some("journal".into()),
            bundle: Some("bundle.json".into()),
            cbor: Some("bundle.cbor".into()),
            ..RunSpec::default()
        }
    }

    /// Writes the job file of `job` and `run` as `name` into the folder; returns its path.
    pub fn write_job(&self, job: &JobSpec, run: &RunSpec, name: &str) -> PathBuf {
        let path = self.path().join(name);
        let file = JobFile {
            job: job.clone(),
            run: run.clone(),
        };
        std::fs::write(&path, file.to_toml()).unwrap();
        path
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

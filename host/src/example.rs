//! `assay-host example --out DIR`: the demo's Forge job, written out so that anyone can submit
//! it — a tiny Qwen2-architecture model built in code (no weights can be downloaded here), its
//! pinned recipe, three contributors' data, a holdout encrypted under a fresh key (its
//! plaintext is never written), the job a Forge would approve, and the key service's side: the
//! holdout key, the service key, the reference values of the image and a configuration for
//! `assay keys serve --config`.
//!
//! ```text
//! DIR/inputs/        model/ recipe.toml contributions.jsonl holdout.enc   (the host's inputs)
//! DIR/job.json       the JobSpec and `run` (inputs by path inside DIR/inputs), to POST /v1/jobs
//! DIR/key-service/   holdout.key service.key enclave-reference.toml key-service.toml
//! ```

use std::path::Path;

use alloy_primitives::{Address, B256};
use assay_enclave::job::{Files, describe};
use assay_forge::job::{AttributionRules, ForgeRef, KeyReleaseSpec, ProviderSpec, RunSpec};
use assay_keys::DataKey;
use assay_keys::wrap::ServiceKey;

use crate::Error;
use assay_image::ImageSpec;

/// The demo's Forge.
pub const FORGE_ID: B256 = B256::repeat_byte(0xf0);
/// The demo's chain id.
pub const CHAIN_ID: u64 = 8453;
/// The demo's Forge contract.
pub const CONTRACT: Address = Address::repeat_byte(0xfc);
/// The demo's nonce.
pub const NONCE: B256 = B256::repeat_byte(0x99);

/// The demo's contributors.
const CONTRIBUTORS: [&str; 3] = [
    "0x1111111111111111111111111111111111111111",
    "0x2222222222222222222222222222222222222222",
    "0x3333333333333333333333333333333333333333",
];

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|e| io(path, e))
}

fn jsonl(examples: &[assay_recipe::data::Example], contributor: bool) -> String {
    examples
        .iter()
        .map(|e| {
            let mut v = serde_json::json!({"prompt": e.prompt, "answer": e.answer});
            if contributor {
                v["contributor"] = e.contributor.clone().into();
            }
            v.to_string() + "\n"
        })
        .collect()
}

/// The example's holdout (what is encrypted into `holdout.enc`; never written in plaintext):
/// each prompt marked, so that a scan for it finds nothing else.
pub fn holdout() -> Vec<assay_recipe::data::Example> {
    let mut h = assay_recipe::fixture::reverse_task(8, &["holdout"], 5);
    for (i, e) in h.iter_mut().enumerate() {
        e.prompt = format!("{} (held out #{i})", e.prompt);
    }
    h
}

/// What `example` wrote.
#[derive(Debug)]
pub struct Written {
    /// The job's hash.
    pub job_hash: B256,
    /// The key service's public key.
    pub service_key: B256,
    /// The image's measurement.
    pub measurement: [u8; 48],
}

/// Writes the demo's Forge job into `out` (which must not exist), for the enclave image
/// `image` (its measurement is what the key service will pin).
pub fn write_example(out: &Path, image: &Path) -> Result<Written, Error> {
    if out.exists() {
        return Err(Error::Config(format!(
            "{}: exists; the example is written into a new folder",
            out.display()
        )));
    }
    let spec = ImageSpec::load(image)?;
    let files = spec.launch_files()?;
    let measured = files.measure()?;
    let inputs = out.join("inputs");
    let ks = out.join("key-service");
    for d in [&inputs, &ks] {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    let model = inputs.join("model");
    let recipe =
        assay_recipe::fixture::write_model(&model, &assay_recipe::fixture::tiny_config(), 11)
            .map_err(|e| Error::Config(format!("writing the example model: {e}")))?;
    write(&inputs.join("recipe.toml"), recipe.to_toml().as_bytes())?;
    write(
        &inputs.join("contributions.jsonl"),
        jsonl(
            &assay_recipe::fixture::reverse_task(24, &CONTRIBUTORS, 0),
            true,
        )
        .as_bytes(),
    )?;
    let holdout_key = DataKey::generate();
    let holdout = jsonl(
        &assay_recipe::fixture::reverse_task(8, &["holdout"], 5),
        false,
    );
    let sealed = assay_keys::holdout::encrypt(holdout.as_bytes(), &holdout_key, 1024)
        .map_err(|e| Error::Config(format!("encrypting the example holdout: {e}")))?;
    write(&inputs.join("holdout.enc"), &sealed)?;
    let keys_err = |e: assay_keys::Error| Error::Config(e.to_string());
    holdout_key
        .save(&ks.join("holdout.key"))
        .map_err(keys_err)?;
    let service_key = ServiceKey::generate();
    service_key
        .save(&ks.join("service.key"))
        .map_err(keys_err)?;
    files
        .reference(&measured)?
        .save(&ks.join("enclave-reference.toml"))?;
    let job = describe(
        ForgeRef {
            id: FORGE_ID,
            chain_id: CHAIN_ID,
            contract: CONTRACT,
            nonce: NONCE,
        },
        &Files {
            recipe: inputs.join("recipe.toml"),
            model: model.clone(),
            contributions: inputs.join("contributions.jsonl"),
            holdout: inputs.join("holdout.enc"),
        },
        Some(KeyReleaseSpec {
            service_key: service_key.public(),
            resource: "holdout".into(),
        }),
        AttributionRules {
            compute_bps: 1500,
            providers: vec![ProviderSpec {
                address: Address::repeat_byte(0xee),
                units: 1,
            }],
            ..AttributionRules::default()
        },
    )
    .map_err(|e| Error::Config(format!("describing the example job: {e}")))?;
    let mut file = serde_json::to_value(&job).expect("a JobSpec serialises");
    file["run"] = serde_json::to_value(RunSpec {
        recipe: Some("recipe.toml".into()),
        model: Some("model".into()),
        contributions: Some("contributions.jsonl".into()),
        holdout: Some("holdout.enc".into()),
        ..RunSpec::default()
    })
    .expect("a RunSpec serialises");
    write(
        &out.join("job.json"),
        serde_json::to_string_pretty(&file)
            .expect("JSON serialises")
            .as_bytes(),
    )?;
    let config = format!(
        "# `assay keys serve --config {}`: the key service of the example job.\n\
         listen = \"127.0.0.1:0\"\n\
         service_key = \"service.key\"\n\
         approve = [\"../job.json\"]\n\
         reference = [\"enclave-reference.toml\"]\n\
         release_log = \"releases.jsonl\"\n\
         max_releases = 3\n\
         # The process launcher's guests are vouched for by a simulated AMD-SP: name its root.\n\
         # A key service for real SEV-SNP guests trusts AMD's roots only (remove this line).\n\
         insecure_test_root = [\"{}\"]\n\
         \n\
         [resources]\n\
         holdout = \"holdout.key\"\n",
        ks.join("key-service.toml").display(),
        assay_attestation::testing::default_chain_dir()
            .join("ark.pem")
            .display()
    );
    write(&ks.join("key-service.toml"), config.as_bytes())?;
    Ok(Written {
        job_hash: job.hash(),
        service_key: service_key.public(),
        measurement: measured.digest.try_into().unwrap_or([0; 48]),
    })
}

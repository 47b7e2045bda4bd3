//! The enclave as the image's process 1 (`docs/image.md`): the kernel runs `assay-enclave` as
//! `/init`; it mounts what it needs and loads the pinned modules ([`init`]), finds its channel
//! to the host (a virtio-serial port, [`channel`], wire types in [`protocol`]), and runs the job
//! the host offers:
//!
//! 1. the JobSpec from the host; its hash must be the HOST_DATA the launch bound (checked in the
//!    first report, before any key is asked for: `crate::job`);
//! 2. the recipe, the contributions and the encrypted holdout, each checked against the hash the
//!    JobSpec pins, and the model's files, streamed into memory once and checked against the
//!    recipe's hashes as they are loaded;
//! 3. evidence from `/dev/sev-guest` when the guest has it (SEV-SNP), else from the host's
//!    simulated AMD-SP over the channel (test roots only); key release through the host, sealed
//!    to the enclave's key;
//! 4. the job as `assay-enclave` runs it anywhere ([`crate::job::run`]), its journal kept by the
//!    host (sealed), its progress sent as events;
//! 5. the bundle, the alloy chain and the adapter sent to the host; the guest powers off.
//!
//! The host is untrusted: it can withhold or delay, and whatever it changes is refused here.

pub mod channel;
pub mod init;
pub mod protocol;

use std::path::Path;
use std::sync::Arc;

use assay_forge::job::JobSpec;
use assay_recipe::source::{MemoryModel, ModelSource};
use assay_recipe::threads::Threads;

use crate::Error;
use crate::evidence::EvidenceProvider;
use crate::evidence::sev_guest::{SEV_GUEST, SevGuest};
use crate::job::{HoldoutKey, Launch, Received, adapter_hash, check_inputs, run};
use channel::{Channel, HostShelf, KeyServiceThroughHost, SpThroughHost};
use protocol::{Input, Output};

/// The largest model file taken (a safetensors shard is a few GB at most).
const MAX_MODEL_FILE: u64 = 64 << 30;

/// The model's files a loader reads, of those the host lists: the config, the tokenizer and
/// its config, and the weights (one file, or the index and the shards it names).
fn model_files(index: &[(String, u64)], channel: &Channel) -> Result<Vec<String>, Error> {
    let listed = |name: &str| index.iter().any(|(n, _)| n == name);
    let mut wanted: Vec<String> = ["config.json", "tokenizer.json", "tokenizer_config.json"]
        .into_iter()
        .filter(|n| listed(n))
        .map(str::to_owned)
        .collect();
    if listed("model.safetensors") {
        wanted.push("model.safetensors".into());
    } else if listed("model.safetensors.index.json") {
        let name = "model.safetensors.index.json";
        let bytes = channel.get_bytes(
            &Input::Model(name.into()),
            assay_recipe::limits::WEIGHTS_INDEX as u64,
        )?;
        let shards =
            assay_recipe::weights::parse_index(&bytes, &Path::new("channel:model").join(name))?;
        wanted.push(name.into());
        for shard in shards {
            if !listed(&shard) {
                return Err(Error::Device {
                    path: "the host channel".into(),
                    reason: format!(
                        "the model's index names {shard}, which the host does not list"
                    ),
                });
            }
            wanted.push(shard);
        }
    }
    Ok(wanted)
}

/// The model's files, received into memory, each once (see [`model_files`]).
fn receive_model(channel: &Channel) -> Result<ModelSource, Error> {
    let index = channel.model_index()?;
    let mut model = MemoryModel {
        origin: "channel:model".into(),
        ..MemoryModel::default()
    };
    for name in model_files(&index, channel)? {
        let declared = index
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, size)| *size);
        // What the host declares only sizes the buffer (up to 1 GiB ahead); what it sends is
        // bounded and checked against the recipe's hashes when loaded.
        let mut bytes = Vec::with_capacity(declared.min(1 << 30) as usize);
        channel.get(&Input::Model(name.clone()), MAX_MODEL_FILE, &mut |chunk| {
            bytes.extend_from_slice(chunk)
        })?;
        model.files.insert(name, Arc::new(bytes));
    }
    Ok(ModelSource::Memory(Arc::new(model)))
}

/// Runs the job the host offers over `channel`, and sends its outputs. Errors after the holdout
/// was decrypted say their kind only (`crate::job`).
pub fn run_offered(channel: Arc<Channel>) -> Result<(), Error> {
    let snp = SevGuest::present(Path::new(SEV_GUEST));
    let offered = channel.hello(snp)?;
    let text = std::str::from_utf8(&offered.job).map_err(|_| Error::Device {
        path: "the host channel".into(),
        reason: "the JobSpec is not UTF-8 text".into(),
    })?;
    let job = JobSpec::parse(text, "the JobSpec from the host")?;
    eprintln!(
        "assay-enclave: job {} from the host ({}); every input is checked against it",
        job.hash(),
        if snp {
            "SEV-SNP: reports from /dev/sev-guest"
        } else {
            "NO SEV-SNP device: reports from the host's SIMULATED AMD-SP, test roots only"
        }
    );
    let limit = assay_recipe::limits::DATA as u64;
    let recipe = channel.get_bytes(&Input::Recipe, assay_recipe::limits::RECIPE as u64)?;
    let contributions = channel.get_bytes(&Input::Contributions, limit)?;
    let holdout = channel.get_bytes(&Input::Holdout, limit)?;
    let checked = check_inputs(
        &job,
        Received {
            recipe: (recipe, Path::new("channel:recipe")),
            contributions: (contributions, Path::new("channel:contributions")),
            holdout: (holdout, Path::new("channel:holdout")),
        },
    )?;
    let inputs = checked.with_model(receive_model(&channel)?);
    let provider: Box<dyn EvidenceProvider> = if snp {
        Box::new(SevGuest {
            device: SEV_GUEST.into(),
            fallback_certificates: Vec::new(),
        })
    } else {
        Box::new(SpThroughHost(channel.clone()))
    };
    let workers = (offered.workers as usize).max(1);
    let launch = Launch {
        workers,
        threads: Threads::new(offered.threads as usize)
            .unwrap_or_else(|| Threads::per_worker(workers)),
        journal: Some(Arc::new(HostShelf(channel.clone()))),
    };
    let key = HoldoutKey::Release {
        client: assay_keys::http::Client::with(Arc::new(KeyServiceThroughHost(channel.clone()))),
    };
    let progress = |u: assay_attribution::engine::Update| {
        eprintln!("assay-enclave: {}/{} trainings", u.done, u.total);
        channel.event(
            serde_json::json!({"event": "progress", "done": u.done, "total": u.total, "loss": u.loss})
                .to_string(),
        );
    };
    let finished = run(&job, inputs, &launch, provider.as_ref(), key, &progress)?;
    channel.event(
        serde_json::json!({"event": "journal", "resumed": finished.journal.resumed, "refused": finished.journal.refused})
            .to_string(),
    );
    let bundle = &finished.bundle;
    channel.output(Output::BundleJson, bundle.to_json().as_bytes())?;
    channel.output(Output::BundleCbor, &bundle.to_cbor())?;
    let chain = assay_alloy::chain_file(&finished.chain)
        .map_err(|e| Error::Sign(format!("the alloy chain file: {e}")))?;
    channel.output(Output::Chain, &chain)?;
    for (name, bytes) in finished.adapter.files() {
        channel.output(Output::Adapter(name.into()), bytes)?;
    }
    eprintln!(
        "assay-enclave: done; evidence {}, signer {}, {} contributions, adapter {}, alloy head {}",
        bundle.evidence.name(),
        bundle.signer,
        bundle.result.scores.len(),
        hex::encode(adapter_hash(&finished.adapter)),
        finished
            .chain
            .last()
            .map(|l| l.id().to_string())
            .unwrap_or_default()
    );
    channel.finished()
}

/// Process 1's whole life: the mounts and modules, the job over the channel, power off. A
/// failure is sent to the host (its kind and message) and written on the console.
pub fn boot() -> ! {
    let outcome = (|| {
        init::mount_all()?;
        let loaded = init::load_modules(Path::new(init::MODULES))?;
        eprintln!("assay-enclave: process 1; {loaded} modules loaded");
        let port = channel::find_port(Path::new("/sys"), Path::new("/dev"), protocol::PORT_NAME)?;
        let stream = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&port)
            .map_err(|e| Error::Device {
                path: port.display().to_string(),
                reason: e.to_string(),
            })?;
        let channel = Arc::new(Channel::new(Box::new(stream)));
        let result = run_offered(channel.clone());
        if let Err(e) = &result {
            let _ = channel.failed(e.kind(), &e.to_string());
        }
        result
    })();
    if let Err(e) = outcome {
        eprintln!("assay-enclave: {e}");
    }
    init::power_off()
}

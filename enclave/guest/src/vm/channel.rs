//! The guest's side of the channel (`protocol`): a client over one byte stream (the
//! virtio-serial port), shared by the job's threads — each exchange, question and answer, holds
//! the stream. On it: the key service's client ([`Transport`]), the simulated AMD-SP
//! ([`EvidenceProvider`]), the journal's [`Shelf`], progress, and the job's outputs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use assay_forge::EvidenceKind;
use assay_keys::http::Transport;

use super::protocol::{ChannelError, FromGuest, FromHost, Input, Output, VERSION};
use crate::Error;
use crate::evidence::{Evidence, EvidenceProvider, certificates_from_table};
use crate::journal::Shelf;

/// Where the port was found, for messages.
const ORIGIN: &str = "the host channel";

/// A stream the channel runs over.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// The guest's side of the channel. See the module documentation.
pub struct Channel {
    stream: Mutex<Box<dyn Stream>>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Channel")
    }
}

fn channel_error(e: ChannelError) -> Error {
    Error::Device {
        path: ORIGIN.into(),
        reason: e.to_string(),
    }
}

fn unexpected(asked: &str, got: &FromHost) -> Error {
    Error::Device {
        path: ORIGIN.into(),
        reason: format!("asked for {asked}, the host answered {}", name(got)),
    }
}

fn name(m: &FromHost) -> &'static str {
    match m {
        FromHost::Job { .. } => "a job",
        FromHost::Index(_) => "a file index",
        FromHost::Data(_) => "data",
        FromHost::End => "an end of data",
        FromHost::Refused(_) => "a refusal",
        FromHost::Report(_) => "a report",
        FromHost::KeyService { .. } => "a key-service answer",
        FromHost::JournalEntry(_) => "a journal entry",
        FromHost::Ack => "an acknowledgement",
    }
}

/// What the host answered [`FromGuest::Hello`] with.
#[derive(Debug)]
pub struct Offered {
    /// The JobSpec's JSON.
    pub job: Vec<u8>,
    /// Trainings in parallel (0: the default).
    pub workers: u32,
    /// Threads per training (0: the default).
    pub threads: u32,
}

impl Channel {
    /// The channel over `stream`.
    pub fn new(stream: Box<dyn Stream>) -> Channel {
        Channel {
            stream: Mutex::new(stream),
        }
    }

    /// The stream, held for one exchange.
    fn lock(&self) -> Result<MutexGuard<'_, Box<dyn Stream>>, Error> {
        self.stream.lock().map_err(|_| Error::Device {
            path: ORIGIN.into(),
            reason: "a thread failed while it held the channel".into(),
        })
    }

    /// Sends `m` and reads the answer.
    fn ask(&self, m: &FromGuest) -> Result<FromHost, Error> {
        let mut s = self.lock()?;
        m.write(&mut *s).map_err(channel_error)?;
        FromHost::read(&mut *s).map_err(channel_error)
    }

    /// Sends `m`, which has no answer.
    fn tell(&self, m: &FromGuest) -> Result<(), Error> {
        let mut s = self.lock()?;
        m.write(&mut *s).map_err(channel_error)
    }

    /// Says hello (whether this guest has an SNP device) and takes the job the host offers.
    pub fn hello(&self, snp: bool) -> Result<Offered, Error> {
        match self.ask(&FromGuest::Hello {
            version: VERSION,
            snp,
        })? {
            FromHost::Job {
                job,
                workers,
                threads,
            } => Ok(Offered {
                job,
                workers,
                threads,
            }),
            other => Err(unexpected("the job", &other)),
        }
    }

    /// Streams `input` into `sink`, a chunk at a time; refuses more than `limit` bytes.
    pub fn get(
        &self,
        input: &Input,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, Error> {
        let what = match input {
            Input::Recipe => "the recipe".to_owned(),
            Input::Contributions => "the contributions".to_owned(),
            Input::Holdout => "the encrypted holdout".to_owned(),
            Input::Model(name) => format!("the model's {name}"),
        };
        let mut s = self.lock()?;
        FromGuest::Get(input.clone())
            .write(&mut *s)
            .map_err(channel_error)?;
        let mut total = 0u64;
        loop {
            match FromHost::read(&mut *s).map_err(channel_error)? {
                FromHost::Data(chunk) => {
                    total += chunk.len() as u64;
                    if total > limit {
                        return Err(Error::Device {
                            path: ORIGIN.into(),
                            reason: format!("{what} is over its limit of {limit} bytes"),
                        });
                    }
                    sink(&chunk);
                }
                FromHost::End => return Ok(total),
                FromHost::Refused(why) => {
                    return Err(Error::Device {
                        path: ORIGIN.into(),
                        reason: format!("the host cannot give {what}: {why}"),
                    });
                }
                other => return Err(unexpected(&what, &other)),
            }
        }
    }

    /// `input`'s bytes, at most `limit`.
    pub fn get_bytes(&self, input: &Input, limit: u64) -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::new();
        self.get(input, limit, &mut |chunk| bytes.extend_from_slice(chunk))?;
        Ok(bytes)
    }

    /// The model folder's files and sizes, as the host lists them.
    pub fn model_index(&self) -> Result<Vec<(String, u64)>, Error> {
        match self.ask(&FromGuest::ModelIndex)? {
            FromHost::Index(files) => Ok(files),
            other => Err(unexpected("the model's files", &other)),
        }
    }

    /// Sends an event line; a channel that fails here fails the next exchange too.
    pub fn event(&self, line: String) {
        let _ = self.tell(&FromGuest::Event(line));
    }

    /// Sends an output, a chunk at a time, and waits until the host has kept it whole.
    pub fn output(&self, output: Output, bytes: &[u8]) -> Result<(), Error> {
        let mut s = self.lock()?;
        for chunk in bytes.chunks(super::protocol::CHUNK) {
            FromGuest::Output(output.clone(), chunk.to_vec())
                .write(&mut *s)
                .map_err(channel_error)?;
        }
        FromGuest::OutputEnd(output)
            .write(&mut *s)
            .map_err(channel_error)?;
        match FromHost::read(&mut *s).map_err(channel_error)? {
            FromHost::Ack => Ok(()),
            FromHost::Refused(why) => Err(Error::Device {
                path: ORIGIN.into(),
                reason: format!("the host did not keep an output: {why}"),
            }),
            other => Err(unexpected("an acknowledgement", &other)),
        }
    }

    /// Says the job finished (every output sent).
    pub fn finished(&self) -> Result<(), Error> {
        self.tell(&FromGuest::Finished)
    }

    /// Says the job failed: its kind and message (never holdout text: see `crate::job`).
    pub fn failed(&self, kind: &str, message: &str) -> Result<(), Error> {
        self.tell(&FromGuest::Failed {
            kind: kind.into(),
            message: message.into(),
        })
    }
}

/// The key service, reached through the host.
#[derive(Debug)]
pub struct KeyServiceThroughHost(pub std::sync::Arc<Channel>);

impl Transport for KeyServiceThroughHost {
    fn name(&self) -> String {
        "the key service, through the host".into()
    }

    fn post(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        match self
            .0
            .ask(&FromGuest::KeyService {
                path: path.into(),
                body,
            })
            .map_err(|e| e.to_string())?
        {
            FromHost::KeyService { status: 0, body } => Err(format!(
                "the host could not reach it: {}",
                String::from_utf8_lossy(&body)
            )),
            FromHost::KeyService { status, body } => Ok((status, body)),
            other => Err(unexpected("the key service's answer", &other).to_string()),
        }
    }
}

/// A simulated AMD-SP on the host, over the channel: the same MSG_REPORT_REQ and answer as
/// `crate::evidence::channel`, each in one frame. Test roots only; the guest holds no key.
#[derive(Debug)]
pub struct SpThroughHost(pub std::sync::Arc<Channel>);

impl EvidenceProvider for SpThroughHost {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Simulated
    }

    fn attest(&self, report_data: [u8; 64]) -> Result<Option<Evidence>, Error> {
        let request = assay_attestation::abi::ReportRequest {
            report_data,
            vmpl: 0,
        };
        let answer = match self
            .0
            .ask(&FromGuest::Report(request.to_bytes().to_vec()))?
        {
            FromHost::Report(answer) => answer,
            FromHost::Refused(why) => {
                return Err(Error::Device {
                    path: ORIGIN.into(),
                    reason: format!("the host has no AMD-SP to ask: {why}"),
                });
            }
            other => return Err(unexpected("a report", &other)),
        };
        let answer = assay_attestation::abi::ExtendedResponse::read_from(&mut answer.as_slice())
            .map_err(Error::Attestation)?;
        let (report, _) =
            assay_attestation::abi::extract_report(&answer.message).map_err(Error::Attestation)?;
        Ok(Some(Evidence {
            report: report.to_vec(),
            certificates: certificates_from_table(&answer.certificates, &[])?,
        }))
    }
}

/// The journal's entries, kept by the host.
#[derive(Debug)]
pub struct HostShelf(pub std::sync::Arc<Channel>);

impl Shelf for HostShelf {
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        match self.0.ask(&FromGuest::JournalLoad(name.into())) {
            Ok(FromHost::JournalEntry(entry)) => entry,
            _ => None,
        }
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        match self
            .0
            .ask(&FromGuest::JournalStore(name.into(), bytes.to_vec()))
            .map_err(|e| e.to_string())?
        {
            FromHost::Ack => Ok(()),
            FromHost::Refused(why) => Err(why),
            other => Err(unexpected("an acknowledgement", &other).to_string()),
        }
    }

    fn place(&self, name: &str) -> String {
        format!("the host's journal, {name}")
    }
}

/// The virtio-serial port named `name`: the `/dev` node of the port whose
/// `/sys/class/virtio-ports/*/name` it is.
pub fn find_port(sys: &Path, dev: &Path, name: &str) -> Result<PathBuf, Error> {
    let class = sys.join("class/virtio-ports");
    let entries = std::fs::read_dir(&class).map_err(|e| Error::Device {
        path: class.display().to_string(),
        reason: format!("no virtio-serial ports ({e}): was the guest launched with its channel?"),
    })?;
    for e in entries.flatten() {
        let named = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
        if named.trim() == name {
            return Ok(dev.join(e.file_name()));
        }
    }
    Err(Error::Device {
        path: class.display().to_string(),
        reason: format!("no virtio-serial port is named {name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_found_by_its_name() {
        let root = tempfile::tempdir().unwrap();
        let sys = root.path().join("sys");
        for (port, name) in [
            ("vport0p1", "org.other"),
            ("vport1p1", "org.assay.channel.0"),
        ] {
            let d = sys.join("class/virtio-ports").join(port);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        }
        let dev = root.path().join("dev");
        assert_eq!(
            find_port(&sys, &dev, "org.assay.channel.0").unwrap(),
            dev.join("vport1p1")
        );
        let e = find_port(&sys, &dev, "org.absent").unwrap_err();
        assert!(
            e.to_string().contains("no virtio-serial port is named"),
            "{e}"
        );
        let e = find_port(&root.path().join("nosys"), &dev, "x").unwrap_err();
        assert!(e.to_string().contains("launched with its channel"), "{e}");
    }
}

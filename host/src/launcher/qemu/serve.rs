//! The host's side of a guest's channel (`assay_enclave::vm::protocol`): it answers what the
//! guest asks for from a [`Supply`] — the job, its inputs, reports of the simulated AMD-SP, the
//! key service, the sealed journal — keeps what the guest sends out, and says how the guest
//! ended. It answers; it decides nothing: the guest checks everything it receives.
//!
//! [`JobSupply`] supplies one job from its launch file (`[run]`'s paths, the key service's
//! URL) and keeps the guest's outputs in the job's folder. Another [`Supply`] (one that changes
//! bytes on their way, in a test) plugs in the same way.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use assay_attestation::abi::ReportRequest;
use assay_attestation::testing::SimulatedSp;
use assay_enclave::vm::protocol::{CHUNK, FromGuest, FromHost, Input, Output};
use assay_forge::job::JobFile;

use crate::launcher::{Event, LaunchRequest};
use crate::store::JobError;

/// What a host gives a guest, and keeps from it. Every method answers one question of the
/// guest; an `Err` is sent as a refusal with its text.
pub trait Supply: Send + Sync {
    /// The JobSpec (JSON) and how to run it: trainings in parallel, threads (0: the default).
    fn job(&self) -> Result<(Vec<u8>, u32, u32), String>;
    /// An input, to be read to its end.
    fn open(&self, input: &Input) -> Result<Box<dyn Read + Send>, String>;
    /// The model folder's regular files and their sizes.
    fn model_index(&self) -> Result<Vec<(String, u64)>, String>;
    /// The simulated AMD-SP's answer to MSG_REPORT_REQ.
    fn report(&self, request: &[u8]) -> Result<Vec<u8>, String>;
    /// A key-release request forwarded to the key service: its status and body.
    fn key_service(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String>;
    /// A sealed journal entry.
    fn journal_get(&self, name: &str) -> Option<Vec<u8>>;
    /// Keeps a sealed journal entry.
    fn journal_put(&self, name: &str, bytes: &[u8]) -> Result<(), String>;
    /// Keeps an output whole.
    fn output(&self, output: &Output, bytes: &[u8]) -> Result<(), String>;
}

/// A guest's channel: a stream whose reads can be given a deadline.
pub trait Channel: Read + Write {
    /// Reads wait at most `t` (`None`: as long as it takes).
    fn patience(&mut self, t: Option<Duration>);
}

impl Channel for std::os::unix::net::UnixStream {
    fn patience(&mut self, t: Option<Duration>) {
        let _ = self.set_read_timeout(t);
    }
}

/// How a guest's channel ended.
#[derive(Clone, Debug, PartialEq)]
pub enum GuestEnd {
    /// It did not say hello within the boot timeout.
    NeverConnected,
    /// It said the job finished, every output kept.
    Finished,
    /// It said the job failed.
    Failed(JobError),
    /// The channel closed or broke before it said either.
    Lost(String),
}

/// A name the guest gives a file it sends (a journal entry, an adapter file): one plain name.
fn plain(name: &str) -> Result<&str, String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(name)
    } else {
        Err(format!("{name:?} is not a plain file name"))
    }
}

/// Writes `bytes` to `path` whole or not at all.
fn keep(path: &Path, bytes: &[u8]) -> Result<(), String> {
    assay_keys::write_atomic(path, bytes, false).map_err(|e| e.to_string())
}

/// Keeps `bytes` as the file the guest names `name` in the folder `dir` (made if absent).
fn keep_in(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(plain(name)?);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    keep(&path, bytes)
}

/// A job's supply: its launch file's JobSpec and inputs, a simulated AMD-SP when the guest has
/// no SEV-SNP, the key service at `[run]`'s URL; its outputs and journal where the launch
/// request says.
pub struct JobSupply {
    file: JobFile,
    request: LaunchRequest,
    sp: Option<SimulatedSp>,
    workers: u32,
    threads: u32,
}

impl JobSupply {
    /// The supply of `request`'s launch file, keeping outputs in its folder; `sp` answers
    /// report requests (none under SEV-SNP, where the guest asks its own AMD-SP).
    pub fn new(
        request: &LaunchRequest,
        sp: Option<SimulatedSp>,
        workers: Option<usize>,
        threads: Option<usize>,
    ) -> Result<Self, crate::Error> {
        let file = JobFile::load_resolved(&request.job_file)?;
        let count = |n: Option<usize>| n.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
        Ok(JobSupply {
            workers: count(workers.or(file.run.workers)),
            threads: count(threads.or(file.run.threads)),
            file,
            request: request.clone(),
            sp,
        })
    }

    fn path(&self, input: &Input) -> Result<PathBuf, String> {
        let run = &self.file.run;
        let named = |p: &Option<PathBuf>, key: &str| {
            p.clone()
                .ok_or_else(|| format!("the job's [run] names no {key}"))
        };
        match input {
            Input::Recipe => named(&run.recipe, "recipe"),
            Input::Contributions => named(&run.contributions, "contributions"),
            Input::Holdout => named(&run.holdout, "holdout"),
            Input::Model(name) => Ok(named(&run.model, "model")?.join(plain(name)?)),
        }
    }
}

impl Supply for JobSupply {
    fn job(&self) -> Result<(Vec<u8>, u32, u32), String> {
        let json = serde_json::to_vec(&self.file.job).map_err(|e| e.to_string())?;
        Ok((json, self.workers, self.threads))
    }

    fn open(&self, input: &Input) -> Result<Box<dyn Read + Send>, String> {
        let path = self.path(input)?;
        let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        match file.metadata() {
            Ok(m) if m.is_file() => Ok(Box::new(file)),
            _ => Err(format!("{} is not a regular file", path.display())),
        }
    }

    fn model_index(&self) -> Result<Vec<(String, u64)>, String> {
        let dir = self
            .file
            .run
            .model
            .clone()
            .ok_or("the job's [run] names no model")?;
        let mut files = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
            let meta = std::fs::metadata(e.path()).map_err(|e| e.to_string())?;
            if let (true, Some(name)) = (meta.is_file(), e.file_name().to_str()) {
                if plain(name).is_ok() {
                    files.push((name.to_owned(), meta.len()));
                }
            }
        }
        files.sort();
        Ok(files)
    }

    fn report(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let sp = self
            .sp
            .as_ref()
            .ok_or("this guest was launched with SEV-SNP: its reports come from its own AMD-SP")?;
        let request: &[u8; assay_attestation::abi::REPORT_REQUEST_SIZE] = request
            .try_into()
            .map_err(|_| format!("MSG_REPORT_REQ is {} bytes", request.len()))?;
        let request = ReportRequest::from_bytes(request).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        sp.answer(&request)
            .write_to(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn key_service(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        use assay_keys::http::Transport;
        if !matches!(path, "/v1/challenge" | "/v1/key") {
            return Err(format!("{path:?} is not a key-release request"));
        }
        let url = self
            .file
            .run
            .key_service
            .as_deref()
            .ok_or("no key service: give the job's [run] key_service, or --key-service")?;
        assay_keys::http::Http::new(url).post(path, body)
    }

    fn journal_get(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.request.journal().join(plain(name).ok()?)).ok()
    }

    fn journal_put(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        keep_in(&self.request.journal(), name, bytes)
    }

    fn output(&self, output: &Output, bytes: &[u8]) -> Result<(), String> {
        match output {
            Output::BundleJson => keep(&self.request.bundle_json(), bytes),
            Output::BundleCbor => keep(&self.request.bundle_cbor(), bytes),
            Output::Chain => keep(&self.request.chain(), bytes),
            Output::Adapter(name) => keep_in(&self.request.adapter(), name, bytes),
        }
    }
}

/// The largest output taken from a guest (an adapter's weights of a large model).
const MAX_OUTPUT: usize = 4 << 30;

/// Sends `input` as chunks and an end, or a refusal.
fn send_input(stream: &mut impl Write, supply: &dyn Supply, input: &Input) -> Result<(), String> {
    let mut reader = match supply.open(input) {
        Ok(r) => r,
        Err(why) => {
            return FromHost::Refused(why)
                .write(stream)
                .map_err(|e| e.to_string());
        }
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return FromHost::Refused(format!("reading it: {e}"))
                    .write(stream)
                    .map_err(|e| e.to_string());
            }
        };
        FromHost::Data(buf[..n].to_vec())
            .write(stream)
            .map_err(|e| e.to_string())?;
    }
    FromHost::End.write(stream).map_err(|e| e.to_string())
}

/// The event a guest's progress line stands for (`assay-enclave --events json`).
pub fn event_of(line: &str) -> Option<Event> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    super::super::event(&v)
}

/// How long a guest may take, and who hears of it.
pub struct Watch<'a> {
    /// How long a guest may take to boot and say hello.
    pub boot_timeout: Duration,
    /// Called when the guest said hello (its enclave is ready).
    pub ready: &'a dyn Fn(),
    /// Called with each progress event.
    pub events: &'a dyn Fn(Event),
}

/// Serves one guest on `stream` until it says it finished or failed, or the channel ends.
pub fn serve(
    stream: &mut impl Channel,
    supply: &dyn Supply,
    snp_expected: bool,
    watch: &Watch,
) -> GuestEnd {
    let lost = |e: &dyn std::fmt::Display| GuestEnd::Lost(e.to_string());
    let mut partial: Option<(Output, Vec<u8>)> = None;
    let mut hello = false;
    stream.patience(Some(watch.boot_timeout));
    loop {
        let message = match FromGuest::read(stream) {
            Ok(m) => m,
            Err(_) if !hello => return GuestEnd::NeverConnected,
            Err(e) => return lost(&e),
        };
        if !hello {
            if !matches!(message, FromGuest::Hello { .. }) {
                return lost(&"the guest's first message was not hello");
            }
            hello = true;
            stream.patience(None);
            (watch.ready)();
        }
        let answer = match message {
            FromGuest::Hello { version, snp } => {
                if version != assay_enclave::vm::protocol::VERSION {
                    return lost(&format!(
                        "the guest speaks channel version {version}, this host {}",
                        assay_enclave::vm::protocol::VERSION
                    ));
                }
                if snp != snp_expected {
                    return lost(&if snp_expected {
                        "the guest was launched with SEV-SNP but has no /dev/sev-guest".to_owned()
                    } else {
                        "the guest has an SEV-SNP device, but this launcher simulates one"
                            .to_owned()
                    });
                }
                match supply.job() {
                    Ok((job, workers, threads)) => Some(FromHost::Job {
                        job,
                        workers,
                        threads,
                    }),
                    Err(why) => return lost(&format!("no job to offer: {why}")),
                }
            }
            FromGuest::Get(input) => {
                if let Err(e) = send_input(stream, supply, &input) {
                    return lost(&e);
                }
                None
            }
            FromGuest::ModelIndex => Some(match supply.model_index() {
                Ok(files) => FromHost::Index(files),
                Err(why) => FromHost::Refused(why),
            }),
            FromGuest::Report(request) => Some(match supply.report(&request) {
                Ok(answer) => FromHost::Report(answer),
                Err(why) => FromHost::Refused(why),
            }),
            FromGuest::KeyService { path, body } => Some(match supply.key_service(&path, body) {
                Ok((status, body)) => FromHost::KeyService { status, body },
                Err(why) => FromHost::KeyService {
                    status: 0,
                    body: why.into_bytes(),
                },
            }),
            FromGuest::JournalLoad(name) => Some(FromHost::JournalEntry(supply.journal_get(&name))),
            FromGuest::JournalStore(name, bytes) => Some(match supply.journal_put(&name, &bytes) {
                Ok(()) => FromHost::Ack,
                Err(why) => FromHost::Refused(why),
            }),
            FromGuest::Event(line) => {
                if let Some(e) = event_of(&line) {
                    (watch.events)(e);
                }
                None
            }
            FromGuest::Output(output, chunk) => {
                match &mut partial {
                    Some((o, bytes)) if *o == output => bytes.extend_from_slice(&chunk),
                    Some(_) => return lost(&"an output began before the one before it ended"),
                    None => partial = Some((output, chunk)),
                }
                if partial.as_ref().is_some_and(|(_, b)| b.len() > MAX_OUTPUT) {
                    return lost(&format!("an output of over {MAX_OUTPUT} bytes"));
                }
                None
            }
            FromGuest::OutputEnd(output) => {
                let bytes = match partial.take() {
                    Some((o, bytes)) if o == output => bytes,
                    Some(_) => return lost(&"an output ended that was not the one sent"),
                    None => Vec::new(),
                };
                Some(match supply.output(&output, &bytes) {
                    Ok(()) => FromHost::Ack,
                    Err(why) => FromHost::Refused(why),
                })
            }
            FromGuest::Finished => return GuestEnd::Finished,
            FromGuest::Failed { kind, message } => {
                return GuestEnd::Failed(JobError { kind, message });
            }
        };
        if let Some(answer) = answer
            && let Err(e) = answer.write(stream)
        {
            return lost(&e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_enclave::vm::protocol::ChannelError;
    use std::os::unix::net::UnixStream;
    use std::sync::Mutex;

    /// A supply of fixed answers that keeps what it is given.
    #[derive(Default)]
    struct Fixed {
        kept: Mutex<Vec<(Output, Vec<u8>)>>,
        journal: Mutex<Vec<(String, Vec<u8>)>>,
    }

    impl Supply for Fixed {
        fn job(&self) -> Result<(Vec<u8>, u32, u32), String> {
            Ok((b"{\"job\":1}".to_vec(), 2, 1))
        }
        fn open(&self, input: &Input) -> Result<Box<dyn Read + Send>, String> {
            match input {
                Input::Recipe => Ok(Box::new(std::io::Cursor::new(vec![7u8; CHUNK + 10]))),
                _ => Err("not here".into()),
            }
        }
        fn model_index(&self) -> Result<Vec<(String, u64)>, String> {
            Ok(vec![("config.json".into(), 2)])
        }
        fn report(&self, _: &[u8]) -> Result<Vec<u8>, String> {
            Err("no AMD-SP".into())
        }
        fn key_service(&self, _: &str, _: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
            Err("unreachable".into())
        }
        fn journal_get(&self, name: &str) -> Option<Vec<u8>> {
            let j = self.journal.lock().unwrap();
            j.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone())
        }
        fn journal_put(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
            plain(name)?;
            self.journal
                .lock()
                .unwrap()
                .push((name.into(), bytes.to_vec()));
            Ok(())
        }
        fn output(&self, output: &Output, bytes: &[u8]) -> Result<(), String> {
            self.kept
                .lock()
                .unwrap()
                .push((output.clone(), bytes.to_vec()));
            Ok(())
        }
    }

    /// Serves `guest`'s side of a channel (run on the other end of a socket pair): how it
    /// ended, the events, whether ready was called, what the supply kept.
    fn exchange(
        snp_expected: bool,
        guest: impl FnOnce(&mut UnixStream) + Send + 'static,
    ) -> (GuestEnd, Vec<Event>, bool, Fixed) {
        let (mut host_end, mut guest_end) = UnixStream::pair().unwrap();
        let talk = std::thread::spawn(move || guest(&mut guest_end));
        let supply = Fixed::default();
        let events = Mutex::new(Vec::new());
        let ready = Mutex::new(false);
        let end = serve(
            &mut host_end,
            &supply,
            snp_expected,
            &Watch {
                boot_timeout: Duration::from_secs(5),
                ready: &|| *ready.lock().unwrap() = true,
                events: &|e| events.lock().unwrap().push(e),
            },
        );
        drop(host_end);
        talk.join().unwrap();
        let ready = *ready.lock().unwrap();
        (end, events.into_inner().unwrap(), ready, supply)
    }

    /// Says hello as a guest without SNP; the host's answer, or why there is none.
    fn hello(s: &mut UnixStream) -> Result<FromHost, ChannelError> {
        FromGuest::Hello {
            version: assay_enclave::vm::protocol::VERSION,
            snp: false,
        }
        .write(s)?;
        FromHost::read(s)
    }

    #[test]
    fn a_guests_whole_exchange_is_answered_and_its_outputs_kept() {
        let (end, events, ready, supply) = exchange(false, |s| {
            assert_eq!(
                hello(s).unwrap(),
                FromHost::Job {
                    job: b"{\"job\":1}".to_vec(),
                    workers: 2,
                    threads: 1
                }
            );
            FromGuest::Get(Input::Recipe).write(s).unwrap();
            let mut got = Vec::new();
            loop {
                match FromHost::read(s).unwrap() {
                    FromHost::Data(d) => got.extend(d),
                    FromHost::End => break,
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(got, vec![7u8; CHUNK + 10]);
            FromGuest::Get(Input::Holdout).write(s).unwrap();
            assert_eq!(
                FromHost::read(s).unwrap(),
                FromHost::Refused("not here".into())
            );
            FromGuest::ModelIndex.write(s).unwrap();
            assert_eq!(
                FromHost::read(s).unwrap(),
                FromHost::Index(vec![("config.json".into(), 2)])
            );
            FromGuest::Report(vec![0; 96]).write(s).unwrap();
            assert_eq!(
                FromHost::read(s).unwrap(),
                FromHost::Refused("no AMD-SP".into())
            );
            FromGuest::KeyService {
                path: "/v1/key".into(),
                body: vec![],
            }
            .write(s)
            .unwrap();
            assert_eq!(
                FromHost::read(s).unwrap(),
                FromHost::KeyService {
                    status: 0,
                    body: b"unreachable".to_vec()
                }
            );
            FromGuest::JournalStore("run-000001.sealed".into(), vec![1, 2])
                .write(s)
                .unwrap();
            assert_eq!(FromHost::read(s).unwrap(), FromHost::Ack);
            FromGuest::JournalStore("../escape".into(), vec![1])
                .write(s)
                .unwrap();
            assert!(matches!(FromHost::read(s).unwrap(), FromHost::Refused(_)));
            FromGuest::JournalLoad("run-000001.sealed".into())
                .write(s)
                .unwrap();
            assert_eq!(
                FromHost::read(s).unwrap(),
                FromHost::JournalEntry(Some(vec![1, 2]))
            );
            FromGuest::Event(r#"{"event":"progress","done":1,"total":4,"loss":0.5}"#.into())
                .write(s)
                .unwrap();
            FromGuest::Event("not json".into()).write(s).unwrap();
            for chunk in [&b"ab"[..], b"cd"] {
                FromGuest::Output(Output::Chain, chunk.to_vec())
                    .write(s)
                    .unwrap();
            }
            FromGuest::OutputEnd(Output::Chain).write(s).unwrap();
            assert_eq!(FromHost::read(s).unwrap(), FromHost::Ack);
            FromGuest::Finished.write(s).unwrap();
        });
        assert_eq!(end, GuestEnd::Finished);
        assert!(ready);
        assert_eq!(
            events,
            [Event::Progress(crate::store::Progress {
                done: 1,
                total: 4,
                loss: Some(0.5)
            })]
        );
        assert_eq!(
            *supply.kept.lock().unwrap(),
            [(Output::Chain, b"abcd".to_vec())]
        );
    }

    #[test]
    fn a_guest_that_breaks_the_protocol_ends_its_channel_with_the_reason() {
        let lost = |end: GuestEnd, needle: &str| match end {
            GuestEnd::Lost(why) => assert!(why.contains(needle), "{needle}: {why}"),
            other => panic!("{needle}: {other:?}"),
        };
        // Silence: it never said hello.
        let (end, _, ready, _) = exchange(false, |s| {
            let _ = FromHost::read(s);
        });
        assert!(
            matches!(end, GuestEnd::NeverConnected | GuestEnd::Lost(_)),
            "{end:?}"
        );
        assert!(!ready);
        let (end, ..) = exchange(false, |s| {
            FromGuest::ModelIndex.write(s).unwrap();
        });
        lost(end, "first message was not hello");
        let (end, ..) = exchange(false, |s| {
            FromGuest::Hello {
                version: 9,
                snp: false,
            }
            .write(s)
            .unwrap();
        });
        lost(end, "channel version 9");
        let (end, ..) = exchange(true, |s| {
            assert!(hello(s).is_err(), "no job for a guest without SEV-SNP");
        });
        lost(end, "no /dev/sev-guest");
        let (end, ..) = exchange(false, |s| {
            hello(s).unwrap();
            FromGuest::Output(Output::Chain, vec![1]).write(s).unwrap();
            FromGuest::Output(Output::BundleJson, vec![2])
                .write(s)
                .unwrap();
        });
        lost(end, "began before");
        let (end, ..) = exchange(false, |s| {
            hello(s).unwrap();
            FromGuest::Output(Output::Chain, vec![1]).write(s).unwrap();
            FromGuest::OutputEnd(Output::BundleCbor).write(s).unwrap();
        });
        lost(end, "not the one sent");
        let (end, ..) = exchange(false, |s| {
            hello(s).unwrap();
            FromGuest::Failed {
                kind: "recipe".into(),
                message: "weights hash differs".into(),
            }
            .write(s)
            .unwrap();
        });
        assert_eq!(
            end,
            GuestEnd::Failed(JobError {
                kind: "recipe".into(),
                message: "weights hash differs".into()
            })
        );
        let (end, ..) = exchange(false, |s| {
            hello(s).unwrap();
        });
        lost(end, "closed");
    }

    #[test]
    fn names_a_guest_gives_are_plain_file_names() {
        for ok in ["run-000001.sealed", "adapter_model.safetensors", "a-b_c.d"] {
            assert_eq!(plain(ok), Ok(ok));
        }
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "a\0b",
            "x y",
            &"a".repeat(256),
        ] {
            assert!(plain(bad).is_err(), "{bad:?}");
        }
    }
}

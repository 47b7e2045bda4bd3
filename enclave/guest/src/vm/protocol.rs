//! The channel between a guest and its host (`docs/image.md`, "The channel"): one byte stream —
//! a virtio-serial port in the guest, a Unix socket on the host — carrying framed messages, the
//! guest asking and the host answering. These are the wire types of both sides.
//!
//! The host is untrusted: the guest checks all it receives against the hashes its JobSpec pins,
//! and the JobSpec against the HOST_DATA its launch bound; the key service's answer is sealed to
//! the enclave's key; what the guest sends out is signed.
//!
//! A frame is `u32 LE length ‖ u8 tag ‖ body`, the length counting tag and body and at most
//! [`MAX_FRAME`]. A body is its fields in order: integers little-endian; byte strings and text
//! as `u32 LE length ‖ bytes` (text in UTF-8); an optional field as `0`, or `1` and the field.
//! A frame with a field missing, bytes left over or an unknown tag is refused.

use std::io::{Read, Write};

/// The protocol's version, in [`FromGuest::Hello`].
pub const VERSION: u32 = 1;

/// The name of the guest's virtio-serial port (`/sys/class/virtio-ports/*/name`).
pub const PORT_NAME: &str = "org.assay.channel.0";

/// The largest frame, tag and body: a chunk of a file and its framing.
pub const MAX_FRAME: usize = CHUNK + 4096;

/// Files are sent in chunks of this many bytes.
pub const CHUNK: usize = 1 << 20;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The stream ended or failed.
    #[error("the channel {0}")]
    Io(String),
    /// The bytes are not a frame of this protocol.
    #[error("a malformed frame on the channel: {0}")]
    Malformed(String),
}

/// A job input the guest asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The recipe file.
    Recipe,
    /// The contributions file.
    Contributions,
    /// The encrypted holdout file.
    Holdout,
    /// A file of the model folder, by name.
    Model(String),
}

/// Something the guest sends out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The bundle, JSON.
    BundleJson,
    /// The bundle, CBOR.
    BundleCbor,
    /// The job's alloy chain file.
    Chain,
    /// A file of the adapter folder, by name.
    Adapter(String),
}

/// A message from the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromGuest {
    /// The first message: the protocol version, and whether the guest has an SNP device
    /// (otherwise it asks the host's simulated AMD-SP for reports).
    Hello {
        /// [`VERSION`].
        version: u32,
        /// `/dev/sev-guest` is there.
        snp: bool,
    },
    /// Asks for an input: answered by [`FromHost::Data`] chunks and [`FromHost::End`], or
    /// [`FromHost::Refused`].
    Get(Input),
    /// Asks for the model folder's files: answered by [`FromHost::Index`].
    ModelIndex,
    /// MSG_REPORT_REQ for the simulated AMD-SP: answered by [`FromHost::Report`].
    Report(Vec<u8>),
    /// A key-release request to forward to the key service (`POST` to `path`, JSON body):
    /// answered by [`FromHost::KeyService`].
    KeyService {
        /// The path, `/v1/challenge` or `/v1/key`.
        path: String,
        /// The request body.
        body: Vec<u8>,
    },
    /// Asks for a sealed journal entry: answered by [`FromHost::JournalEntry`].
    JournalLoad(String),
    /// Keeps a sealed journal entry: answered by [`FromHost::Ack`].
    JournalStore(String, Vec<u8>),
    /// A progress event (one line of `assay-enclave --events json`); not answered.
    Event(String),
    /// A chunk of an output of the job (appended to what came before); not answered.
    Output(Output, Vec<u8>),
    /// The end of an output: answered by [`FromHost::Ack`] once the host kept it whole.
    OutputEnd(Output),
    /// The job is done and every output sent; the guest powers off.
    Finished,
    /// The job failed: the error's kind and message (never a holdout byte); the guest powers
    /// off.
    Failed {
        /// The error's kind.
        kind: String,
        /// Its message.
        message: String,
    },
}

/// A message from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromHost {
    /// The answer to [`FromGuest::Hello`]: the JobSpec (JSON, whose hash must be the launch's
    /// HOST_DATA) and how to run it (changes no result).
    Job {
        /// The JobSpec's JSON.
        job: Vec<u8>,
        /// Trainings in parallel (0: the default).
        workers: u32,
        /// Threads per training (0: the default).
        threads: u32,
    },
    /// The model folder's files: names and sizes.
    Index(Vec<(String, u64)>),
    /// A chunk of an input.
    Data(Vec<u8>),
    /// The end of an input.
    End,
    /// The host cannot give what was asked, and why.
    Refused(String),
    /// MSG_REPORT_RSP and the certificate table, as the simulated AMD-SP answers.
    Report(Vec<u8>),
    /// The key service's answer: HTTP status and body.
    KeyService {
        /// The HTTP status (0: the host could not reach the key service).
        status: u16,
        /// The body.
        body: Vec<u8>,
    },
    /// A sealed journal entry, if the host has one.
    JournalEntry(Option<Vec<u8>>),
    /// Done.
    Ack,
}

fn malformed(reason: impl Into<String>) -> ChannelError {
    ChannelError::Malformed(reason.into())
}

/// A frame's body being written.
#[derive(Default)]
struct Body(Vec<u8>);

impl Body {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(self, v: &[u8]) -> Self {
        let mut b = self.u32(u32::try_from(v.len()).expect("bounded by MAX_FRAME"));
        b.0.extend_from_slice(v);
        b
    }
    fn text(self, v: &str) -> Self {
        self.bytes(v.as_bytes())
    }
}

/// A frame's body being read.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ChannelError> {
        if self.0.len() < n {
            return Err(malformed("a field is cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, ChannelError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ChannelError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, ChannelError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, ChannelError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, ChannelError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn text(&mut self) -> Result<String, ChannelError> {
        String::from_utf8(self.bytes()?).map_err(|_| malformed("text is not UTF-8"))
    }
    fn end(self) -> Result<(), ChannelError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(malformed(format!(
                "{} bytes after the last field",
                self.0.len()
            )))
        }
    }
}

fn write_frame(w: &mut impl Write, tag: u8, body: Body) -> Result<(), ChannelError> {
    let len = 1 + body.0.len();
    if len > MAX_FRAME {
        return Err(malformed(format!(
            "a frame of {len} bytes exceeds {MAX_FRAME}"
        )));
    }
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_le_bytes());
    frame.push(tag);
    frame.extend_from_slice(&body.0);
    w.write_all(&frame)
        .and_then(|()| w.flush())
        .map_err(|e| ChannelError::Io(format!("cannot be written: {e}")))
}

/// Reads one frame: its tag and body.
fn read_frame(r: &mut impl Read) -> Result<(u8, Vec<u8>), ChannelError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ChannelError::Io("was closed by the other side".into())
        } else {
            ChannelError::Io(format!("cannot be read: {e}"))
        }
    })?;
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(malformed(format!(
            "a frame of {len} bytes (1 to {MAX_FRAME})"
        )));
    }
    let mut frame = vec![0u8; len];
    r.read_exact(&mut frame)
        .map_err(|e| ChannelError::Io(format!("ended inside a frame: {e}")))?;
    let tag = frame.remove(0);
    Ok((tag, frame))
}

fn input_body(b: Body, input: &Input) -> Body {
    match input {
        Input::Recipe => b.u8(0),
        Input::Contributions => b.u8(1),
        Input::Holdout => b.u8(2),
        Input::Model(name) => b.u8(3).text(name),
    }
}

fn read_input(f: &mut Fields) -> Result<Input, ChannelError> {
    Ok(match f.u8()? {
        0 => Input::Recipe,
        1 => Input::Contributions,
        2 => Input::Holdout,
        3 => Input::Model(f.text()?),
        other => return Err(malformed(format!("unknown input {other}"))),
    })
}

fn output_body(b: Body, output: &Output) -> Body {
    match output {
        Output::BundleJson => b.u8(0),
        Output::BundleCbor => b.u8(1),
        Output::Chain => b.u8(2),
        Output::Adapter(name) => b.u8(3).text(name),
    }
}

fn read_output(f: &mut Fields) -> Result<Output, ChannelError> {
    Ok(match f.u8()? {
        0 => Output::BundleJson,
        1 => Output::BundleCbor,
        2 => Output::Chain,
        3 => Output::Adapter(f.text()?),
        other => return Err(malformed(format!("unknown output {other}"))),
    })
}

impl FromGuest {
    /// Writes the message as one frame.
    pub fn write(&self, w: &mut impl Write) -> Result<(), ChannelError> {
        let b = Body::default();
        let (tag, body) = match self {
            FromGuest::Hello { version, snp } => (1, b.u32(*version).u8(u8::from(*snp))),
            FromGuest::Get(input) => (2, input_body(b, input)),
            FromGuest::ModelIndex => (3, b),
            FromGuest::Report(request) => (4, b.bytes(request)),
            FromGuest::KeyService { path, body } => (5, b.text(path).bytes(body)),
            FromGuest::JournalLoad(name) => (6, b.text(name)),
            FromGuest::JournalStore(name, bytes) => (7, b.text(name).bytes(bytes)),
            FromGuest::Event(line) => (8, b.text(line)),
            FromGuest::Output(output, bytes) => (9, output_body(b, output).bytes(bytes)),
            FromGuest::Finished => (10, b),
            FromGuest::Failed { kind, message } => (11, b.text(kind).text(message)),
            FromGuest::OutputEnd(output) => (12, output_body(b, output)),
        };
        write_frame(w, tag, body)
    }

    /// Reads one message.
    pub fn read(r: &mut impl Read) -> Result<FromGuest, ChannelError> {
        let (tag, body) = read_frame(r)?;
        let mut f = Fields(&body);
        let m = match tag {
            1 => FromGuest::Hello {
                version: f.u32()?,
                snp: match f.u8()? {
                    0 => false,
                    1 => true,
                    other => return Err(malformed(format!("snp is {other}, not 0 or 1"))),
                },
            },
            2 => FromGuest::Get(read_input(&mut f)?),
            3 => FromGuest::ModelIndex,
            4 => FromGuest::Report(f.bytes()?),
            5 => FromGuest::KeyService {
                path: f.text()?,
                body: f.bytes()?,
            },
            6 => FromGuest::JournalLoad(f.text()?),
            7 => FromGuest::JournalStore(f.text()?, f.bytes()?),
            8 => FromGuest::Event(f.text()?),
            9 => FromGuest::Output(read_output(&mut f)?, f.bytes()?),
            10 => FromGuest::Finished,
            11 => FromGuest::Failed {
                kind: f.text()?,
                message: f.text()?,
            },
            12 => FromGuest::OutputEnd(read_output(&mut f)?),
            other => return Err(malformed(format!("unknown guest message {other}"))),
        };
        f.end()?;
        Ok(m)
    }
}

impl FromHost {
    /// Writes the message as one frame.
    pub fn write(&self, w: &mut impl Write) -> Result<(), ChannelError> {
        let b = Body::default();
        let (tag, body) = match self {
            FromHost::Job {
                job,
                workers,
                threads,
            } => (0x81, b.bytes(job).u32(*workers).u32(*threads)),
            FromHost::Index(files) => {
                let mut b = b.u32(u32::try_from(files.len()).expect("bounded by MAX_FRAME"));
                for (name, size) in files {
                    b = b.text(name).u64(*size);
                }
                (0x82, b)
            }
            FromHost::Data(chunk) => (0x83, b.bytes(chunk)),
            FromHost::End => (0x84, b),
            FromHost::Refused(why) => (0x85, b.text(why)),
            FromHost::Report(answer) => (0x86, b.bytes(answer)),
            FromHost::KeyService { status, body } => (0x87, b.u16(*status).bytes(body)),
            FromHost::JournalEntry(None) => (0x88, b.u8(0)),
            FromHost::JournalEntry(Some(bytes)) => (0x88, b.u8(1).bytes(bytes)),
            FromHost::Ack => (0x89, b),
        };
        write_frame(w, tag, body)
    }

    /// Reads one message.
    pub fn read(r: &mut impl Read) -> Result<FromHost, ChannelError> {
        let (tag, body) = read_frame(r)?;
        let mut f = Fields(&body);
        let m = match tag {
            0x81 => FromHost::Job {
                job: f.bytes()?,
                workers: f.u32()?,
                threads: f.u32()?,
            },
            0x82 => {
                let n = f.u32()? as usize;
                // Each entry takes at least 12 bytes: a count beyond the frame is a lie.
                if n > body.len() / 12 {
                    return Err(malformed(format!(
                        "an index of {n} files in {} bytes",
                        body.len()
                    )));
                }
                let mut files = Vec::with_capacity(n);
                for _ in 0..n {
                    files.push((f.text()?, f.u64()?));
                }
                FromHost::Index(files)
            }
            0x83 => FromHost::Data(f.bytes()?),
            0x84 => FromHost::End,
            0x85 => FromHost::Refused(f.text()?),
            0x86 => FromHost::Report(f.bytes()?),
            0x87 => FromHost::KeyService {
                status: f.u16()?,
                body: f.bytes()?,
            },
            0x88 => FromHost::JournalEntry(match f.u8()? {
                0 => None,
                1 => Some(f.bytes()?),
                other => return Err(malformed(format!("a journal entry marked {other}"))),
            }),
            0x89 => FromHost::Ack,
            other => return Err(malformed(format!("unknown host message {other:#x}"))),
        };
        f.end()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_guest(m: FromGuest) {
        let mut buf = Vec::new();
        m.write(&mut buf).unwrap();
        assert_eq!(FromGuest::read(&mut buf.as_slice()).unwrap(), m);
    }

    fn round_trip_host(m: FromHost) {
        let mut buf = Vec::new();
        m.write(&mut buf).unwrap();
        assert_eq!(FromHost::read(&mut buf.as_slice()).unwrap(), m);
    }

    #[test]
    fn every_message_round_trips() {
        for m in [
            FromGuest::Hello {
                version: VERSION,
                snp: true,
            },
            FromGuest::Get(Input::Recipe),
            FromGuest::Get(Input::Contributions),
            FromGuest::Get(Input::Holdout),
            FromGuest::Get(Input::Model("model.safetensors".into())),
            FromGuest::ModelIndex,
            FromGuest::Report(vec![7; 96]),
            FromGuest::KeyService {
                path: "/v1/key".into(),
                body: b"{}".to_vec(),
            },
            FromGuest::JournalLoad("run-3".into()),
            FromGuest::JournalStore("run-3".into(), vec![1, 2, 3]),
            FromGuest::Event("{\"event\":\"progress\"}".into()),
            FromGuest::Output(Output::BundleJson, b"{}".to_vec()),
            FromGuest::Output(Output::BundleCbor, vec![0xa0]),
            FromGuest::Output(Output::Chain, vec![1]),
            FromGuest::Output(Output::Adapter("adapter_config.json".into()), vec![]),
            FromGuest::OutputEnd(Output::Adapter("adapter_model.safetensors".into())),
            FromGuest::OutputEnd(Output::Chain),
            FromGuest::Finished,
            FromGuest::Failed {
                kind: "hash_mismatch".into(),
                message: "the model differs".into(),
            },
        ] {
            round_trip_guest(m);
        }
        for m in [
            FromHost::Job {
                job: b"{}".to_vec(),
                workers: 2,
                threads: 0,
            },
            FromHost::Index(vec![("config.json".into(), 10), ("m".into(), 1 << 40)]),
            FromHost::Index(vec![]),
            FromHost::Data(vec![9; CHUNK]),
            FromHost::End,
            FromHost::Refused("no such file".into()),
            FromHost::Report(vec![1; 2000]),
            FromHost::KeyService {
                status: 403,
                body: b"{}".to_vec(),
            },
            FromHost::JournalEntry(None),
            FromHost::JournalEntry(Some(vec![4; 40])),
            FromHost::Ack,
        ] {
            round_trip_host(m);
        }
    }

    proptest::proptest! {
        /// Whatever bytes arrive, reading ends in a message or an error, never a panic; and a
        /// message read is the only spelling of itself (written back, the same bytes).
        #[test]
        fn any_bytes_read_to_a_message_that_writes_back_the_same_or_an_error(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            tag in proptest::prelude::any::<u8>(),
        ) {
            let mut frame = ((bytes.len() + 1) as u32).to_le_bytes().to_vec();
            frame.push(tag);
            frame.extend_from_slice(&bytes);
            if let Ok(m) = FromGuest::read(&mut frame.as_slice()) {
                let mut again = Vec::new();
                m.write(&mut again).unwrap();
                proptest::prop_assert_eq!(&again, &frame);
            }
            if let Ok(m) = FromHost::read(&mut frame.as_slice()) {
                let mut again = Vec::new();
                m.write(&mut again).unwrap();
                proptest::prop_assert_eq!(&again, &frame);
            }
            let _ = FromHost::read(&mut bytes.as_slice());
        }
    }

    #[test]
    fn malformed_frames_are_refused_with_the_reason() {
        let frame = |len: u32, rest: &[u8]| [len.to_le_bytes().as_slice(), rest].concat();
        let cases: [(Vec<u8>, &str); 7] = [
            (frame(0, &[]), "a frame of 0 bytes"),
            (frame(u32::MAX, &[1]), "a frame of 4294967295 bytes"),
            (frame(1, &[0x7f]), "unknown guest message 127"),
            (frame(2, &[10, 0]), "1 bytes after the last field"),
            (frame(3, &[6, 9, 0]), "a field is cut short"),
            (frame(7, &[6, 2, 0, 0, 0, 0xff, 0xfe]), "not UTF-8"),
            (frame(6, &[1, 1, 0, 0, 0, 2]), "snp is 2"),
        ];
        for (bytes, needle) in cases {
            let e = FromGuest::read(&mut bytes.as_slice()).unwrap_err();
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        let e =
            FromHost::read(&mut frame(5, &[0x82, 0xff, 0xff, 0xff, 0x0f]).as_slice()).unwrap_err();
        assert!(e.to_string().contains("an index of"), "{e}");
        let e = FromHost::read(&mut [3u8, 0, 0].as_slice()).unwrap_err();
        assert!(e.to_string().contains("closed"), "{e}");
        let e = FromHost::read(&mut frame(9, &[0x83, 1]).as_slice()).unwrap_err();
        assert!(e.to_string().contains("ended inside a frame"), "{e}");
        let too_big = FromHost::Data(vec![0; MAX_FRAME]);
        assert!(too_big.write(&mut Vec::new()).is_err());
    }
}

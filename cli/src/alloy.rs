//! `assay alloy`: make, show, verify and print alloy chains (docs/alloy.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assay_alloy::cbor::Value;
use assay_alloy::content::{self, Entry};
use assay_alloy::render;
use assay_alloy::{Input, Keyring, Link, LinkType, SignedLink, SigningKey, StageKind, Verdict};
use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};

use crate::error::Error;

/// `assay alloy …`.
#[derive(Subcommand)]
pub enum AlloyCommand {
    /// Verify a chain: every signature, every link, what is missing; with --keyring, who is
    /// trusted. Exit 0 only when it is valid and complete (and, with a keyring, trusted).
    Verify(VerifyArgs),
    /// Print a chain's links in words, with full ids (and what is wrong with it, if anything).
    Show(ShowArgs),
    /// Make a signer's key (Ed25519, PKCS#8 PEM, written readable by its owner only).
    NewKey {
        /// Where to write it (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a link and append it to a chain (or start one), writing the chain file.
    Sign(Box<SignArgs>),
    /// Write a chain's QR codes: for each part, PNG, SVG and its text.
    Qr(QrArgs),
    /// Write a model card (SVG, and the same drawn as PNG beside it): the model's name, content
    /// hash, where to get it, its metric and signers, the chain's QR codes and one code for the
    /// model (docs/alloy.md §10); the codes as PNG beside it too.
    Card(Box<CardArgs>),
}

/// Where a chain comes from.
#[derive(Args)]
pub struct ChainArgs {
    /// The chain: chain files (.alloy, CBOR), text files of `AL1:` lines, PNG or SVG images of
    /// its codes (other QR codes in an image are set aside), or `AL1:` texts themselves; in any
    /// order.
    #[arg(required = true)]
    chain: Vec<String>,
}

/// Arguments of `assay alloy verify`.
#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// The signers trusted (TOML, docs/alloy.md §7).
    #[arg(long)]
    keyring: Option<PathBuf>,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `assay alloy show`.
#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `assay alloy sign`.
#[derive(Args)]
pub struct SignArgs {
    /// The signer's key (`assay alloy new-key`, or `openssl genpkey -algorithm ed25519`).
    #[arg(long)]
    key: PathBuf,
    /// The link's type: forge, adapter, dataset, compute, delivery, eval or custom.
    #[arg(long = "type", value_parser = parse_type)]
    kind: LinkType,
    /// The chain to append to; without it the link starts a chain.
    #[arg(long)]
    chain: Option<PathBuf>,
    /// What the step took in, as a hash (64 hex digits); default: the previous link's
    /// output_hash (required for a first link, or use --input).
    #[arg(long, conflicts_with = "input")]
    input_hash: Option<HexHash>,
    /// What the step took in, as a file or directory to hash (docs/alloy.md §4).
    #[arg(long)]
    input: Option<PathBuf>,
    /// What the step produced, as a hash (64 hex digits).
    #[arg(long, conflicts_with = "output", required_unless_present = "output")]
    output_hash: Option<HexHash>,
    /// What the step produced, as a file or directory to hash (docs/alloy.md §4).
    #[arg(long)]
    output: Option<PathBuf>,
    /// A stage entry, NAME=VALUE by the type's key names (docs/alloy.md §2.2; hashes in hex),
    /// or N=TEXT for a custom link; repeatable.
    #[arg(long)]
    stage: Vec<String>,
    /// The link's time (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
    /// The chain file to write (refused if it exists, unless it is --chain itself).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `assay alloy qr`.
#[derive(Args)]
pub struct QrArgs {
    /// The chain.
    #[command(flatten)]
    chain: ChainArgs,
    /// Pixels per module in the PNGs.
    #[arg(long, default_value_t = 4)]
    scale: usize,
    /// The folder to write `part-N-of-M.{png,svg,txt}` into.
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `assay alloy card`.
#[derive(Args)]
pub struct CardArgs {
    /// The model's files (a file or a folder): their content hash must be a link's output_hash.
    #[arg(long)]
    model: PathBuf,
    /// The chain (as for verify).
    #[arg(long = "chain", required = true, num_args = 1..)]
    chain: Vec<String>,
    /// The model's name on the card (default: the folder's name).
    #[arg(long)]
    name: Option<String>,
    /// Where to get the model (default: the delivery link's location).
    #[arg(long)]
    location: Option<String>,
    /// Signer names from a keyring (docs/alloy.md §7); without one, keys are shown whole.
    #[arg(long)]
    keyring: Option<PathBuf>,
    /// The card to write (SVG); beside it the same card drawn as `STEM.png` (its text in the
    /// system's fonts) and its codes as `STEM-chain-N.png` and `STEM-model.png`.
    #[arg(long)]
    out: PathBuf,
}

/// A 32-byte hash given in hex.
#[derive(Clone, Copy)]
pub struct HexHash([u8; 32]);

impl std::str::FromStr for HexHash {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        hex::decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(HexHash)
            .ok_or_else(|| format!("{s:?} is not a 32-byte hash in hex (64 digits)"))
    }
}

fn parse_type(s: &str) -> Result<LinkType, String> {
    LinkType::ALL
        .into_iter()
        .find(|t| t.name() == s)
        .ok_or_else(|| {
            format!(
                "no link type {s:?}; types: {}",
                LinkType::ALL.map(|t| t.name()).join(", ")
            )
        })
}

/// Runs `assay alloy …`.
pub fn run(cmd: AlloyCommand) -> Result<ExitCode, Error> {
    match cmd {
        AlloyCommand::Verify(args) => verify(&args),
        AlloyCommand::Show(args) => show(&args),
        AlloyCommand::NewKey { out } => new_key(&out),
        AlloyCommand::Sign(args) => sign(&args),
        AlloyCommand::Qr(args) => qr(&args),
        AlloyCommand::Card(args) => card(&args),
    }
}

/// The inputs one argument stands for.
enum Source {
    Cbor(Vec<u8>),
    Text(String),
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn read_sources(args: &ChainArgs) -> Result<Vec<Source>, Error> {
    let mut out = vec![];
    for arg in &args.chain {
        if arg.starts_with(assay_alloy::QR_PREFIX) {
            out.push(Source::Text(arg.clone()));
            continue;
        }
        let path = Path::new(arg);
        let size = std::fs::metadata(path)
            .map_err(|e| format!("{arg}: {e}"))?
            .len();
        if size > assay_alloy::MAX_CHAIN_FILE as u64 * 16 {
            return Err(format!(
                "{arg}: {size} bytes is larger than any chain, code list or image read"
            )
            .into());
        }
        let bytes = std::fs::read(path).map_err(|e| format!("{arg}: {e}"))?;
        // An image by its content (an SVG also by its name, when it is not a code list).
        let is_text = bytes.starts_with(assay_alloy::QR_PREFIX.as_bytes());
        let image = if bytes.starts_with(PNG_MAGIC) {
            Some(render::read_png(&bytes))
        } else if render::is_svg(&bytes)
            || (!is_text
                && path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("svg")))
        {
            Some(render::read_svg(&bytes))
        } else {
            None
        };
        if let Some(texts) = image {
            let texts = texts.map_err(|e| format!("{arg}: {e}"))?;
            out.extend(alloy_codes(arg, texts)?.into_iter().map(Source::Text));
        } else if is_text {
            let text = String::from_utf8(bytes).map_err(|_| format!("{arg}: not UTF-8 text"))?;
            // One code a line; a space is Base45, so only the line break goes.
            out.extend(
                text.lines()
                    .map(|l| l.trim_end_matches('\r'))
                    .filter(|l| !l.is_empty())
                    .map(|l| Source::Text(l.to_owned())),
            );
        } else {
            out.push(Source::Cbor(bytes));
        }
    }
    Ok(out)
}

/// The alloy codes (`AL1:`) among the QR codes read from the image `arg`. The others (a model
/// card's code for the model, any code a picture holds beside a chain's) are set aside, each
/// named on stderr; an image without an alloy code is refused.
fn alloy_codes(arg: &str, texts: Vec<String>) -> Result<Vec<String>, Error> {
    let n = texts.len();
    let (codes, others): (Vec<String>, Vec<String>) = texts
        .into_iter()
        .partition(|t| t.starts_with(assay_alloy::QR_PREFIX));
    let shown = |t: &str| {
        t.chars()
            .take(120)
            .collect::<String>()
            .escape_debug()
            .to_string()
    };
    if codes.is_empty() {
        return Err(format!(
            "{arg}: no alloy code ({}…) among the {n} QR code(s) in the image: {}",
            assay_alloy::QR_PREFIX,
            others
                .iter()
                .map(|t| shown(t))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    for t in &others {
        eprintln!(
            "{arg}: set aside a QR code that is not an alloy code: {}",
            shown(t)
        );
    }
    Ok(codes)
}

fn verdict_of(sources: &[Source]) -> Verdict {
    assay_alloy::verify(sources.iter().map(|s| match s {
        Source::Cbor(b) => Input::Cbor(b),
        Source::Text(t) => Input::Text(t),
    }))
}

fn stage_json(kind: LinkType, stage: &std::collections::BTreeMap<u64, Value>) -> Json {
    stage
        .iter()
        .map(|(k, v)| {
            let name = kind
                .stage_keys()
                .iter()
                .find(|d| d.key == *k)
                .map_or(k.to_string(), |d| d.name.to_owned());
            (name, value_json(v))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Uint(n) => json!(n),
        Value::Nint(n) => json!(-1 - i128::from(*n)).to_string().into(),
        Value::Bytes(b) => json!(hex::encode(b)),
        Value::Text(t) => json!(t),
        Value::Array(a) => a.iter().map(value_json).collect(),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| json!([value_json(k), value_json(v)]))
            .collect(),
        Value::Bool(b) => json!(b),
        Value::Null => Json::Null,
        Value::Tag(t, v) => json!({ "tag": t, "value": value_json(v) }),
    }
}

fn time(t: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t as i64)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{t} s"))
}

fn link_json(i: usize, l: &SignedLink) -> Json {
    let p = l.link();
    json!({
        "index": i,
        "id": l.id().to_string(),
        "type": p.kind.name(),
        "prev": p.prev.map(|p| p.to_string()),
        "input_hash": hex::encode(p.input_hash),
        "output_hash": hex::encode(p.output_hash),
        "signer": hex::encode(p.signer),
        "timestamp": p.timestamp,
        "time": time(p.timestamp),
        "stage": stage_json(p.kind, &p.stage),
    })
}

fn verdict_json(v: &Verdict, trust: Option<&[assay_alloy::Trust]>) -> Json {
    json!({
        "valid": v.valid(),
        "complete": v.complete(),
        "head": v.head.map(|h| h.to_string()),
        "parts": { "count": v.parts.0, "received": v.parts.1 },
        "rules": v.rules(),
        "findings": v.findings.iter().map(|f| json!({
            "rule": f.rule.code(),
            "input": f.input,
            "link": f.link,
            "missing": f.missing.map(|m| m.to_string()),
            "detail": f.detail,
        })).collect::<Vec<_>>(),
        "links": v.links.iter().enumerate().map(|(i, r)| match &r.link {
            Ok(l) => link_json(i, l),
            Err(rule) => json!({ "index": i, "error": rule.code() }),
        }).collect::<Vec<_>>(),
        "trust": trust.map(|t| t.iter().map(|t| json!({
            "link": t.link,
            "trusted": t.signer.is_ok(),
            "signer": t.signer.as_ref().map_or_else(|r| r.code().to_owned(), Clone::clone),
        })).collect::<Vec<_>>()),
    })
}

fn print_links(v: &Verdict) {
    for (i, r) in v.links.iter().enumerate() {
        match &r.link {
            Ok(l) => {
                let p = l.link();
                println!(
                    "link {} ({}), part {}: {}",
                    i + 1,
                    p.kind.name(),
                    r.part,
                    l.id()
                );
                println!(
                    "  prev          {}",
                    p.prev.map_or("none (first link)".into(), |p| p.to_string())
                );
                println!("  input         {}", hex::encode(p.input_hash));
                println!("  output        {}", hex::encode(p.output_hash));
                println!("  signer        {}", hex::encode(p.signer));
                println!("  time          {}", time(p.timestamp));
                if let Json::Object(stage) = stage_json(p.kind, &p.stage) {
                    for (k, v) in stage {
                        println!(
                            "  {k:<13} {}",
                            v.as_str().map_or(v.to_string(), str::to_owned)
                        );
                    }
                }
            }
            Err(rule) => println!(
                "link {}, part {}: does not decode ({rule}: {})",
                i + 1,
                r.part,
                rule.what()
            ),
        }
    }
}

fn print_findings(v: &Verdict) {
    for f in &v.findings {
        println!("{}: {}", f.rule, f.detail);
    }
}

fn verify(args: &VerifyArgs) -> Result<ExitCode, Error> {
    let keyring = args
        .keyring
        .as_ref()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Keyring::parse(&text).map_err(|e| Error::Input(format!("{}: {e}", p.display())))
        })
        .transpose()?;
    let sources = read_sources(&args.chain)?;
    let v = verdict_of(&sources);
    let trust = keyring.as_ref().map(|k| k.assess(&v));
    let trusted = trust
        .as_ref()
        .is_none_or(|t| t.iter().all(|t| t.signer.is_ok()) && !t.is_empty());
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&verdict_json(&v, trust.as_deref()))
                .expect("serialisable")
        );
    } else {
        print_links(&v);
        print_findings(&v);
        let (count, received) = &v.parts;
        println!(
            "{}: {} link(s), {} of {count} part(s){}",
            if v.valid() { "valid" } else { "INVALID" },
            v.links.len(),
            received.len(),
            if v.complete() { "" } else { ", INCOMPLETE" }
        );
        match &trust {
            None => println!("trust: not assessed (no --keyring)"),
            Some(t) => {
                for t in t {
                    match &t.signer {
                        Ok(name) => println!("trust: link {} signed by {name}", t.link + 1),
                        Err(rule) => println!(
                            "trust: link {} NOT TRUSTED ({rule}: {})",
                            t.link + 1,
                            rule.what()
                        ),
                    }
                }
            }
        }
    }
    Ok(if v.valid() && v.complete() && trusted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn show(args: &ShowArgs) -> Result<ExitCode, Error> {
    let v = verdict_of(&read_sources(&args.chain)?);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&verdict_json(&v, None)).expect("serialisable")
        );
    } else {
        print_links(&v);
        print_findings(&v);
    }
    Ok(if v.links.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn new_key(out: &Path) -> Result<ExitCode, Error> {
    if out.exists() {
        return Err(format!("{}: exists; refusing to overwrite a key", out.display()).into());
    }
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut *seed).map_err(|_| "the system's random source failed")?;
    let key = SigningKey::from_bytes(&seed);
    assay_keys::write_atomic(out, assay_alloy::key::to_pem(&key).as_bytes(), true)?;
    println!(
        "wrote {} (public key {})",
        out.display(),
        hex::encode(key.verifying_key().as_bytes())
    );
    Ok(ExitCode::SUCCESS)
}

/// SHA-256 of a file, streamed.
fn hash_file(path: &Path) -> Result<[u8; 32], Error> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx.finish().as_ref().try_into().expect("32 bytes"))
}

/// The content hash of a file or a directory (docs/alloy.md §4).
pub fn content_hash(path: &Path) -> Result<[u8; 32], Error> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        return hash_file(path);
    }
    let mut entries = vec![];
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
            let p = e.path();
            let t = e.file_type().map_err(|e| format!("{}: {e}", p.display()))?;
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() {
                let rel = p.strip_prefix(path).expect("below the root");
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_str())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        format!("{}: a path that is not UTF-8 cannot be hashed", p.display())
                    })?
                    .join("/");
                let size = e
                    .metadata()
                    .map_err(|e| format!("{}: {e}", p.display()))?
                    .len();
                entries.push(Entry {
                    path: rel,
                    size,
                    sha256: hash_file(&p)?,
                });
            } else {
                return Err(format!("{}: neither a file nor a directory (a symbolic link?); the content hash covers regular files only", p.display()).into());
            }
        }
    }
    Ok(content::directory(&entries))
}

fn stage_value(kind: StageKind, name: &str, text: &str) -> Result<Value, Error> {
    let bad = |what: &str| Error::Input(format!("--stage {name}={text}: {name} is {what}"));
    Ok(match kind {
        StageKind::Hash32 | StageKind::Hash48 => {
            let n = if kind == StageKind::Hash32 { 32 } else { 48 };
            let b = hex::decode(text)
                .ok()
                .filter(|b| b.len() == n)
                .ok_or_else(|| bad(&format!("a {n}-byte hash in hex")))?;
            Value::Bytes(b)
        }
        StageKind::Text => Value::Text(text.to_owned()),
        StageKind::Uint => Value::Uint(text.parse().map_err(|_| bad("an unsigned integer"))?),
        StageKind::Bool => Value::Bool(text.parse().map_err(|_| bad("true or false"))?),
    })
}

fn parse_stage(
    kind: LinkType,
    entries: &[String],
) -> Result<std::collections::BTreeMap<u64, Value>, Error> {
    let mut stage = std::collections::BTreeMap::new();
    for e in entries {
        let (name, text) = e
            .split_once('=')
            .ok_or_else(|| format!("--stage {e}: NAME=VALUE expected"))?;
        let (key, value) =
            if kind == LinkType::Custom {
                let key = name
                    .parse()
                    .map_err(|_| format!("--stage {e}: a custom link's stage keys are numbers"))?;
                (key, Value::Text(text.to_owned()))
            } else {
                let def = kind.stage_keys().iter().find(|d| d.name == name).ok_or_else(|| {
                format!(
                    "--stage {e}: links of type {} have no stage key {name:?}; their keys: {}",
                    kind.name(),
                    kind.stage_keys().iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
                )
            })?;
                (def.key, stage_value(def.kind, name, text)?)
            };
        if stage.insert(key, value).is_some() {
            return Err(format!("--stage {name} given twice").into());
        }
    }
    Ok(stage)
}

fn sign(args: &SignArgs) -> Result<ExitCode, Error> {
    if args.out.exists() && args.chain.as_deref() != Some(args.out.as_path()) {
        return Err(format!(
            "{}: exists; refusing to overwrite it (give it as --chain to append)",
            args.out.display()
        )
        .into());
    }
    let key_text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&args.key).map_err(|e| format!("{}: {e}", args.key.display()))?,
    );
    let key = assay_alloy::key::from_pem(&key_text)
        .map_err(|e| Error::Input(format!("{}: {e}", args.key.display())))?;
    let mut chain: Vec<SignedLink> = vec![];
    if let Some(path) = &args.chain {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        chain = whole_chain(assay_alloy::verify([Input::Cbor(&bytes)])).map_err(|why| {
            format!(
                "{}: not a valid, complete chain to append to: {why}",
                path.display()
            )
        })?;
    }
    let last = chain.last();
    let input_hash = match (&args.input_hash, &args.input, last) {
        (Some(h), _, _) => h.0,
        (None, Some(p), _) => content_hash(p)?,
        (None, None, Some(l)) => l.link().output_hash,
        (None, None, None) => return Err("a first link needs --input-hash or --input".into()),
    };
    let output_hash = match (&args.output_hash, &args.output) {
        (Some(h), _) => h.0,
        (None, Some(p)) => content_hash(p)?,
        (None, None) => unreachable!("clap requires one"),
    };
    let timestamp = match &args.at {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("--at {t}: not an RFC 3339 time: {e}"))?
            .unix_timestamp(),
        None => time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    let timestamp = u64::try_from(timestamp).map_err(|_| "--at: before 1970")?;
    let link = Link {
        kind: args.kind,
        prev: last.map(SignedLink::id),
        input_hash,
        stage: parse_stage(args.kind, &args.stage)?,
        output_hash,
        signer: *key.verifying_key().as_bytes(),
        timestamp,
    };
    let signed = link.sign(&key)?;
    chain.push(signed.clone());
    // The chain as it will be written must verify: a timestamp before the last link's, an
    // input that is not the last output, is refused here rather than written.
    let file = assay_alloy::chain_file(&chain)?;
    let v = assay_alloy::verify([Input::Cbor(&file)]);
    if let Some(f) = v.findings.first() {
        return Err(format!("the new link would break {}: {}", f.rule, f.detail).into());
    }
    assay_keys::write_atomic(&args.out, &file, false)?;
    println!(
        "wrote {} ({} link(s); new link {} {})",
        args.out.display(),
        chain.len(),
        signed.link().kind.name(),
        signed.id()
    );
    Ok(ExitCode::SUCCESS)
}

/// The links of a valid, complete chain, or every finding in one line.
fn whole_chain(v: Verdict) -> Result<Vec<SignedLink>, String> {
    if v.valid() && v.complete() {
        return Ok(v.decoded().cloned().collect());
    }
    let why: Vec<String> = v
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.rule, f.detail))
        .collect();
    Err(why.join("; "))
}

fn qr(args: &QrArgs) -> Result<ExitCode, Error> {
    if !(1..=64).contains(&args.scale) {
        return Err(format!("--scale {}: 1 to 64 pixels a module", args.scale).into());
    }
    let chain = whole_chain(verdict_of(&read_sources(&args.chain)?))
        .map_err(|why| format!("not a valid, complete chain: {why}"))?;
    let parts = assay_alloy::split(&chain)?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let n = parts.len();
    for p in &parts {
        let text = p.to_text();
        let stem = args.out.join(format!("part-{}-of-{n}", p.index));
        let write = |ext: &str, bytes: &[u8]| {
            assay_keys::write_atomic(&stem.with_extension(ext), bytes, false)
        };
        write("png", &render::png(&text, args.scale)?)?;
        write("svg", render::svg(&text, args.scale as u32)?.as_bytes())?;
        write("txt", format!("{text}\n").as_bytes())?;
        println!(
            "{}.{{png,svg,txt}}: part {} of {n}, {} link(s), {} characters",
            stem.display(),
            p.index,
            p.links.len(),
            text.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// XML text escaping for the card.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A QR code's SVG placed at (x, y) inside the card.
fn placed_code(text: &str, x: u32, y: u32) -> Result<String, Error> {
    let svg = render::svg(text, 3)?;
    let body = svg.find("<svg").map_or(svg.as_str(), |at| &svg[at..]);
    Ok(body.replacen("<svg", &format!("<svg x=\"{x}\" y=\"{y}\""), 1))
}

/// The card's SVG drawn as PNG for `path`: twice its size (print-sharp, the codes 6 pixels a
/// module), or its size when that would pass the rasteriser's bounds (a chain of many codes);
/// the text in the system's fonts, which must have one.
fn card_as_png(svg: &str, path: &Path) -> Result<Vec<u8>, Error> {
    let mut fonts = render::fontdb::Database::new();
    fonts.load_system_fonts();
    if fonts.is_empty() {
        return Err(format!(
            "{}: no font found to draw the card's text (looked in the folders fontconfig's files \
             name, /usr/share/fonts and ~/.local/share/fonts); install one, e.g. Debian's \
             fonts-dejavu-core; nothing was written",
            path.display()
        )
        .into());
    }
    render::svg_to_png(svg, 2, fonts)
        .map_err(|e| format!("{}: {e}; nothing was written", path.display()).into())
}

fn card(args: &CardArgs) -> Result<ExitCode, Error> {
    // The card as PNG goes beside the SVG under the same name: the SVG is not it.
    let card_png = args.out.with_extension("png");
    if card_png == args.out {
        return Err(format!(
            "--out {}: the card is written as SVG (name it .svg); its PNG goes beside it",
            args.out.display()
        )
        .into());
    }
    let keyring = match &args.keyring {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Some(Keyring::parse(&text).map_err(|e| Error::Input(format!("{}: {e}", p.display())))?)
        }
        None => None,
    };
    let v = verdict_of(&read_sources(&ChainArgs {
        chain: args.chain.clone(),
    })?);
    let trust = keyring.as_ref().map(|k| k.assess(&v));
    let chain = whole_chain(v).map_err(|why| format!("not a valid, complete chain: {why}"))?;
    let hash = content_hash(&args.model)?;
    let made = chain.iter().rposition(|l| l.link().output_hash == hash).ok_or_else(|| {
        format!(
            "{}: its content hash {} is no link's output_hash: the chain does not vouch for these files",
            args.model.display(),
            hex::encode(hash)
        )
    })?;
    let stage_text = |kind: LinkType, key: u64| {
        chain
            .iter()
            .rev()
            .filter(|l| l.link().kind == kind)
            .find_map(|l| match l.link().stage.get(&key) {
                Some(Value::Text(t)) => Some(t.clone()),
                _ => None,
            })
    };
    let location = args
        .location
        .clone()
        .or_else(|| stage_text(LinkType::Delivery, 1))
        .ok_or("no --location, and no delivery link names one")?;
    let name = args.name.clone().unwrap_or_else(|| {
        args.model
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy().into_owned())
    });
    // The model's code: its location with the whole content hash in the fragment (which a
    // browser does not send), so a phone opens the download and the hash travels with it.
    let model_text = format!("{location}#alloy-sha256={}", hex::encode(hash));
    let parts = assay_alloy::split(&chain)?;
    let mut lines = vec![
        format!("model content hash {}", hex::encode(hash)),
        format!(
            "made by link {} ({}), get it from {location}",
            made + 1,
            chain[made].link().kind.name()
        ),
    ];
    if let Some(metric) = stage_text(LinkType::Eval, 1) {
        let baseline =
            stage_text(LinkType::Eval, 3).map_or(String::new(), |b| format!(", baseline {b}"));
        lines.push(format!("evaluated: {metric}{baseline}"));
    }
    lines.push(format!(
        "chain: {} links, head {}",
        chain.len(),
        chain.last().expect("a chain has links").id()
    ));
    for (i, l) in chain.iter().enumerate() {
        let who = trust
            .as_ref()
            .and_then(|t| t.iter().find(|t| t.link == i))
            .and_then(|t| t.signer.clone().ok())
            .unwrap_or_else(|| hex::encode(l.link().signer));
        lines.push(format!(
            "{}. {} signed by {who}",
            i + 1,
            l.link().kind.name()
        ));
    }
    let codes: Vec<(String, String)> = parts
        .iter()
        .map(|p| (format!("chain {} of {}", p.index, parts.len()), p.to_text()))
        .chain([("the model".to_owned(), model_text.clone())])
        .collect();
    // A cell holds a code of up to 375 pixels (version 25, 3 pixels a module, its quiet zone).
    // Codes 460 pixels apart, more than 4/3 of the 330 between a large code's finder patterns:
    // closer, a reader (rqrr) pairs finder patterns of neighbouring codes into codes that are
    // not there, and misses the real ones.
    let (cell, margin) = (460u32, 24u32);
    let text_h = 60 + 18 * lines.len() as u32;
    let width = margin * 2 + cell * codes.len().min(3) as u32;
    let rows = codes.len().div_ceil(3) as u32;
    let height = text_h + rows * (cell + 30) + margin;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n<text x=\"{margin}\" y=\"40\" font-family=\"sans-serif\" font-size=\"26\" font-weight=\"bold\">{}</text>\n",
        xml(&name)
    );
    for (i, line) in lines.iter().enumerate() {
        svg += &format!(
            "<text x=\"{margin}\" y=\"{}\" font-family=\"monospace\" font-size=\"12\">{}</text>\n",
            70 + 18 * i as u32,
            xml(line)
        );
    }
    let stem = args.out.with_extension("");
    // Everything is made before anything is written: nothing half-written.
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![];
    for (i, (label, text)) in codes.iter().enumerate() {
        let (x, y) = (
            margin + cell * (i as u32 % 3),
            text_h + (cell + 30) * (i as u32 / 3),
        );
        svg += &format!(
            "<text x=\"{x}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"14\">{}</text>\n",
            y + 16,
            xml(label)
        );
        svg += &placed_code(text, x, y + 24)?;
        svg += "\n";
        let png = if i < parts.len() {
            format!("{}-chain-{}.png", stem.display(), i + 1)
        } else {
            format!("{}-model.png", stem.display())
        };
        files.push((png.into(), render::png(text, 4)?));
    }
    svg += "</svg>\n";
    files.push((card_png.clone(), card_as_png(&svg, &card_png)?));
    files.push((args.out.clone(), svg.into_bytes()));
    for (path, bytes) in &files {
        assay_keys::write_atomic(path, bytes, false)?;
    }
    println!(
        "wrote {} and {} ({} chain code(s) and the model's, PNGs beside them): {model_text}",
        args.out.display(),
        card_png.display(),
        parts.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The verdict on the chain the arguments `chain` name (files, images or texts, as `assay
/// alloy verify` takes them): for `assay verify attestation --alloy`.
pub fn verdict_of_args(chain: &[String]) -> Result<Verdict, Error> {
    Ok(verdict_of(&read_sources(&ChainArgs {
        chain: chain.to_vec(),
    })?))
}

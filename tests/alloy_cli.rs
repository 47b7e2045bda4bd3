//! `assay alloy`: a chain made link by link with `sign`, verified from its file, its code texts
//! and its PNGs; tampering, a missing code, a keyring; every unusable input named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assay_tests::paths::bin;

fn assay(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin("assay"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("assay runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = assay(dir, args);
    assert!(
        o.status.success(),
        "assay {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Fails with exit 1, and says `says` on stdout or stderr.
fn fails(dir: &Path, args: &[&str], says: &str) {
    let o = assay(dir, args);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "assay {args:?}: {all}");
    assert!(
        all.contains(says),
        "assay {args:?} should say {says:?}: {all}"
    );
}

fn hash(label: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(label))
}

/// `ok` for a command line written as one string (no argument holds a space).
fn ok_line(dir: &Path, line: &str) -> String {
    ok(dir, &line.split_whitespace().collect::<Vec<_>>())
}

/// A chain of three links (dataset, adapter over a model folder, eval) by one key, and a
/// fourth link (delivery) by another: `chain.alloy`, with the keys and the model beside it.
fn chain(dir: &Path) -> PathBuf {
    ok_line(dir, "alloy new-key --out enclave.pem");
    ok_line(dir, "alloy new-key --out publisher.pem");
    std::fs::create_dir_all(dir.join("model/weights")).unwrap();
    std::fs::write(dir.join("model/config.json"), "{}").unwrap();
    std::fs::write(dir.join("model/weights/adapter.safetensors"), [7u8; 5000]).unwrap();
    let (job, root, recipe, bundle) = (hash("job"), hash("root"), hash("recipe"), hash("bundle"));
    let at = |m: u32| format!("--at 2026-12-01T00:{m:02}:00Z");
    let sign = |key: &str, rest: String| {
        ok_line(
            dir,
            &format!("alloy sign --key {key} {rest} --out chain.alloy"),
        )
    };
    sign(
        "enclave.pem",
        format!(
            "--type dataset --input-hash {job} --output-hash {root} --stage contributions=4 --stage job={job} {}",
            at(0)
        ),
    );
    sign(
        "enclave.pem",
        format!(
            "--type adapter --chain chain.alloy --output model --stage recipe={recipe} --stage method=lora {}",
            at(1)
        ),
    );
    sign(
        "enclave.pem",
        format!(
            "--type eval --chain chain.alloy --output-hash {bundle} --stage metric=perplexity --stage baseline=12.5 --stage scores={} {}",
            hash("scores"),
            at(2)
        ),
    );
    sign(
        "publisher.pem",
        format!(
            "--type delivery --chain chain.alloy --output model --stage location=https://models.example/demo --stage size=5002 {}",
            at(3)
        ),
    );
    dir.join("chain.alloy")
}

/// The public key that signed link `index` of `chain.alloy`.
fn signer_of(dir: &Path, index: usize) -> String {
    let shown: serde_json::Value =
        serde_json::from_str(&ok_line(dir, "alloy show --json chain.alloy")).unwrap();
    shown["links"][index]["signer"].as_str().unwrap().to_owned()
}

#[test]
fn a_chain_made_with_sign_verifies_from_its_file_texts_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chain(d);
    let out = ok(d, &["alloy", "verify", "chain.alloy"]);
    assert!(out.contains("valid: 4 link(s), 1 of 1 part(s)"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(d, &["alloy", "verify", "--json", "chain.alloy"])).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["links"][1]["stage"]["method"], "lora");
    // The adapter's output and the delivery's are the model folder's content hash.
    assert_eq!(v["links"][1]["output_hash"], v["links"][3]["output_hash"]);
    assert_eq!(v["links"][3]["input_hash"], v["links"][2]["output_hash"]);

    let qr = ok(d, &["alloy", "qr", "chain.alloy", "--out", "codes"]);
    let parts: Vec<PathBuf> = std::fs::read_dir(d.join("codes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let pngs: Vec<String> = parts
        .iter()
        .filter(|p| p.extension().unwrap() == "png")
        .map(|p| p.display().to_string())
        .collect();
    let txts: Vec<String> = parts
        .iter()
        .filter(|p| p.extension().unwrap() == "txt")
        .map(|p| p.display().to_string())
        .collect();
    assert!(pngs.len() >= 2, "four links take more than one code: {qr}");
    assert_eq!(
        parts
            .iter()
            .filter(|p| p.extension().unwrap() == "svg")
            .count(),
        pngs.len()
    );
    for args in [&pngs, &txts] {
        let mut a = vec!["alloy", "verify"];
        a.extend(args.iter().rev().map(String::as_str));
        let out = ok(d, &a);
        assert!(
            out.contains(&format!(
                "valid: 4 link(s), {n} of {n} part(s)",
                n = pngs.len()
            )),
            "{out}"
        );
    }
    // A code's text on the command line.
    let first = std::fs::read_to_string(&txts[0]).unwrap();
    assert!(first.starts_with("AL1:"));
    let mut a = vec!["alloy", "verify", first.trim()];
    a.extend(txts[1..].iter().map(String::as_str));
    ok(d, &a);
}

#[test]
fn a_model_card_carries_the_chain_and_the_model_and_its_codes_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chain(d);
    let out = ok(
        d,
        &[
            "alloy",
            "card",
            "--model",
            "model",
            "--chain",
            "chain.alloy",
            "--out",
            "card.svg",
        ],
    );
    let shown: serde_json::Value =
        serde_json::from_str(&ok(d, &["alloy", "show", "--json", "chain.alloy"])).unwrap();
    let model = shown["links"][1]["output_hash"].as_str().unwrap();
    let head = shown["head"].as_str().unwrap();
    assert!(
        out.contains(&format!("https://models.example/demo#alloy-sha256={model}")),
        "{out}"
    );
    let svg = std::fs::read_to_string(d.join("card.svg")).unwrap();
    for says in [
        "<svg".to_owned(),
        format!("model sha256 {model}"),
        format!("head {head}"),
        "evaluated: perplexity, baseline 12.5".to_owned(),
        "4. delivery signed by".to_owned(),
        "chain 1 of".to_owned(),
        "the model".to_owned(),
    ] {
        assert!(svg.contains(&says), "the card should say {says:?}");
    }
    let pngs: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("card-chain-") && n.ends_with(".png"))
        .collect();
    assert!(!pngs.is_empty() && d.join("card-model.png").exists());
    let mut a = vec!["alloy", "verify"];
    a.extend(pngs.iter().map(String::as_str));
    ok(d, &a);
    std::fs::create_dir(d.join("other")).unwrap();
    std::fs::write(d.join("other/x"), "x").unwrap();
    fails(
        d,
        &[
            "alloy",
            "card",
            "--model",
            "other",
            "--chain",
            "chain.alloy",
            "--out",
            "c2.svg",
        ],
        "is no link's output_hash",
    );
    assert!(!d.join("c2.svg").exists());
}

#[test]
fn tampering_a_missing_code_and_untrusted_signers_fail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = chain(d);
    let bytes = std::fs::read(&file).unwrap();
    // One bit of the last link's signature.
    let mut bad = bytes.clone();
    let at = bad.len() - 10;
    bad[at] ^= 1;
    std::fs::write(d.join("bad.alloy"), &bad).unwrap();
    fails(
        d,
        &["alloy", "verify", "bad.alloy"],
        "ed25519.bad_signature",
    );
    std::fs::write(d.join("cut.alloy"), &bytes[..bytes.len() - 1]).unwrap();
    fails(d, &["alloy", "verify", "cut.alloy"], "cbor.truncated");

    ok(d, &["alloy", "qr", "chain.alloy", "--out", "codes"]);
    let mut txts: Vec<PathBuf> = std::fs::read_dir(d.join("codes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().unwrap() == "txt")
        .collect();
    txts.sort();
    txts.pop();
    let shown: serde_json::Value =
        serde_json::from_str(&ok(d, &["alloy", "show", "--json", "chain.alloy"])).unwrap();
    let head = shown["head"].as_str().unwrap();
    let mut a = vec!["alloy".to_owned(), "verify".to_owned()];
    a.extend(txts.iter().map(|p| p.display().to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    fails(
        d,
        &a,
        &format!(
            "qr.missing: part {n} of {n} is missing: it ends with link {head}",
            n = txts.len() + 1
        ),
    );

    let enclave = signer_of(d, 0);
    std::fs::write(
        d.join("enclave-only.toml"),
        format!("[[key]]\nname = \"demo enclave\"\ned25519 = \"{enclave}\"\n"),
    )
    .unwrap();
    let o = assay(
        d,
        &[
            "alloy",
            "verify",
            "chain.alloy",
            "--keyring",
            "enclave-only.toml",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("trust: link 1 signed by demo enclave"),
        "{out}"
    );
    assert!(
        out.contains("trust: link 4 NOT TRUSTED (trust.unknown"),
        "{out}"
    );
    let publisher = signer_of(d, 3);
    std::fs::write(
        d.join("both.toml"),
        format!("[[key]]\nname = \"demo enclave\"\ned25519 = \"{enclave}\"\n\n[[key]]\nname = \"publisher\"\ned25519 = \"{publisher}\"\nrevoked_at = 2027-01-01T00:00:00Z\n"),
    )
    .unwrap();
    ok(
        d,
        &["alloy", "verify", "chain.alloy", "--keyring", "both.toml"],
    );
    std::fs::write(
        d.join("bad.toml"),
        format!("[[key]]\nname = \"x\"\ned25519 = \"{}\"\n", &enclave[..40]),
    )
    .unwrap();
    fails(
        d,
        &["alloy", "verify", "chain.alloy", "--keyring", "bad.toml"],
        "bad.toml: keyring: key 1 (x): ed25519 must be the 32-byte key in hex",
    );
}

/// `fails` for a command line written as one string (no argument holds a space).
fn fails_line(dir: &Path, line: &str, says: &str) {
    fails(dir, &line.split_whitespace().collect::<Vec<_>>(), says);
}

#[test]
fn unusable_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chain(d);
    let h = hash("h");
    let append =
        format!("alloy sign --key enclave.pem --type eval --chain chain.alloy --output-hash {h}");
    let first =
        format!("alloy sign --key enclave.pem --type dataset --input-hash {h} --output-hash {h}");
    fails_line(
        d,
        "alloy new-key --out enclave.pem",
        "exists; refusing to overwrite a key",
    );
    fails_line(
        d,
        &format!("{append} --stage nope=1 --out x.alloy"),
        "links of type eval have no stage key \"nope\"",
    );
    fails_line(
        d,
        &format!("{append} --stage contributions=many --out x.alloy"),
        "contributions is an unsigned integer",
    );
    fails_line(
        d,
        &format!("{append} --out chain.alloy.copy --at 2020-01-01T00:00:00Z"),
        "the new link would break chain.timestamp",
    );
    fails_line(
        d,
        &format!("alloy sign --key enclave.pem --type dataset --output-hash {h} --out y.alloy"),
        "a first link needs --input-hash or --input",
    );
    fails_line(
        d,
        &format!("{first} --out chain.alloy"),
        "exists; refusing to overwrite it",
    );
    std::fs::write(d.join("not-a-key.pem"), "hello").unwrap();
    fails_line(
        d,
        &format!("{first} --out z.alloy").replace("enclave.pem", "not-a-key.pem"),
        "not-a-key.pem: private key: not a PEM private key",
    );
    std::fs::write(d.join("garbage.alloy"), [0x85, 0x01]).unwrap();
    fails_line(
        d,
        &format!("{append} --out w.alloy").replace("chain.alloy", "garbage.alloy"),
        "not a valid, complete chain to append to: cbor.truncated",
    );
    fails_line(d, "alloy verify garbage.alloy", "cbor.truncated");
    fails_line(d, "alloy verify AL1:a", "qr.base45");
    fails_line(
        d,
        "alloy verify nowhere.alloy",
        "nowhere.alloy: No such file",
    );
    std::fs::write(d.join("blank.png"), b"\x89PNG\r\n\x1a\nrest").unwrap();
    fails_line(
        d,
        "alloy verify blank.png",
        "blank.png: QR image: not a PNG image",
    );
    fails_line(
        d,
        "alloy qr garbage.alloy --out codes",
        "not a valid, complete chain",
    );
    fails_line(
        d,
        "alloy qr chain.alloy --out codes --scale 0",
        "--scale 0: 1 to 64",
    );
    assert!(
        !d.join("codes").exists()
            && !d.join("x.alloy").exists()
            && !d.join("chain.alloy.copy").exists(),
        "nothing half-written"
    );
}

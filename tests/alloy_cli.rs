//! `assay alloy`: a chain made link by link with `sign`, verified from its file, its code texts
//! and its images (PNG, SVG, the model card's PNG); tampering, a missing code, a keyring; every
//! unusable input named.

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
        format!("model content hash {model}"),
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
    // The model's code alone is no chain.
    fails_line(
        d,
        "alloy verify card-model.png",
        "card-model.png: no alloy code (AL1:…) among the 1 QR code(s) in the image: https://models.example/demo#alloy-sha256=",
    );

    // The card as PNG, twice the SVG's size: both kinds of code read back from it, the chain's
    // verify, the model's is named as set aside; and the same from the SVG itself.
    let png = std::fs::read(d.join("card.png")).unwrap();
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    let declared = |attr: &str| -> u32 {
        let at = svg.find(&format!(" {attr}=\"")).unwrap() + attr.len() + 3;
        svg[at..svg[at..].find('"').unwrap() + at].parse().unwrap()
    };
    assert_eq!(&png[12..16], b"IHDR");
    assert_eq!(
        (size(16), size(20)),
        (2 * declared("width"), 2 * declared("height"))
    );
    for image in ["card.png", "card.svg"] {
        let o = assay(d, &["alloy", "verify", image]);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(o.status.success(), "{image}: {out}{err}");
        assert!(
            out.contains(&format!(
                "valid: 4 link(s), {n} of {n} part(s)",
                n = pngs.len()
            )),
            "{image}: {out}"
        );
        assert!(
            err.contains(&format!(
                "{image}: set aside a QR code that is not an alloy code: https://models.example/demo#alloy-sha256={model}"
            )),
            "{image}: {err}"
        );
    }
    // Its text is drawn: the same card under another name is another picture, and under the
    // same name the same one.
    ok_line(
        d,
        "alloy card --model model --chain card.png --name model --out again.svg",
    );
    ok_line(
        d,
        "alloy card --model model --chain chain.alloy --name other --out other.svg",
    );
    assert_eq!(std::fs::read(d.join("again.png")).unwrap(), png);
    assert_ne!(std::fs::read(d.join("other.png")).unwrap(), png);
    fails_line(
        d,
        "alloy card --model model --chain chain.alloy --out card2.png",
        "--out card2.png: the card is written as SVG",
    );
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
    for never in [
        "c2.svg",
        "c2.png",
        "c2-model.png",
        "c2-chain-1.png",
        "card2.png",
    ] {
        assert!(!d.join(never).exists(), "{never}: nothing half-written");
    }
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

/// A code's SVG as `assay alloy qr` writes it (qrcode's: one path of `Mx yhsvsHxVy` squares,
/// `s` pixels a module) redrawn as another generator might: a byte order mark, a comment, no
/// XML declaration, one `<rect>` a module in a viewBox of one unit a module, no background,
/// `size` wide (millimetres, say).
fn redrawn(qrcode_svg: &str, size: &str) -> String {
    let path = qrcode_svg.split(" d=\"").nth(1).unwrap();
    let path = &path[..path.find('"').unwrap()];
    let side: u32 = {
        let at = qrcode_svg.find(" width=\"").unwrap() + 8;
        qrcode_svg[at..].split('"').next().unwrap().parse().unwrap()
    };
    let mut scale = 0;
    let mut rects = String::new();
    for square in path.split('M').filter(|s| !s.is_empty()) {
        // "x yhsvsHxVy"
        let (x, rest) = square.split_once(' ').unwrap();
        let (y, rest) = rest.split_once('h').unwrap();
        let s: u32 = rest.split_once('v').unwrap().0.parse().unwrap();
        scale = s;
        let (x, y): (u32, u32) = (x.parse().unwrap(), y.parse().unwrap());
        rects += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"1\" height=\"1\" fill=\"black\"/>\n",
            x / s,
            y / s
        );
    }
    let modules = side / scale;
    format!(
        "\u{feff}\n<!-- drawn by hand -->\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size}\" height=\"{size}\" viewBox=\"0 0 {modules} {modules}\">\n{rects}</svg>\n"
    )
}

#[test]
fn a_chain_reads_from_svg_images_of_its_codes_whoever_drew_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chain(d);
    ok_line(d, "alloy qr chain.alloy --out codes");
    ok_line(d, "alloy qr chain.alloy --out small --scale 1");
    let mut svgs: Vec<String> = std::fs::read_dir(d.join("codes"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".svg"))
        .collect();
    svgs.sort();
    let n = svgs.len();
    assert!(n >= 2, "four links take more than one code");
    let valid = format!("valid: 4 link(s), {n} of {n} part(s)");

    // SVGs alone, last first; then PNG and SVG mixed, shuffled: odd parts as PNG, even ones as
    // SVG (from the second folder: one pixel a module), in the order 2, 1, 4, 3, ….
    let line = |files: Vec<String>| format!("alloy verify {}", files.join(" "));
    let out = ok_line(d, &line(svgs.iter().rev().cloned().collect()));
    assert!(out.contains(&valid), "{out}");
    let mut mixed: Vec<String> = (1..=n)
        .map(|i| {
            if i % 2 == 1 {
                format!("codes/part-{i}-of-{n}.png")
            } else {
                format!("small/part-{i}-of-{n}.svg")
            }
        })
        .collect();
    for pair in mixed.chunks_mut(2) {
        pair.reverse();
    }
    let out = ok_line(d, &line(mixed));
    assert!(out.contains(&valid), "{out}");
    // qrcode's SVG at one pixel a module, and the same code redrawn by another generator as
    // <rect>s in millimetres, no background, under a name without .svg (read by its content).
    let mut other = vec![];
    for i in 1..=n {
        let svg = std::fs::read_to_string(d.join(format!("small/part-{i}-of-{n}.svg"))).unwrap();
        let name = format!("other-{i}.image");
        std::fs::write(d.join(&name), redrawn(&svg, &format!("{}mm", 30 + 5 * i))).unwrap();
        other.push(name);
    }
    other.push(format!("small/part-1-of-{n}.svg"));
    let out = ok_line(d, &line(other));
    assert!(out.contains(&valid), "{out}");
    // What `qr` wrote, given to `qr` and `show` again as SVG.
    ok_line(d, &format!("alloy qr {} --out again", svgs.join(" ")));
    assert_eq!(
        std::fs::read(d.join(format!("again/part-{n}-of-{n}.txt"))).unwrap(),
        std::fs::read(d.join(format!("codes/part-{n}-of-{n}.txt"))).unwrap()
    );
    let shown = ok_line(d, &format!("alloy show {}", svgs[0]));
    assert!(shown.contains("link 1 (dataset), part 1"), "{shown}");
}

#[test]
fn a_broken_or_oversized_svg_is_named_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chain(d);
    ok_line(d, "alloy qr chain.alloy --out codes");
    let svg = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    svg(
        "broken.svg",
        "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect",
    );
    svg(
        "huge.svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100000\" height=\"100000\"><rect width=\"1\" height=\"1\"/></svg>",
    );
    svg(
        "blank.svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"50\" height=\"50\"/>",
    );
    svg(
        "slow.svg",
        &format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4000\" height=\"4000\">{}</svg>",
            "<rect width=\"4000\" height=\"4000\" fill=\"#fff\" opacity=\"0.5\"/>".repeat(500)
        ),
    );
    svg("html.svg", "<!DOCTYPE html><html><body>no</body></html>");
    std::fs::write(d.join("gzip.svg"), b"\x1f\x8b\x08\x00").unwrap();
    for (line, says) in [
        (
            "alloy verify codes/part-1-of-2.svg broken.svg",
            "broken.svg: QR image: not a readable SVG image: SVG data parsing failed",
        ),
        (
            "alloy verify huge.svg",
            "huge.svg: QR image: the SVG declares 100000×100000 pixels, more than the 16777216",
        ),
        (
            "alloy verify slow.svg",
            "slow.svg: QR image: drawing the SVG would paint about",
        ),
        (
            "alloy show blank.svg",
            "blank.svg: QR image: no QR code found in the image",
        ),
        (
            "alloy verify html.svg",
            "html.svg: QR image: not a readable SVG image",
        ),
        (
            "alloy verify gzip.svg",
            "gzip.svg: QR image: a compressed SVG (.svgz) is not read",
        ),
        (
            "alloy qr huge.svg --out never",
            "huge.svg: QR image: the SVG declares",
        ),
        (
            "alloy card --model model --chain broken.svg --out never.svg",
            "broken.svg: QR image: not a readable SVG image",
        ),
    ] {
        fails_line(d, line, says);
    }
    assert!(
        !d.join("never").exists() && !d.join("never.svg").exists() && !d.join("never.png").exists()
    );
}

//! The 331 launch-measurement vectors of `../shared/vectors/measure`, made with the reference
//! tool sev-snp-measure 0.0.13, and the intermediate values they record.
//!
//! Inputs stored beside the vectors are always used. The Debian firmware and kernel are fetched by
//! `scripts/fetch-measure-inputs` into `$ASSAY_MEASURE_INPUTS` (default
//! `~/.cache/assay/measure-inputs`); a vector whose input is absent is counted as skipped, never
//! as passed, and with `ASSAY_REQUIRE_MEASURE_INPUTS=1` (set by `scripts/test` once the fetch
//! succeeded) an absent input fails the run.

use std::collections::BTreeMap;

use assay_measurements::hashes::KernelHashes;
use assay_measurements::ovmf::{FOUR_GIB, Firmware};
use assay_measurements::vcpu::{VmmType, cpu_sig, vcpu_type_sig};
use assay_measurements::vmsa::{BSP_EIP, vmsa_page};
use assay_measurements::{DirectBoot, Error, Launch};
use aws_lc_rs::digest;
use base64::Engine;
use serde_json::Value;

mod paths;

use paths::{inputs_dir, vectors_dir};

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, b))
}

fn sha384_hex(b: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA384, b))
}

struct Inputs {
    files: BTreeMap<String, Vec<u8>>,
    absent: Vec<String>,
}

fn load(v: &Value) -> Inputs {
    let mut files = BTreeMap::new();
    let mut absent = Vec::new();
    for (id, input) in v["inputs"].as_object().unwrap() {
        let path = match input["source"].as_str().unwrap() {
            "stored" => vectors_dir().join(input["file"].as_str().unwrap()),
            _ => inputs_dir().join(id),
        };
        match std::fs::read(&path) {
            Ok(bytes) if sha256_hex(&bytes) == input["sha256"].as_str().unwrap() => {
                files.insert(id.clone(), bytes);
            }
            Ok(_) => panic!("{}: SHA-256 differs from vectors.json", path.display()),
            Err(_) if input["source"] == "stored" => {
                panic!("stored input {} missing", path.display())
            }
            Err(_) => absent.push(id.clone()),
        }
    }
    Inputs { files, absent }
}

fn vectors() -> Value {
    let path = vectors_dir().join("vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} ({e}); set ASSAY_MEASURE_VECTORS", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn num(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap(),
        other => panic!("not a number: {other}"),
    }
}

fn vcpu_signature(x: &Value) -> u32 {
    if let Some(f) = x.get("vcpu_family") {
        cpu_sig(
            num(f) as u32,
            num(&x["vcpu_model"]) as u32,
            num(&x["vcpu_stepping"]) as u32,
        )
    } else if let Some(s) = x.get("vcpu_sig") {
        num(s) as u32
    } else if let Some(t) = x.get("vcpu_type") {
        vcpu_type_sig(t.as_str().unwrap()).unwrap()
    } else {
        0
    }
}

/// The launch a vector describes: `None` when an input is absent, `Err` for a command line the
/// CLI refuses before measuring.
fn launch<'a>(x: &'a Value, inputs: &'a Inputs) -> Option<Result<Launch<'a>, ()>> {
    let file = |key: &str| -> Option<Option<&'a [u8]>> {
        match x[key].as_str() {
            None => Some(None),
            Some(id) => inputs.files.get(id).map(|b| Some(b.as_slice())),
        }
    };
    let kernel = file("kernel")?;
    let initrd = file("initrd")?;
    let append = x["append"].as_str();
    let boot = match kernel {
        Some(kernel) => Some(DirectBoot::Files {
            kernel,
            initrd,
            append,
        }),
        // An initrd or command line without a kernel is an argument error of the CLI.
        None if initrd.is_some() || append.is_some_and(|a| !a.is_empty()) => return Some(Err(())),
        None => None,
    };
    Some(Ok(Launch {
        firmware: file("ovmf")?.unwrap(),
        boot,
        vcpus: x.get("vcpus").map_or(0, |v| num(v) as u32),
        vcpu_sig: vcpu_signature(x),
        vmm: x["vmm_type"].as_str().unwrap().parse::<VmmType>().unwrap(),
        guest_features: x.get("guest_features").map_or(1, num),
        firmware_digest: x.get("snp_ovmf_hash").map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        }),
    }))
}

fn compute(mode: &str, l: &Launch<'_>) -> Result<Vec<u8>, Error> {
    Ok(match mode {
        "snp" => assay_measurements::snp_launch_digest(l)?.to_vec(),
        "snp:ovmf-hash" => assay_measurements::snp_ovmf_hash(l.firmware)?.to_vec(),
        "seves" => assay_measurements::seves_launch_digest(l)?.to_vec(),
        "sev" => assay_measurements::sev_launch_digest(l)?.to_vec(),
        other => panic!("unknown mode {other}"),
    })
}

#[test]
fn every_vector_reproduces_byte_for_byte() {
    let v = vectors();
    let inputs = load(&v);
    let (mut passed, mut skipped, mut offline) = (0, 0, 0);
    for x in v["vectors"].as_array().unwrap() {
        let id = x["id"].as_str().unwrap();
        let Some(l) = launch(x, &inputs) else {
            assert!(
                !x["offline"].as_bool().unwrap(),
                "{id}: offline vector lacks an input"
            );
            skipped += 1;
            continue;
        };
        let Ok(l) = l else {
            assert_eq!(
                x["exit_code"], 2,
                "{id}: refused command line must be an argument error"
            );
            passed += 1;
            continue;
        };
        let result = compute(x["mode"].as_str().unwrap(), &l);
        if x.get("expect_error").is_some() {
            let expected = x["stderr_last_line"].as_str().unwrap();
            match result {
                // Argument errors (exit 2) about --vcpus/--vcpu-type are the CLI's: tested there.
                Ok(_) => assert_eq!(x["exit_code"], 2, "{id}: expected an error"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(expected.ends_with(&msg), "{id}: {msg:?} vs {expected:?}");
                }
            }
        } else {
            let got = result.unwrap_or_else(|e| panic!("{id}: {e}"));
            let b64 = base64::engine::general_purpose::STANDARD.encode(&got);
            if x["argv"].as_array().unwrap().iter().any(|a| a == "base64") {
                // `expected` is what the tool printed: base64 here.
                assert_eq!(b64, x["expected"].as_str().unwrap(), "{id}");
            } else {
                assert_eq!(hex::encode(&got), x["expected"].as_str().unwrap(), "{id}");
                if let Some(want) = x.get("expected_base64") {
                    assert_eq!(b64, want.as_str().unwrap(), "{id}");
                }
            }
        }
        passed += 1;
        offline += usize::from(x["offline"].as_bool().unwrap());
    }
    eprintln!(
        "measure vectors: {passed} passed ({offline} offline), {skipped} skipped (inputs absent: {:?})",
        inputs.absent
    );
    assert_eq!(offline, 46, "every offline vector runs");
    if std::env::var_os("ASSAY_REQUIRE_MEASURE_INPUTS").is_some() {
        assert_eq!(skipped, 0, "inputs absent: {:?}", inputs.absent);
    }
    assert_eq!(passed + skipped, 331);
}

#[test]
fn firmware_facts_match() {
    let v = vectors();
    let inputs = load(&v);
    let mut checked = 0;
    for (id, input) in v["inputs"].as_object().unwrap() {
        let (Some(facts), Some(bytes)) = (input.get("ovmf"), inputs.files.get(id)) else {
            continue;
        };
        let fw = Firmware::parse(bytes, FOUR_GIB).unwrap();
        assert_eq!(fw.gpa(), num(&facts["load_gpa"]), "{id}");
        let table: BTreeMap<String, String> = fw
            .entries()
            .map(|(g, b)| (g.to_string(), hex::encode(b)))
            .collect();
        let want: BTreeMap<String, String> = facts["footer_table"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(table, want, "{id}");
        match facts.get("sev_es_reset_eip") {
            Some(Value::Null) | None => assert!(fw.sev_es_reset_eip().is_err()),
            Some(eip) => assert_eq!(u64::from(fw.sev_es_reset_eip().unwrap()), num(eip), "{id}"),
        }
        match facts.get("sev_hashes_table_gpa") {
            Some(Value::Null) | None => assert!(fw.sev_hashes_table_gpa().is_err()),
            Some(gpa) => assert_eq!(
                u64::from(fw.sev_hashes_table_gpa().unwrap()),
                num(gpa),
                "{id}"
            ),
        }
        let sections: Vec<(u64, u64, u64)> = facts["sev_metadata_sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (num(&s["gpa"]), num(&s["size"]), num(&s["type"])))
            .collect();
        let ours: Vec<(u64, u64, u64)> = fw
            .sections()
            .iter()
            .map(|s| {
                let ty = match s.kind {
                    assay_measurements::ovmf::SectionKind::SnpSecMem => 1,
                    assay_measurements::ovmf::SectionKind::SnpSecrets => 2,
                    assay_measurements::ovmf::SectionKind::Cpuid => 3,
                    assay_measurements::ovmf::SectionKind::SvsmCaa => 4,
                    assay_measurements::ovmf::SectionKind::SnpKernelHashes => 0x10,
                };
                (u64::from(s.gpa), u64::from(s.size), ty)
            })
            .collect();
        assert_eq!(ours, sections, "{id}");
        let hash = assay_measurements::snp_ovmf_hash(bytes).unwrap();
        assert_eq!(
            hex::encode(hash),
            input["snp_ovmf_hash"].as_str().unwrap(),
            "{id}"
        );
        checked += 1;
    }
    assert!(checked >= 4, "{checked}");
}

#[test]
fn hashes_tables_match() {
    let v = vectors();
    let inputs = load(&v);
    let mut checked = 0;
    for table in v["hashes_tables"].as_object().unwrap().values() {
        let file = |k: &str| table[k].as_str().map(|id| inputs.files.get(id));
        let kernel = match file("kernel") {
            Some(Some(k)) => k,
            _ => continue,
        };
        let initrd = match file("initrd") {
            None => None,
            Some(Some(i)) => Some(i.as_slice()),
            Some(None) => continue,
        };
        let h = KernelHashes::new(kernel, initrd, table["append"].as_str());
        assert_eq!(
            hex::encode(h.kernel),
            table["kernel_sha256"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(h.initrd),
            table["initrd_sha256"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(h.cmdline),
            table["cmdline_sha256"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(h.table()),
            table["padded_table_hex"].as_str().unwrap()
        );
        checked += 1;
    }
    assert!(checked > 0);
}

/// The non-zero byte runs of a page, in the vectors' notation.
fn runs(page: &[u8]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < page.len() {
        if page[i] == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < page.len() && page[i] != 0 {
            i += 1;
        }
        out.push((start, hex::encode(&page[start..i])));
    }
    out
}

#[test]
fn vmsa_pages_match() {
    let v = vectors();
    let inputs = load(&v);
    let pages = v["vmsa_pages"].as_object().unwrap();
    let mut checked = 0;
    for x in v["vectors"].as_array().unwrap() {
        if x["mode"] != "snp" || x.get("expect_error").is_some() {
            continue;
        }
        let Some(Ok(l)) = launch(x, &inputs) else {
            continue;
        };
        let fw = Firmware::parse(l.firmware, FOUR_GIB).unwrap();
        let ap_eip = fw.sev_es_reset_eip().unwrap();
        for (key, eip) in [("vmsa_sha384_bsp", BSP_EIP), ("vmsa_sha384_ap", ap_eip)] {
            let Some(want) = x.get(key).and_then(Value::as_str) else {
                continue;
            };
            let page = vmsa_page(eip, l.guest_features, l.vcpu_sig, l.vmm);
            let got = sha384_hex(&page);
            if got != want {
                let listed: Vec<(usize, String)> = pages[want]["nonzero_byte_runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| (num(&r[0]) as usize, r[1].as_str().unwrap().to_owned()))
                    .collect();
                panic!(
                    "{}: {key}\nours:   {:x?}\nlisted: {:x?}",
                    x["id"],
                    runs(&page),
                    listed
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

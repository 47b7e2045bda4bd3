//! Every policy rule, with a report that meets it and one that does not.

mod common;

use assay_attestation::Error;
use assay_attestation::abi::{AttestationReport, PlatformInfo, Product};
use assay_attestation::validate::Policy;
use common::*;

fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// `toml` accepts `good` and refuses `bad` with an error naming `rule`.
fn rule(
    toml: &str,
    good: impl FnOnce(&mut AttestationReport),
    bad: impl FnOnce(&mut AttestationReport),
    rule: &str,
) {
    let p = policy(toml);
    p.check(&sim_report(good), Product::Milan)
        .unwrap_or_else(|e| panic!("{toml}: good report refused: {e}"));
    let e = p.check(&sim_report(bad), Product::Milan).expect_err(toml);
    assert_eq!(e.check(), "policy");
    assert!(e.to_string().contains(rule), "{toml}: {e}");
}

const DEBUG: u64 = 1 << 19;
const MIGRATE_MA: u64 = 1 << 18;

#[test]
fn debug_is_forbidden_unless_allowed() {
    rule("", |_| {}, |r| r.policy.0 |= DEBUG, "debugging");
    assert!(matches!(
        Policy::default().check(&sim_report(|r| r.policy.0 |= DEBUG), Product::Milan),
        Err(Error::PolicyDebug)
    ));
    policy("allow_debug = true")
        .check(&sim_report(|r| r.policy.0 |= DEBUG), Product::Milan)
        .unwrap();
}

#[test]
fn a_migration_agent_is_refused_unless_allowed() {
    for toml in ["", "allow_migrate_ma = false"] {
        rule(
            toml,
            |_| {},
            |r| r.policy.0 |= MIGRATE_MA,
            "migration agent",
        );
    }
    policy("allow_migrate_ma = true")
        .check(&sim_report(|r| r.policy.0 |= MIGRATE_MA), Product::Milan)
        .unwrap();
}

#[test]
fn without_min_tcb_the_products_floor_applies() {
    use assay_attestation::abi::Tcb;
    use assay_attestation::validate::MinTcb;
    for product in Product::ALL {
        let floor = MinTcb::floor(product);
        let at_floor = Tcb {
            fmc: floor.fmc,
            bootloader: floor.bootloader.unwrap_or(0),
            tee: floor.tee.unwrap_or(0),
            snp: floor.snp.unwrap_or(0),
            microcode: floor.microcode.unwrap_or(0),
        };
        let with = |tcb: Tcb| sim_report(|r| r.reported_tcb = tcb.encode(product));
        Policy::default()
            .check(&with(at_floor), product)
            .unwrap_or_else(|e| panic!("{product:?} at its floor: {e}"));
        let below = Tcb {
            snp: at_floor.snp - 1,
            ..at_floor
        };
        let e = Policy::default().check(&with(below), product).unwrap_err();
        assert!(
            matches!(e, Error::PolicyBelowMinimum { .. })
                && e.to_string()
                    .contains("min_tcb.snp (the product's default floor"),
            "{product:?}: {e}"
        );
        // A policy that names its own minimum (here: none at all) replaces the floor.
        policy("[min_tcb]").check(&with(below), product).unwrap();
        let e = policy("[min_tcb]\nsnp = 255")
            .check(&with(at_floor), product)
            .unwrap_err();
        assert!(
            e.to_string().contains("policy: min_tcb.snp requires"),
            "{e}"
        );
    }
    // The floors are AMD-SB-3019's for Milan and Genoa.
    assert_eq!(
        (
            MinTcb::floor(Product::Milan).snp,
            MinTcb::floor(Product::Milan).microcode
        ),
        (Some(24), Some(219))
    );
    assert_eq!(
        (
            MinTcb::floor(Product::Genoa).snp,
            MinTcb::floor(Product::Genoa).microcode
        ),
        (Some(23), Some(84))
    );
}

#[test]
fn vmpl_and_guest_svn() {
    rule("vmpl = 0", |_| {}, |r| r.vmpl = 1, "vmpl");
    rule(
        "min_guest_svn = 3",
        |r| r.guest_svn = 3,
        |r| r.guest_svn = 2,
        "min_guest_svn",
    );
}

#[test]
fn minimum_tcb_per_component() {
    for (component, value) in [
        ("bootloader", SIM_TCB.bootloader + 1),
        ("tee", SIM_TCB.tee + 1),
        ("snp", SIM_TCB.snp + 1),
        ("microcode", SIM_TCB.microcode + 1),
    ] {
        let toml = format!("[min_tcb]\n{component} = {value}");
        rule(
            &toml,
            |r| {
                let mut tcb = SIM_TCB;
                match component {
                    "bootloader" => tcb.bootloader = value,
                    "tee" => tcb.tee = value,
                    "snp" => tcb.snp = value,
                    _ => tcb.microcode = value,
                }
                r.reported_tcb = tcb.encode(Product::Milan);
            },
            |_| {},
            &format!("min_tcb.{component}"),
        );
    }
    // fmc exists on Turin only.
    let p = policy("[min_tcb]\nfmc = 1");
    let e = p.check(&sim_report(|_| {}), Product::Milan).unwrap_err();
    assert!(matches!(e, Error::PolicyComponentAbsent { .. }), "{e}");
    let turin = |fmc: u8| {
        sim_report(|r| {
            r.reported_tcb = assay_attestation::abi::Tcb {
                fmc: Some(fmc),
                ..SIM_TCB
            }
            .encode(Product::Turin)
        })
    };
    p.check(&turin(1), Product::Turin).unwrap();
    assert!(matches!(
        p.check(&turin(0), Product::Turin),
        Err(Error::PolicyBelowMinimum { .. })
    ));
}

#[test]
fn allowlists_of_digests_and_ids() {
    let hex48 = |b: u8| hex::encode([b; 48]);
    rule(
        &format!("measurements = [\"{}\", \"{}\"]", hex48(0x11), hex48(0x22)),
        |_| {},
        |r| r.measurement = [0x33; 48],
        "measurements",
    );
    rule(
        &format!("id_key_digests = [\"{}\"]", hex48(0xaa)),
        |r| r.id_key_digest = [0xaa; 48],
        |_| {},
        "id_key_digests",
    );
    rule(
        &format!("author_key_digests = [\"{}\"]", hex48(0xbb)),
        |r| r.author_key_digest = [0xbb; 48],
        |r| r.author_key_digest = [0xbc; 48],
        "author_key_digests",
    );
    rule(
        &format!("chip_ids = [\"0x{}\"]", hex::encode(sim_hwid())),
        |_| {},
        |r| r.chip_id[63] ^= 1,
        "chip_ids",
    );
    policy("products = [\"Milan\"]")
        .check(&sim_report(|_| {}), Product::Milan)
        .unwrap();
    let e = policy("products = [\"Genoa\", \"Turin\"]")
        .check(&sim_report(|_| {}), Product::Milan)
        .unwrap_err();
    assert!(e.to_string().contains("products"), "{e}");
}

#[test]
fn exact_values() {
    rule(
        &format!("report_data = \"{}\"", "ab".repeat(64)),
        |r| r.report_data = [0xab; 64],
        |_| {},
        "report_data",
    );
    rule(
        &format!("host_data = \"{}\"", "cd".repeat(32)),
        |r| r.host_data = [0xcd; 32],
        |_| {},
        "host_data",
    );
    rule(
        &format!("family_id = \"{}\"", "01".repeat(16)),
        |r| r.family_id = [1; 16],
        |_| {},
        "family_id",
    );
    rule(
        &format!("image_id = \"{}\"", "02".repeat(16)),
        |r| r.image_id = [2; 16],
        |_| {},
        "image_id",
    );
}

#[test]
fn platform_requirements() {
    // PLATFORM_INFO bits: 0 SMT, 1 TSME, 2 ECC, 3 RAPL disabled, 4 ciphertext hiding, 5 alias check.
    for (key, good, bad) in [
        ("require_smt_disabled", 0b000000, 0b000001),
        ("require_tsme_enabled", 0b000010, 0b000000),
        ("require_ecc_enabled", 0b000100, 0b000000),
        ("require_rapl_disabled", 0b001000, 0b000000),
        ("require_ciphertext_hiding", 0b010000, 0b000000),
        ("require_alias_check_complete", 0b100000, 0b000000),
    ] {
        rule(
            &format!("[platform]\n{key} = true"),
            |r| r.platform_info = PlatformInfo(good | 0x40),
            |r| r.platform_info = PlatformInfo(bad | 0x40),
            key,
        );
    }
}

#[test]
fn policy_file_errors_name_the_field() {
    for (toml, needle) in [
        ("measurement = []", "measurement"),
        ("measurements = [\"abcd\"]", "96 hex digits"),
        ("vmpl = \"zero\"", "vmpl"),
        ("measurements = []", "`measurements` is an empty list"),
        ("[min_tcb]\nsnp = 300", "snp"),
        ("products = [\"Naples\"]", "Naples"),
        ("[platform]\nrequire_smt = true", "require_smt"),
    ] {
        let e = Policy::from_toml(toml, "p.toml").unwrap_err();
        assert!(matches!(e, Error::PolicyFile { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("p.toml") && msg.contains(needle),
            "{toml}: {msg}"
        );
    }
}

fn reference(measurement: [u8; 48], mode: &str) -> assay_measurements::reference::ReferenceValues {
    use assay_measurements::reference::{Artifact, FORMAT, ReferenceValues};
    ReferenceValues {
        format: FORMAT.into(),
        name: "enclave".into(),
        mode: mode.into(),
        measurement: hex::encode(measurement),
        vcpus: Some(1),
        vcpu_sig: None,
        vmm_type: "QEMU".into(),
        guest_features: None,
        append: None,
        firmware: Artifact::of(b"ovmf"),
        kernel: None,
        initrd: None,
        variants: Vec::new(),
    }
}

#[test]
fn reference_values_become_the_measurement_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("refs")).unwrap();
    reference([0x11; 48], "snp")
        .save(&dir.path().join("refs/a.toml"))
        .unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, "reference_values = [\"refs/a.toml\"]\n").unwrap();
    let p = Policy::load(&path).unwrap();
    p.check(&sim_report(|_| {}), Product::Milan).unwrap();
    let e = p
        .check(&sim_report(|r| r.measurement = [0x12; 48]), Product::Milan)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::PolicyNotAllowed {
                rule: "measurements",
                ..
            }
        ),
        "{e}"
    );

    // Added to an explicit list, not replacing it.
    std::fs::write(
        &path,
        format!(
            "measurements = [\"{}\"]\nreference_values = [\"refs/a.toml\"]\n",
            hex::encode([0x12; 48])
        ),
    )
    .unwrap();
    let p = Policy::load(&path).unwrap();
    p.check(&sim_report(|r| r.measurement = [0x12; 48]), Product::Milan)
        .unwrap();
    p.check(&sim_report(|_| {}), Product::Milan).unwrap();

    // A missing file and a non-SNP reference are errors naming them.
    std::fs::write(&path, "reference_values = [\"refs/missing.toml\"]\n").unwrap();
    let e = Policy::load(&path).unwrap_err();
    assert!(e.to_string().contains("missing.toml"), "{e}");
    reference([0; 48], "seves")
        .save(&dir.path().join("refs/b.toml"))
        .unwrap_or(());
    let mut p = Policy::default();
    let seves = reference([0; 48], "seves");
    assert!(matches!(
        p.allow_reference(&seves, "b.toml"),
        Err(Error::PolicyFile { .. })
    ));
    // from_toml cannot resolve relative paths and says so.
    let e = Policy::from_toml("reference_values = [\"a.toml\"]", "p.toml").unwrap_err();
    assert!(e.to_string().contains("Policy::load"), "{e}");
    assert!(matches!(
        Policy::load(&dir.path().join("nope.toml")),
        Err(Error::Io { .. })
    ));
}

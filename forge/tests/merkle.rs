//! `data_root` and proofs, byte for byte against OpenZeppelin's `@openzeppelin/merkle-tree`
//! (npm, installed by `scripts/test` into `$ASSAY_OZ_MERKLE`, run with node).

use std::process::Command;

use alloy_primitives::{Address, B256};
use assay_forge::Error;
use assay_forge::merkle::{ContributionTree, Leaf, verify};

/// Deterministic pseudo-random leaves (SplitMix64).
fn leaves(n: usize, seed: u64) -> Vec<Leaf> {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    };
    (0..n)
        .map(|_| {
            let mut contributor = [0u8; 20];
            let mut content = [0u8; 32];
            for chunk in contributor.chunks_mut(8).chain(content.chunks_mut(8)) {
                chunk.copy_from_slice(&next()[..chunk.len()]);
            }
            Leaf {
                contributor: Address::from(contributor),
                content: B256::from(content),
            }
        })
        .collect()
}

fn hex32(b: &B256) -> String {
    format!("0x{}", hex::encode(b))
}

#[test]
fn proofs_verify_and_tampering_fails() {
    for n in [1, 2, 3, 7, 16, 33] {
        let ls = leaves(n, n as u64);
        let tree = ContributionTree::new(&ls).unwrap();
        for (i, leaf) in ls.iter().enumerate() {
            let proof = tree.proof(i).unwrap();
            assert!(verify(&tree.root(), leaf, &proof), "n={n} i={i}");
            let mut other = *leaf;
            other.content.0[0] ^= 1;
            assert!(!verify(&tree.root(), &other, &proof));
        }
        assert!(tree.proof(n).is_none());
    }
    assert!(matches!(
        ContributionTree::new(&[]),
        Err(Error::EmptyContributionSet)
    ));
}

#[test]
fn roots_and_proofs_equal_openzeppelin_merkle_tree() {
    let Some(dir) = std::env::var_os("ASSAY_OZ_MERKLE") else {
        eprintln!("OpenZeppelin oracle test SKIPPED: ASSAY_OZ_MERKLE is not set");
        assert!(
            std::env::var_os("ASSAY_REQUIRE_OZ_MERKLE").is_none(),
            "required"
        );
        return;
    };
    let mut cases = Vec::new();
    for (n, seed) in [
        (1, 1),
        (2, 2),
        (3, 3),
        (5, 4),
        (8, 5),
        (13, 6),
        (64, 7),
        (200, 8),
    ] {
        let mut ls = leaves(n, seed);
        if n >= 5 {
            ls[3] = ls[1]; // a duplicate leaf: stable ordering matters
        }
        cases.push(ls);
    }
    let json: Vec<Vec<[String; 2]>> = cases
        .iter()
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    [
                        format!("0x{}", hex::encode(l.contributor)),
                        hex32(&l.content),
                    ]
                })
                .collect()
        })
        .collect();
    let script = r#"
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(values => {
  const tree = StandardMerkleTree.of(values, ['address', 'bytes32']);
  return { root: tree.root, proofs: values.map((_, i) => tree.getProof(i)) };
});
process.stdout.write(JSON.stringify(out));
"#;
    let mut child = Command::new("node")
        .arg("-e")
        .arg(script)
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&json).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for (ls, t) in cases.iter().zip(&theirs) {
        let tree = ContributionTree::new(ls).unwrap();
        assert_eq!(
            hex32(&tree.root()),
            t["root"],
            "root of {} leaves",
            ls.len()
        );
        for (i, p) in t["proofs"].as_array().unwrap().iter().enumerate() {
            let ours: Vec<String> = tree.proof(i).unwrap().iter().map(hex32).collect();
            assert_eq!(
                serde_json::json!(ours),
                *p,
                "proof {i} of {} leaves",
                ls.len()
            );
        }
    }
}

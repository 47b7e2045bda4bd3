//! The encrypted holdout format: round trip, and clean failures on a wrong key, any flipped byte,
//! truncation, reordering and appended chunks.

use assay_keys::holdout::{HEADER_LEN, decrypt, encrypt};
use assay_keys::{DataKey, Error};

const CHUNK: u32 = 1024;

fn text(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn round_trips_any_length() {
    let key = DataKey::generate();
    for n in [0, 1, 1023, 1024, 1025, 4096, 5000] {
        let plain = text(n);
        let sealed = encrypt(&plain, &key, CHUNK).unwrap();
        assert_eq!(sealed.len(), HEADER_LEN + n + 16 * n.div_ceil(1024).max(1));
        assert_eq!(&decrypt(&sealed, &key).unwrap()[..], &plain[..]);
        // Fresh nonce prefix per file.
        assert_ne!(encrypt(&plain, &key, CHUNK).unwrap(), sealed);
    }
}

#[test]
fn wrong_key_is_named_without_revealing_either_key() {
    let key = DataKey::generate();
    let other = DataKey::generate();
    let sealed = encrypt(&text(3000), &key, CHUNK).unwrap();
    // The header names the key without decrypting anything.
    assert_eq!(assay_keys::holdout::key_id(&sealed).unwrap(), key.id());
    assert!(assay_keys::holdout::key_id(&sealed[..10]).is_err());
    let e = decrypt(&sealed, &other).unwrap_err();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&hex::encode(key.id())) && msg.contains(&hex::encode(other.id())));
    // A key id forged to match still fails authentication.
    let mut forged = sealed.clone();
    forged[16..32].copy_from_slice(&other.id());
    assert!(decrypt(&forged, &other).is_err());
}

#[test]
fn every_flipped_byte_fails() {
    let key = DataKey::generate();
    let sealed = encrypt(&text(2500), &key, CHUNK).unwrap();
    for i in 0..sealed.len() {
        let mut t = sealed.clone();
        t[i] ^= 0x01;
        let e = decrypt(&t, &key).expect_err(&format!("byte {i} flipped was accepted"));
        if i >= HEADER_LEN {
            assert!(
                matches!(e, Error::HoldoutAuthentication { .. }),
                "byte {i}: {e}"
            );
        }
    }
}

#[test]
fn truncation_reordering_and_appending_fail() {
    let key = DataKey::generate();
    let sealed = encrypt(&text(3000), &key, CHUNK).unwrap();
    let sealed_chunk = CHUNK as usize + 16;
    // Dropping the last chunk exactly at a chunk boundary.
    let e = decrypt(&sealed[..HEADER_LEN + 2 * sealed_chunk], &key).unwrap_err();
    assert!(
        matches!(
            e,
            Error::HoldoutAuthentication {
                chunk: 1,
                chunks: 2
            }
        ),
        "{e}"
    );
    // Any shorter file.
    for cut in [0, 10, HEADER_LEN, HEADER_LEN + 15, sealed.len() - 1] {
        assert!(decrypt(&sealed[..cut], &key).is_err(), "cut at {cut}");
    }
    // Swapping the first two chunks.
    let mut swapped = sealed.clone();
    let (a, b) = (HEADER_LEN, HEADER_LEN + sealed_chunk);
    let first = sealed[a..b].to_vec();
    swapped[a..b].copy_from_slice(&sealed[b..b + sealed_chunk]);
    swapped[b..b + sealed_chunk].copy_from_slice(&first);
    assert!(matches!(
        decrypt(&swapped, &key).unwrap_err(),
        Error::HoldoutAuthentication { chunk: 0, .. }
    ));
    // Appending a chunk from another file of the same key.
    let other = encrypt(&text(100), &key, CHUNK).unwrap();
    let mut appended = sealed.clone();
    appended.extend_from_slice(&other[HEADER_LEN..]);
    assert!(decrypt(&appended, &key).is_err());
}

#[test]
fn header_errors_are_named() {
    let key = DataKey::generate();
    let sealed = encrypt(&text(10), &key, CHUNK).unwrap();
    let cases: [(usize, u8, &str); 4] = [
        (0, b'X', "magic"),
        (8, 2, "version 2"),
        (9, 1, "reserved"),
        (39, 1, "reserved"),
    ];
    for (at, value, says) in cases {
        let mut t = sealed.clone();
        t[at] = value;
        let e = decrypt(&t, &key).unwrap_err().to_string();
        assert!(e.contains(says), "byte {at}: {e}");
    }
    let mut t = sealed.clone();
    t[12..16].copy_from_slice(&7u32.to_le_bytes());
    assert!(
        decrypt(&t, &key)
            .unwrap_err()
            .to_string()
            .contains("chunk size 7")
    );
    assert!(
        decrypt(&sealed[..12], &key)
            .unwrap_err()
            .to_string()
            .contains("header")
    );
    assert!(encrypt(b"x", &key, 10).is_err());
}

#[test]
fn key_files_round_trip_privately_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    let key = DataKey::generate();
    key.save(&path).unwrap();
    assert_eq!(DataKey::load(&path).unwrap().id(), key.id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        !format!("{key:?}").contains(&hex::encode(&std::fs::read_to_string(&path).unwrap()[..8]))
    );
    std::fs::write(&path, "abc").unwrap();
    let e = DataKey::load(&path).unwrap_err().to_string();
    assert!(e.contains("64 hex digits") && !e.contains("abc"), "{e}");
    assert!(DataKey::load(&dir.path().join("missing")).is_err());
}

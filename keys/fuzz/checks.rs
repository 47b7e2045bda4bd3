//! What each fuzz target checks, one function per target. The fuzz targets (nightly,
//! cargo-fuzz) and the corpus replay (`tests/fuzz_corpus.rs`, stable, in every `cargo test`)
//! run the same function, so an input found once stays checked. Each returns whether its
//! parser accepted the input, which the replay requires of valid seeds.

use assay_keys::DataKey;
use assay_keys::holdout;
use assay_keys::protocol::{KeyRequest, KeyResponse};

/// A target: its name (the folder of its corpus) and its check.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target of this crate.
pub const TARGETS: &[Target] = &[
    ("holdout_container", holdout_container),
    ("key_release_messages", key_release_messages),
];

/// The key the corpus's holdout files are encrypted under: 32 bytes of 0x42 (a fuzzing key,
/// nothing secret).
pub fn fuzz_key() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

/// The holdout container: no panic, and a file that decrypts has a header naming the key it
/// decrypted under (so a file whose header does not parse never decrypts).
pub fn holdout_container(data: &[u8]) -> bool {
    let key = fuzz_key();
    if holdout::decrypt(data, &key).is_err() {
        return false;
    }
    let id = holdout::key_id(data).expect("a file that decrypts has a header");
    assert_eq!(id, key.id());
    true
}

/// The key service's request and its answer, as JSON from the network: no panic, and what
/// parses comes back equal through its own JSON.
pub fn key_release_messages(data: &[u8]) -> bool {
    let request = serde_json::from_slice::<KeyRequest>(data);
    if let Ok(request) = &request {
        let back: KeyRequest =
            serde_json::from_slice(&serde_json::to_vec(&request).expect("serialises"))
                .expect("its JSON parses");
        assert_eq!(&back, request);
    }
    let response = serde_json::from_slice::<KeyResponse>(data);
    if let Ok(response) = &response {
        let back: KeyResponse =
            serde_json::from_slice(&serde_json::to_vec(&response).expect("serialises"))
                .expect("its JSON parses");
        assert_eq!(&back, response);
    }
    request.is_ok() || response.is_ok()
}

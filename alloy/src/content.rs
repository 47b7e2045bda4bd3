//! The content hash of what a link's `output_hash` names: a file's SHA-256, or a directory's
//! Merkle root over its files (docs/alloy.md, "Content hashes"). Pure: the caller reads the
//! files and hashes each one (streaming), this module combines.

use sha2::{Digest as _, Sha256};

/// One file of a directory: its path relative to the directory (`/`-separated, UTF-8), its
/// size and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file.
    pub sha256: [u8; 32],
}

/// The leaf of one file: `SHA-256(0x00 ‖ u64be(len(path)) ‖ path ‖ u64be(size) ‖ sha256)`.
pub fn leaf(e: &Entry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update((e.path.len() as u64).to_be_bytes());
    h.update(e.path.as_bytes());
    h.update(e.size.to_be_bytes());
    h.update(e.sha256);
    h.finalize().into()
}

/// A directory's hash: the leaves sorted by path bytes, paired level by level with
/// `SHA-256(0x01 ‖ left ‖ right)`, an odd last node carried up as it is; `SHA-256(0x02)` for
/// a directory without files.
pub fn directory(entries: &[Entry]) -> [u8; 32] {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut level: Vec<[u8; 32]> = sorted.into_iter().map(leaf).collect();
    if level.is_empty() {
        return Sha256::digest([2u8]).into();
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => {
                    let mut h = Sha256::new();
                    h.update([1u8]);
                    h.update(l);
                    h.update(r);
                    h.finalize().into()
                }
                [one] => *one,
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, body: &[u8]) -> Entry {
        Entry {
            path: path.into(),
            size: body.len() as u64,
            sha256: Sha256::digest(body).into(),
        }
    }

    #[test]
    fn order_does_not_matter_names_and_bytes_do() {
        let a = [e("a.json", b"{}"), e("w/b.safetensors", b"xx"), e("c", b"")];
        let mut shuffled = a.clone();
        shuffled.reverse();
        assert_eq!(directory(&a), directory(&shuffled));
        let mut renamed = a.clone();
        renamed[0].path = "A.json".into();
        assert_ne!(directory(&a), directory(&renamed));
        let mut changed = a.clone();
        changed[1] = e("w/b.safetensors", b"xy");
        assert_ne!(directory(&a), directory(&changed));
        assert_ne!(
            directory(&a[..1]),
            a[0].sha256,
            "a one-file directory is not the file"
        );
        assert_eq!(
            hex::encode(directory(&[])),
            hex::encode(Sha256::digest([2u8]))
        );
    }
}

//! `data_root`: the Merkle root over the contribution set, exactly as the on-chain
//! ContributionRegistry commits it with OpenZeppelin's `StandardMerkleTree`.
//!
//! Leaf tuple, ABI types `["address", "bytes32"]`: `(contributor address, contribution hash)`.
//! Leaf hash `keccak256(keccak256(abi.encode(address, bytes32)))` (double hashing, as OpenZeppelin,
//! so that a leaf can never be mistaken for an inner node); inner nodes `keccak256` of the sorted
//! pair. Leaves are sorted by hash (stable), laid out at the end of a 2n−1 array, and each inner
//! node `i` hashes its children `2i+1` and `2i+2`; the root is node 0. Proofs are the siblings
//! from the leaf up, verifiable by OpenZeppelin's `MerkleProof.verify` on chain.

use sha3::{Digest, Keccak256};

use crate::Error;

/// A 20-byte Ethereum address.
pub type Address = [u8; 20];

/// One contribution as the registry commits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// The contributor's address.
    pub contributor: Address,
    /// The contribution's hash (bytes32).
    pub content: [u8; 32],
}

fn keccak(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// Parses `0x` + 40 hex digits (either case).
pub fn parse_address(s: &str) -> Result<Address, Error> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let mut out = [0u8; 20];
    hex::decode_to_slice(digits, &mut out).map_err(|_| Error::Address {
        value: s.to_owned(),
    })?;
    Ok(out)
}

impl Leaf {
    /// `keccak256(keccak256(abi.encode(address, bytes32)))`.
    pub fn hash(&self) -> [u8; 32] {
        let mut encoded = [0u8; 64];
        encoded[12..32].copy_from_slice(&self.contributor);
        encoded[32..].copy_from_slice(&self.content);
        keccak(&keccak(&encoded))
    }
}

/// `keccak256` of the two nodes in ascending order.
pub fn node_hash(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(lo);
    both[32..].copy_from_slice(hi);
    keccak(&both)
}

/// The tree over a contribution set.
#[derive(Clone, Debug)]
pub struct ContributionTree {
    tree: Vec<[u8; 32]>,
    /// Tree index of each leaf, in input order.
    positions: Vec<usize>,
}

impl ContributionTree {
    /// Builds the tree; `leaves` in the registry's order (proofs are asked for by that order).
    pub fn new(leaves: &[Leaf]) -> Result<Self, Error> {
        if leaves.is_empty() {
            return Err(Error::EmptyContributionSet);
        }
        let mut hashed: Vec<([u8; 32], usize)> = leaves.iter().map(|l| l.hash()).zip(0..).collect();
        // Stable sort by hash: equal leaves keep input order, as OpenZeppelin's.
        hashed.sort_by_key(|h| h.0);
        let n = hashed.len();
        let mut tree = vec![[0u8; 32]; 2 * n - 1];
        let mut positions = vec![0; n];
        for (i, (hash, input)) in hashed.iter().enumerate() {
            let at = tree.len() - 1 - i;
            tree[at] = *hash;
            positions[*input] = at;
        }
        for i in (0..tree.len() - n).rev() {
            tree[i] = node_hash(&tree[2 * i + 1], &tree[2 * i + 2]);
        }
        Ok(ContributionTree { tree, positions })
    }

    /// The root: `data_root`.
    pub fn root(&self) -> [u8; 32] {
        self.tree[0]
    }

    /// The proof of the `index`-th leaf (input order): siblings from the leaf up.
    pub fn proof(&self, index: usize) -> Option<Vec<[u8; 32]>> {
        let mut at = *self.positions.get(index)?;
        let mut proof = Vec::new();
        while at > 0 {
            let sibling = if at % 2 == 1 { at + 1 } else { at - 1 };
            proof.push(self.tree[sibling]);
            at = (at - 1) / 2;
        }
        Some(proof)
    }
}

/// Whether `proof` takes `leaf` to `root`.
pub fn verify(root: &[u8; 32], leaf: &Leaf, proof: &[[u8; 32]]) -> bool {
    proof.iter().fold(leaf.hash(), |acc, p| node_hash(&acc, p)) == *root
}

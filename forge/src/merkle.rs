//! `data_root`: the Merkle root over the contribution set, exactly as the on-chain
//! ContributionRegistry commits it with OpenZeppelin's `StandardMerkleTree`.
//!
//! Leaf tuple, ABI types `["address", "bytes32"]`: `(contributor address, contribution hash)`.
//! Leaf hash `keccak256(keccak256(abi.encode(address, bytes32)))` (double hashing, as OpenZeppelin,
//! so that a leaf can never be mistaken for an inner node); inner nodes `keccak256` of the sorted
//! pair. Leaves are sorted by hash (stable), laid out at the end of a 2n−1 array, and each inner
//! node `i` hashes its children `2i+1` and `2i+2`; the root is node 0. Proofs are the siblings
//! from the leaf up, verifiable by OpenZeppelin's `MerkleProof.verify` on chain.

use alloy_primitives::{Address, B256, keccak256};

use crate::Error;

/// One contribution as the registry commits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// The contributor's address.
    pub contributor: Address,
    /// The contribution's hash (bytes32).
    pub content: B256,
}

impl Leaf {
    /// `keccak256(keccak256(abi.encode(address, bytes32)))`.
    pub fn hash(&self) -> B256 {
        let mut encoded = [0u8; 64];
        encoded[12..32].copy_from_slice(self.contributor.as_slice());
        encoded[32..].copy_from_slice(self.content.as_slice());
        keccak256(keccak256(encoded))
    }
}

/// `keccak256` of the two nodes in ascending order.
pub fn node_hash(a: &B256, b: &B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(lo.as_slice());
    both[32..].copy_from_slice(hi.as_slice());
    keccak256(both)
}

/// The tree over a contribution set.
#[derive(Clone, Debug)]
pub struct ContributionTree {
    tree: Vec<B256>,
    /// Tree index of each leaf, in input order.
    positions: Vec<usize>,
}

impl ContributionTree {
    /// Builds the tree; `leaves` in the registry's order (proofs are asked for by that order).
    pub fn new(leaves: &[Leaf]) -> Result<Self, Error> {
        if leaves.is_empty() {
            return Err(Error::EmptyContributionSet);
        }
        let mut hashed: Vec<(B256, usize)> = leaves.iter().map(|l| l.hash()).zip(0..).collect();
        // Stable sort by hash: equal leaves keep input order, as OpenZeppelin's.
        hashed.sort_by_key(|h| h.0);
        let n = hashed.len();
        let mut tree = vec![B256::ZERO; 2 * n - 1];
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
    pub fn root(&self) -> B256 {
        self.tree[0]
    }

    /// The proof of the `index`-th leaf (input order): siblings from the leaf up.
    pub fn proof(&self, index: usize) -> Option<Vec<B256>> {
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
pub fn verify(root: &B256, leaf: &Leaf, proof: &[B256]) -> bool {
    proof.iter().fold(leaf.hash(), |acc, p| node_hash(&acc, p)) == *root
}

/// `data_root` of contributions given as (contributor, content hash) in registry order: the
/// OpenZeppelin StandardMerkleTree root the ContributionRegistry commits. `None` for an empty set.
pub fn data_root(contributions: impl IntoIterator<Item = (Address, B256)>) -> Option<B256> {
    let leaves: Vec<Leaf> = contributions
        .into_iter()
        .map(|(contributor, content)| Leaf {
            contributor,
            content,
        })
        .collect();
    ContributionTree::new(&leaves).ok().map(|t| t.root())
}

//! The SEV hashes table: SHA-256 of kernel, initrd and command line, laid out exactly as QEMU
//! writes it into the firmware's hashes page so that OVMF can check what it boots.

use aws_lc_rs::digest::{self, SHA256};

use crate::guid::Guid;

const TABLE_GUID: Guid = Guid::parse("9438d606-4f22-4cc9-b479-a793d411fd21");
const KERNEL_GUID: Guid = Guid::parse("4de79437-abd2-427f-b835-d5b172d2045b");
const INITRD_GUID: Guid = Guid::parse("44baf731-3a2f-4bd7-9af1-41e29169781d");
const CMDLINE_GUID: Guid = Guid::parse("97d02dd8-bd20-4c94-aa78-e7714d36ab2a");

/// Bytes of the table proper: GUID, u16 length, three entries of GUID, u16 length, SHA-256.
const TABLE_LEN: usize = 16 + 2 + 3 * ENTRY_LEN;
const ENTRY_LEN: usize = 16 + 2 + 32;
/// The table padded to a multiple of 16 bytes.
pub const PADDED_TABLE_LEN: usize = (TABLE_LEN + 15) & !15;

/// The three hashes of a direct kernel boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelHashes {
    /// SHA-256 of the kernel image.
    pub kernel: [u8; 32],
    /// SHA-256 of the initrd (of nothing when there is none).
    pub initrd: [u8; 32],
    /// SHA-256 of the command line and its NUL terminator (a lone NUL when empty).
    pub cmdline: [u8; 32],
}

fn sha256(data: &[u8]) -> [u8; 32] {
    digest::digest(&SHA256, data)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

impl KernelHashes {
    /// Hashes the three inputs. An empty `append` is the same as none.
    pub fn new(kernel: &[u8], initrd: Option<&[u8]>, append: Option<&str>) -> Self {
        KernelHashes::from_kernel_hash(sha256(kernel), initrd, append)
    }

    /// The same with the kernel's hash already computed (the kernel is the largest input, and
    /// hashing it can run beside the firmware's pages).
    pub fn from_kernel_hash(kernel: [u8; 32], initrd: Option<&[u8]>, append: Option<&str>) -> Self {
        KernelHashes::from_hashes(kernel, sha256(initrd.unwrap_or(&[])), append)
    }

    /// From the SHA-256s of kernel and initrd (of the empty string when there is none) and the
    /// command line.
    pub fn from_hashes(kernel: [u8; 32], initrd: [u8; 32], append: Option<&str>) -> Self {
        let mut cmdline = append.unwrap_or("").as_bytes().to_vec();
        cmdline.push(0);
        KernelHashes {
            kernel,
            initrd,
            cmdline: sha256(&cmdline),
        }
    }

    /// The padded table (176 bytes): header, then command line, initrd, kernel entries.
    pub fn table(&self) -> [u8; PADDED_TABLE_LEN] {
        let mut t = [0u8; PADDED_TABLE_LEN];
        t[..16].copy_from_slice(&TABLE_GUID.0);
        t[16..18].copy_from_slice(&(TABLE_LEN as u16).to_le_bytes());
        let entries = [
            (CMDLINE_GUID, &self.cmdline),
            (INITRD_GUID, &self.initrd),
            (KERNEL_GUID, &self.kernel),
        ];
        for (i, (guid, hash)) in entries.into_iter().enumerate() {
            let at = 18 + i * ENTRY_LEN;
            t[at..at + 16].copy_from_slice(&guid.0);
            t[at + 16..at + 18].copy_from_slice(&(ENTRY_LEN as u16).to_le_bytes());
            t[at + 18..at + ENTRY_LEN].copy_from_slice(hash);
        }
        t
    }

    /// A 4 KiB page holding the table at `offset` (the table GPA's offset within its page).
    pub fn page(&self, offset: usize) -> [u8; crate::gctx::PAGE] {
        let mut page = [0u8; crate::gctx::PAGE];
        page[offset..offset + PADDED_TABLE_LEN].copy_from_slice(&self.table());
        page
    }
}

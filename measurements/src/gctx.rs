//! The SNP launch digest: a SHA-384 chain over PAGE_INFO structures, one per page the firmware
//! adds to the guest (SNP ABI specification, SNP_LAUNCH_UPDATE, "PAGE_INFO structure").

use aws_lc_rs::digest::{self, SHA384};

use crate::Error;

/// Page size.
pub const PAGE: usize = 4096;
/// VMSA pages are recorded at GPA (u64)-1, page-aligned, with bits above 51 cleared.
const VMSA_GPA: u64 = 0xFFFF_FFFF_F000;

/// How a page enters the guest; the value is PAGE_INFO.PAGE_TYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageType {
    /// Contents measured.
    Normal = 1,
    /// A vCPU's initial register state.
    Vmsa = 2,
    /// Zero-filled.
    Zero = 3,
    /// Present but not measured.
    Unmeasured = 4,
    /// The secrets page.
    Secrets = 5,
    /// The CPUID page.
    Cpuid = 6,
}

/// The running launch digest (GCTX.LD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchDigest([u8; 48]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_pages_reuse_their_digest_and_only_equal_pages_do() {
        let mut h = PageHasher::default();
        let a = [0xFFu8; PAGE];
        let mut b = a;
        b[PAGE - 1] = 0xFE;
        let da = h.digest(&a);
        assert_eq!(h.digest(&a), da);
        let db = h.digest(&b);
        assert_ne!(db, da);
        assert_eq!(db, sha384(&b));
        assert_eq!(h.digest(&a), sha384(&a));
    }
}

impl Default for LaunchDigest {
    fn default() -> Self {
        LaunchDigest([0; 48])
    }
}

/// Computes the SHA-384 of pages' contents, as NORMAL pages' PAGE_INFO carry them. A page equal
/// byte for byte to the one before it reuses its digest: firmware images are mostly runs of
/// identical filler pages (843 of the 1024 pages of Debian's OVMF.amdsev.fd are 0xFF), and a
/// 4 KiB comparison costs a fraction of a SHA-384.
#[derive(Clone, Debug, Default)]
pub struct PageHasher {
    last: Option<(Box<[u8; PAGE]>, [u8; 48])>,
}

impl PageHasher {
    /// The digest of one 4 KiB page.
    pub fn digest(&mut self, page: &[u8; PAGE]) -> [u8; 48] {
        match &mut self.last {
            Some((bytes, digest)) if **bytes == *page => *digest,
            Some((bytes, digest)) => {
                **bytes = *page;
                *digest = sha384(page);
                *digest
            }
            None => {
                let digest = sha384(page);
                self.last = Some((Box::new(*page), digest));
                digest
            }
        }
    }
}

fn sha384(data: &[u8]) -> [u8; 48] {
    digest::digest(&SHA384, data)
        .as_ref()
        .try_into()
        .expect("SHA-384 is 48 bytes")
}

impl LaunchDigest {
    /// Starts from a given digest, e.g. a precomputed firmware hash (`--snp-ovmf-hash`).
    pub fn from_seed(seed: [u8; 48]) -> Self {
        LaunchDigest(seed)
    }

    /// The digest so far.
    pub fn bytes(&self) -> [u8; 48] {
        self.0
    }

    /// Adds one page: LD = SHA-384(PAGE_INFO{ LD, CONTENTS, LENGTH 0x70, TYPE, IMI 0, VMPL
    /// permissions 0, GPA }).
    pub fn update(&mut self, page_type: PageType, gpa: u64, contents: &[u8; 48]) {
        let mut info = [0u8; 0x70];
        info[..48].copy_from_slice(&self.0);
        info[48..96].copy_from_slice(contents);
        info[96..98].copy_from_slice(&0x70u16.to_le_bytes());
        info[98] = page_type as u8;
        info[104..112].copy_from_slice(&gpa.to_le_bytes());
        self.0 = sha384(&info);
    }

    /// Adds `data` as normal pages from `gpa` on, each measured by its SHA-384.
    pub fn update_normal_pages(&mut self, gpa: u64, data: &[u8]) -> Result<(), Error> {
        if data.len() % PAGE != 0 {
            return Err(Error::FirmwareNotPageAligned { size: data.len() });
        }
        let mut hasher = PageHasher::default();
        for (i, page) in data.chunks_exact(PAGE).enumerate() {
            let digest = hasher.digest(page.try_into().expect("a whole page"));
            self.update(PageType::Normal, gpa + (i * PAGE) as u64, &digest);
        }
        Ok(())
    }

    /// Adds `len` bytes of pages of a contents-free type (zero, unmeasured) from `gpa` on.
    pub fn update_empty_pages(&mut self, page_type: PageType, gpa: u64, len: u64) {
        for offset in (0..len).step_by(PAGE) {
            self.update(page_type, gpa + offset, &[0; 48]);
        }
    }

    /// Adds one VMSA page.
    pub fn update_vmsa(&mut self, page: &[u8; PAGE]) {
        self.update(PageType::Vmsa, VMSA_GPA, &sha384(page));
    }
}

//! OVMF firmware: the GUIDed footer table and the SEV metadata (`ASEV`) sections that say which
//! pages of guest memory the launch measures and how.

use crate::Error;
use crate::guid::Guid;

/// 4 GiB: a firmware image ends here in guest-physical memory.
pub const FOUR_GIB: u64 = 1 << 32;

const FOOTER_GUID: Guid = Guid::parse("96b582de-1fb2-45f7-baea-a366c55a082d");
const SEV_HASH_TABLE_RV_GUID: Guid = Guid::parse("7255371f-3a3b-4b04-927b-1da6efa8d454");
const SEV_ES_RESET_BLOCK_GUID: Guid = Guid::parse("00f771de-1a7e-4fcb-890e-68c77e2fb44e");
const SEV_METADATA_GUID: Guid = Guid::parse("dc886566-984a-4798-a75e-5585a7bf67cc");
const SVSM_INFO_GUID: Guid = Guid::parse("a789a612-0597-4c4b-a49f-cbb1fe9d1ddd");

/// Size of a footer-table entry header: u16 length, then the GUID.
const ENTRY_HEADER: usize = 18;
/// The table's last entry ends this many bytes before the end of the image.
const FOOTER_GAP: usize = 32;

/// What a metadata section holds, and so how the launch measures it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// Memory the firmware uses before it validates RAM: zero pages (unmeasured on GCE).
    SnpSecMem,
    /// The SNP secrets page.
    SnpSecrets,
    /// The CPUID page.
    Cpuid,
    /// The SVSM calling-area page: zero pages.
    SvsmCaa,
    /// The page holding the SEV hashes table of kernel, initrd and command line.
    SnpKernelHashes,
}

/// One section of the SEV metadata, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataSection {
    /// Guest-physical address.
    pub gpa: u32,
    /// Size in bytes.
    pub size: u32,
    /// What it holds.
    pub kind: SectionKind,
}

/// A parsed firmware image (OVMF, or an SVSM binary, which uses the same footer table).
#[derive(Clone, Debug)]
pub struct Firmware<'a> {
    data: &'a [u8],
    gpa: u64,
    table: Vec<(Guid, &'a [u8])>,
    sections: Vec<MetadataSection>,
}

fn u32_le(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))
}

fn footer_error(reason: impl Into<String>) -> Error {
    Error::FooterTable {
        reason: reason.into(),
    }
}

fn metadata_error(reason: impl Into<String>) -> Error {
    Error::Metadata {
        reason: reason.into(),
    }
}

impl<'a> Firmware<'a> {
    /// Parses an image that ends at guest-physical address `end_at` (4 GiB for OVMF).
    pub fn parse(data: &'a [u8], end_at: u64) -> Result<Self, Error> {
        let size = data.len();
        if size < FOOTER_GAP + ENTRY_HEADER {
            return Err(Error::FirmwareTooSmall { size });
        }
        let gpa = end_at
            .checked_sub(size as u64)
            .ok_or(Error::FirmwareTooSmall { size })?;
        let mut fw = Firmware {
            data,
            gpa,
            table: Vec::new(),
            sections: Vec::new(),
        };
        fw.parse_footer_table()?;
        fw.parse_metadata()?;
        Ok(fw)
    }

    /// Walks the footer table backwards from 32 bytes before the end. No footer GUID there means
    /// no table (not an error: such a firmware just has no SEV entries).
    fn parse_footer_table(&mut self) -> Result<(), Error> {
        let data = self.data;
        let footer_at = data.len() - FOOTER_GAP - ENTRY_HEADER;
        let footer = &data[footer_at..footer_at + ENTRY_HEADER];
        if footer[2..] != FOOTER_GUID.0 {
            return Ok(());
        }
        let total = usize::from(u16::from_le_bytes([footer[0], footer[1]]));
        let Some(table_size) = total.checked_sub(ENTRY_HEADER) else {
            return Ok(());
        };
        let start = footer_at.checked_sub(table_size).ok_or_else(|| {
            footer_error(format!(
                "table of {table_size} bytes runs past the start of the image"
            ))
        })?;
        let mut table = &data[start..footer_at];
        while table.len() >= ENTRY_HEADER {
            let header = &table[table.len() - ENTRY_HEADER..];
            let len = usize::from(u16::from_le_bytes([header[0], header[1]]));
            if len < ENTRY_HEADER {
                return Err(footer_error(format!("Invalid entry size {len}")));
            }
            if len > table.len() {
                return Err(footer_error(format!(
                    "entry of {len} bytes is larger than the {} bytes left in the table",
                    table.len()
                )));
            }
            let mut guid = [0u8; 16];
            guid.copy_from_slice(&header[2..]);
            let body = &table[table.len() - len..table.len() - ENTRY_HEADER];
            self.table.push((Guid(guid), body));
            table = &table[..table.len() - len];
        }
        Ok(())
    }

    fn parse_metadata(&mut self) -> Result<(), Error> {
        let Some(entry) = self.entry(SEV_METADATA_GUID) else {
            return Ok(());
        };
        let data = self.data;
        let offset = u32_le(entry)
            .ok_or_else(|| metadata_error("table entry shorter than 4 bytes"))?
            as usize;
        let start = data.len().checked_sub(offset).ok_or_else(|| {
            metadata_error(format!(
                "offset {offset:#x} from the end lies before the image"
            ))
        })?;
        let header = data
            .get(start..start + 16)
            .ok_or_else(|| metadata_error("header runs past the end of the image"))?;
        if &header[..4] != b"ASEV" {
            return Err(metadata_error("Wrong SEV metadata signature"));
        }
        let len = u32_le(&header[4..]).unwrap_or(0) as usize;
        let version = u32_le(&header[8..]).unwrap_or(0);
        let count = u32_le(&header[12..]).unwrap_or(0) as usize;
        if version != 1 {
            return Err(metadata_error(format!(
                "Wrong SEV metadata version {version}"
            )));
        }
        let items = data
            .get(start + 16..start.saturating_add(len).max(start + 16))
            .ok_or_else(|| metadata_error(format!("size {len} runs past the end of the image")))?;
        for i in 0..count {
            let item = items.get(i * 12..i * 12 + 12).ok_or_else(|| {
                metadata_error(format!("{count} sections do not fit in {len} bytes"))
            })?;
            let kind = match u32_le(&item[8..]).unwrap_or(0) {
                1 => SectionKind::SnpSecMem,
                2 => SectionKind::SnpSecrets,
                3 => SectionKind::Cpuid,
                4 => SectionKind::SvsmCaa,
                0x10 => SectionKind::SnpKernelHashes,
                other => {
                    return Err(metadata_error(format!(
                        "section {i} has unknown type {other:#x}"
                    )));
                }
            };
            self.sections.push(MetadataSection {
                gpa: u32_le(item).unwrap_or(0),
                size: u32_le(&item[4..]).unwrap_or(0),
                kind,
            });
        }
        Ok(())
    }

    /// The body of a footer-table entry. Where a GUID repeats, the entry nearest the start of the
    /// table wins, as in sev-snp-measure.
    pub fn entry(&self, guid: Guid) -> Option<&'a [u8]> {
        self.table
            .iter()
            .rev()
            .find(|(g, _)| *g == guid)
            .map(|(_, body)| *body)
    }

    /// Every footer-table entry, from the end of the table towards its start.
    pub fn entries(&self) -> impl Iterator<Item = (Guid, &'a [u8])> + '_ {
        self.table.iter().copied()
    }

    /// The image's bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Guest-physical address of the first byte.
    pub fn gpa(&self) -> u64 {
        self.gpa
    }

    /// The SEV metadata sections in file order.
    pub fn sections(&self) -> &[MetadataSection] {
        &self.sections
    }

    /// Whether a section of `kind` exists.
    pub fn has_section(&self, kind: SectionKind) -> bool {
        self.sections.iter().any(|s| s.kind == kind)
    }

    /// The AP reset vector from the SEV-ES reset block.
    pub fn sev_es_reset_eip(&self) -> Result<u32, Error> {
        self.entry(SEV_ES_RESET_BLOCK_GUID)
            .and_then(u32_le)
            .ok_or(Error::MissingTableEntry {
                name: "SEV_ES_RESET_BLOCK_GUID",
                guid: "00f771de-1a7e-4fcb-890e-68c77e2fb44e",
            })
    }

    /// Where the firmware expects the SEV hashes table.
    pub fn sev_hashes_table_gpa(&self) -> Result<u32, Error> {
        self.entry(SEV_HASH_TABLE_RV_GUID)
            .and_then(u32_le)
            .ok_or(Error::MissingTableEntry {
                name: "SEV_HASH_TABLE_RV_GUID",
                guid: "7255371f-3a3b-4b04-927b-1da6efa8d454",
            })
    }

    /// Whether the firmware can verify a kernel, initrd and command line (SEV, SEV-ES).
    pub fn hashes_table_supported(&self) -> bool {
        self.sev_hashes_table_gpa().is_ok_and(|gpa| gpa != 0)
    }

    /// An SVSM image's entry point: its SVSM_INFO offset plus its load address.
    pub fn svsm_entry(&self) -> Result<u64, Error> {
        self.entry(SVSM_INFO_GUID)
            .and_then(u32_le)
            .map(|off| u64::from(off) + self.gpa)
            .ok_or(Error::MissingTableEntry {
                name: "SVSM_INFO_GUID",
                guid: "a789a612-0597-4c4b-a49f-cbb1fe9d1ddd",
            })
    }
}

//! Synthetic firmware images: a footer table and SEV metadata laid out exactly as OVMF lays them
//! out, with any entries and sections a test wants, including malformed ones.
#![allow(dead_code)]

use assay_measurements::guid::Guid;

pub const FOOTER: &str = "96b582de-1fb2-45f7-baea-a366c55a082d";
pub const HASH_TABLE: &str = "7255371f-3a3b-4b04-927b-1da6efa8d454";
pub const RESET_BLOCK: &str = "00f771de-1a7e-4fcb-890e-68c77e2fb44e";
pub const METADATA: &str = "dc886566-984a-4798-a75e-5585a7bf67cc";
pub const SVSM_INFO: &str = "a789a612-0597-4c4b-a49f-cbb1fe9d1ddd";

/// A firmware image description.
#[derive(Clone, Debug, Default)]
pub struct Image {
    pub pages: usize,
    /// Footer-table entries, first = nearest the footer.
    pub entries: Vec<(&'static str, Vec<u8>)>,
    /// SEV metadata sections (gpa, size, type), placed at `metadata_at` from the image start.
    pub sections: Option<Vec<(u32, u32, u32)>>,
    pub metadata_at: usize,
    /// Fill byte for the rest of the image.
    pub fill: u8,
}

impl Image {
    pub fn build(&self) -> Vec<u8> {
        let size = self.pages * 4096;
        let mut img: Vec<u8> = (0..size)
            .map(|i| self.fill.wrapping_add((i / 4096) as u8))
            .collect();
        let mut entries = self.entries.clone();
        if let Some(sections) = &self.sections {
            let mut meta = b"ASEV".to_vec();
            meta.extend(((16 + 12 * sections.len()) as u32).to_le_bytes());
            meta.extend(1u32.to_le_bytes());
            meta.extend((sections.len() as u32).to_le_bytes());
            for (gpa, len, ty) in sections {
                meta.extend(gpa.to_le_bytes());
                meta.extend(len.to_le_bytes());
                meta.extend(ty.to_le_bytes());
            }
            img[self.metadata_at..self.metadata_at + meta.len()].copy_from_slice(&meta);
            entries.push((
                METADATA,
                ((size - self.metadata_at) as u32).to_le_bytes().to_vec(),
            ));
        }
        // Entries are walked backwards from the footer: write them in reverse order.
        let mut table = Vec::new();
        for (guid, data) in entries.iter().rev() {
            table.extend(data);
            table.extend(((data.len() + 18) as u16).to_le_bytes());
            table.extend(Guid::parse(guid).0);
        }
        table.extend(((table.len() + 18) as u16).to_le_bytes());
        table.extend(Guid::parse(FOOTER).0);
        let end = size - 32;
        img[end - table.len()..end].copy_from_slice(&table);
        img
    }
}

/// A deterministic xorshift generator, so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

//! The certificate table of an extended report (SNP_GET_EXT_REPORT, or configfs-tsm's `auxblob`):
//! entries of `GUID (16 bytes) ‖ offset (u32 LE) ‖ length (u32 LE)`, ended by an all-zero entry,
//! offsets counted from the table's first byte (GHCB specification 56421, "SNP Extended Guest
//! Request", and the Linux `sev-guest` ABI). Every offset and length is bounds-checked.

use crate::Error;

/// One entry's size: GUID, offset, length.
const ENTRY_LEN: usize = 24;

/// What a certificate in the table is, by its GUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateKind {
    /// The ARK (`c0b406a4-a803-4952-9743-3fb6014cd0ae`).
    Ark,
    /// The ASK (`4ab7b379-bbac-4fe4-a02f-05aef327c782`).
    Ask,
    /// The VCEK (`63da758d-e664-4564-adc5-f4b93be8accd`).
    Vcek,
    /// The VLEK (`a8074bc2-a25a-483e-aae6-39c045a0b8a1`).
    Vlek,
    /// A CRL (`92f81bc3-5811-4d3d-97ff-d19f88dc67ea`).
    Crl,
    /// Any other GUID (a host may add its own); kept, but not used by the verifier.
    Other([u8; 16]),
}

/// The GUIDs by their text form; on the wire the 16 bytes are in text order (RFC 4122 byte order,
/// as AMD's sev-tool, virtee/sev and go-sev-guest read them).
const KNOWN: [(CertificateKind, &str); 5] = [
    (CertificateKind::Ark, "c0b406a4-a803-4952-9743-3fb6014cd0ae"),
    (CertificateKind::Ask, "4ab7b379-bbac-4fe4-a02f-05aef327c782"),
    (
        CertificateKind::Vcek,
        "63da758d-e664-4564-adc5-f4b93be8accd",
    ),
    (
        CertificateKind::Vlek,
        "a8074bc2-a25a-483e-aae6-39c045a0b8a1",
    ),
    (CertificateKind::Crl, "92f81bc3-5811-4d3d-97ff-d19f88dc67ea"),
];

/// A GUID's 16 wire bytes from its text form.
fn guid_bytes(text: &str) -> [u8; 16] {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("constant GUID");
    }
    b
}

impl CertificateKind {
    /// The kind a GUID names.
    pub fn from_guid(guid: [u8; 16]) -> Self {
        KNOWN
            .iter()
            .find(|(_, text)| guid_bytes(text) == guid)
            .map(|(kind, _)| *kind)
            .unwrap_or(CertificateKind::Other(guid))
    }

    /// The GUID's 16 wire bytes.
    pub fn guid(self) -> [u8; 16] {
        match self {
            CertificateKind::Other(g) => g,
            known => guid_bytes(
                KNOWN
                    .iter()
                    .find(|(k, _)| *k == known)
                    .map(|(_, t)| *t)
                    .expect("every named kind has a GUID"),
            ),
        }
    }
}

/// One certificate of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableEntry {
    /// What it is.
    pub kind: CertificateKind,
    /// Its bytes (DER, as the host stored it).
    pub der: Vec<u8>,
}

/// Parses a certificate table. Trailing bytes after the certificates (the host's buffer is
/// page-sized) are ignored; an entry pointing outside the table, or a table without its all-zero
/// terminator, is an error naming the entry.
pub fn parse_cert_table(table: &[u8]) -> Result<Vec<TableEntry>, Error> {
    let mut entries = Vec::new();
    for index in 0.. {
        let at = index * ENTRY_LEN;
        let Some(raw) = table.get(at..at + ENTRY_LEN) else {
            return Err(Error::CertTable {
                index,
                problem: format!(
                    "table of {} bytes ends before its all-zero terminator",
                    table.len()
                ),
            });
        };
        if raw.iter().all(|b| *b == 0) {
            break;
        }
        let guid: [u8; 16] = raw[..16].try_into().expect("16 bytes");
        let offset = u32::from_le_bytes(raw[16..20].try_into().expect("4 bytes")) as usize;
        let length = u32::from_le_bytes(raw[20..24].try_into().expect("4 bytes")) as usize;
        let der = offset
            .checked_add(length)
            .and_then(|end| table.get(offset..end))
            .ok_or_else(|| Error::CertTable {
                index,
                problem: format!(
                    "certificate at offset {offset} with length {length} lies outside the {}-byte table",
                    table.len()
                ),
            })?;
        if length == 0 {
            return Err(Error::CertTable {
                index,
                problem: "certificate length is 0".into(),
            });
        }
        entries.push(TableEntry {
            kind: CertificateKind::from_guid(guid),
            der: der.to_vec(),
        });
    }
    Ok(entries)
}

/// Builds a certificate table (what a host stores for its guests; used by the simulated AMD-SP).
pub fn build_cert_table(entries: &[TableEntry]) -> Vec<u8> {
    let header = (entries.len() + 1) * ENTRY_LEN;
    let mut table = vec![0u8; header];
    let mut offset = header;
    for (i, e) in entries.iter().enumerate() {
        let at = i * ENTRY_LEN;
        table[at..at + 16].copy_from_slice(&e.kind.guid());
        table[at + 16..at + 20].copy_from_slice(&(offset as u32).to_le_bytes());
        table[at + 20..at + 24].copy_from_slice(&(e.der.len() as u32).to_le_bytes());
        offset += e.der.len();
    }
    for e in entries {
        table.extend_from_slice(&e.der);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_bytes_are_in_text_order() {
        assert_eq!(
            hex::encode(CertificateKind::Vcek.guid()),
            "63da758de6644564adc5f4b93be8accd"
        );
        assert_eq!(
            CertificateKind::from_guid(CertificateKind::Ask.guid()),
            CertificateKind::Ask
        );
    }

    #[test]
    fn round_trip_and_bounds() {
        let entries = vec![
            TableEntry {
                kind: CertificateKind::Vcek,
                der: vec![1, 2, 3],
            },
            TableEntry {
                kind: CertificateKind::Other([9; 16]),
                der: vec![4],
            },
        ];
        let mut table = build_cert_table(&entries);
        assert_eq!(parse_cert_table(&table).unwrap(), entries);
        table.extend_from_slice(&[0xAA; 100]);
        assert_eq!(parse_cert_table(&table).unwrap(), entries);

        // Length pointing past the end.
        let mut bad = build_cert_table(&entries);
        bad[20..24].copy_from_slice(&1000u32.to_le_bytes());
        let e = parse_cert_table(&bad).unwrap_err().to_string();
        assert!(e.contains("entry 0") && e.contains("outside"), "{e}");
        // Offset overflow.
        let mut bad = build_cert_table(&entries);
        bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        bad[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_cert_table(&bad).is_err());
        // Zero length.
        let mut bad = build_cert_table(&entries);
        bad[44..48].copy_from_slice(&0u32.to_le_bytes());
        assert!(
            parse_cert_table(&bad)
                .unwrap_err()
                .to_string()
                .contains("entry 1")
        );
        // No terminator.
        let mut unterminated = CertificateKind::Ask.guid().to_vec();
        unterminated.extend_from_slice(&0u32.to_le_bytes());
        unterminated.extend_from_slice(&24u32.to_le_bytes());
        let e = parse_cert_table(&unterminated).unwrap_err();
        assert!(e.to_string().contains("terminator"), "{e}");
        assert!(parse_cert_table(&[]).is_err());
    }
}

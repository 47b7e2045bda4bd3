//! The initramfs archive: cpio "newc" (the format the kernel unpacks, `Documentation/
//! driver-api/early-userspace/buffer-format.rst`), written so that the same files give the same
//! bytes: entries sorted by path, inode numbers in that order, every mtime 0, owner 0:0, no
//! device numbers, and each directory listed before what it holds.

use std::collections::BTreeMap;

use crate::Error;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File { data: Vec<u8>, executable: bool },
}

/// An archive being assembled.
#[derive(Clone, Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Kind>,
}

/// One entry as [`Archive::entries`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed<'a> {
    /// Its path, relative, `/`-separated.
    pub path: &'a str,
    /// Its mode bits (type and permissions).
    pub mode: u32,
    /// Its bytes (empty for a directory).
    pub data: &'a [u8],
}

fn check_path(path: &str) -> Result<(), Error> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.ends_with('/')
        || path.contains('\0')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(Error::Archive(format!(
            "{path:?} is not a relative path of plain names"
        )));
    }
    Ok(())
}

impl Archive {
    /// Adds a directory (and the directories above it).
    pub fn dir(&mut self, path: &str) -> Result<(), Error> {
        check_path(path)?;
        let mut at = String::new();
        for part in path.split('/') {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            match self.entries.get(&at) {
                Some(Kind::File { .. }) => {
                    return Err(Error::Archive(format!("{at} is a file, not a directory")));
                }
                Some(Kind::Dir) => {}
                None => {
                    self.entries.insert(at.clone(), Kind::Dir);
                }
            }
        }
        Ok(())
    }

    /// Adds a file (and the directories above it); `executable` gives it mode 0755, else 0644.
    pub fn file(&mut self, path: &str, data: Vec<u8>, executable: bool) -> Result<(), Error> {
        check_path(path)?;
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent)?;
        }
        if self.entries.contains_key(path) {
            return Err(Error::Archive(format!("{path} is in the archive twice")));
        }
        self.entries
            .insert(path.to_owned(), Kind::File { data, executable });
        Ok(())
    }

    /// The entries in archive order.
    pub fn entries(&self) -> impl Iterator<Item = Listed<'_>> {
        self.entries.iter().map(|(path, kind)| match kind {
            Kind::Dir => Listed {
                path,
                mode: 0o040_755,
                data: &[],
            },
            Kind::File { data, executable } => Listed {
                path,
                mode: if *executable { 0o100_755 } else { 0o100_644 },
                data,
            },
        })
    }

    /// The archive's bytes: each entry, then the trailer, the whole padded to 512 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, e) in self.entries().enumerate() {
            let nlink = if e.mode & 0o040_000 != 0 { 2 } else { 1 };
            header(&mut out, i as u32 + 1, e.mode, nlink, e.path, e.data);
        }
        header(&mut out, 0, 0, 1, "TRAILER!!!", &[]);
        out.resize(out.len().next_multiple_of(512), 0);
        out
    }
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// One newc entry: the 110-byte header, the name and its NUL (padded to 4), the data (padded
/// to 4).
fn header(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, name: &str, data: &[u8]) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime
        u32::try_from(data.len()).expect("an initramfs file is below 4 GiB"),
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entries of a newc archive, parsed back: (name, mode, data).
    fn parse(mut b: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let total = b.len();
        loop {
            assert_eq!(&b[..6], b"070701");
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            assert_eq!((field(2), field(3), field(5)), (0, 0, 0), "owner and mtime");
            let name = std::str::from_utf8(&b[110..110 + namesize - 1])
                .unwrap()
                .to_owned();
            let data_at = (110 + namesize).next_multiple_of(4);
            let data = b[data_at..data_at + size].to_vec();
            let next = (data_at + size).next_multiple_of(4);
            b = &b[next..];
            if name == "TRAILER!!!" {
                assert!(b.iter().all(|x| *x == 0));
                assert_eq!(total % 512, 0);
                return out;
            }
            out.push((name, mode, data));
        }
    }

    #[test]
    fn entries_come_out_sorted_with_their_directories_first_the_same_bytes_each_time() {
        let mut a = Archive::default();
        a.file("lib/modules/02-b.ko", b"bb".to_vec(), false)
            .unwrap();
        a.file("init", b"\x7fELF".to_vec(), true).unwrap();
        a.file("lib/modules/01-a.ko", b"a".to_vec(), false).unwrap();
        a.dir("dev").unwrap();
        let mut b = Archive::default();
        b.dir("dev").unwrap();
        b.file("lib/modules/01-a.ko", b"a".to_vec(), false).unwrap();
        b.file("init", b"\x7fELF".to_vec(), true).unwrap();
        b.file("lib/modules/02-b.ko", b"bb".to_vec(), false)
            .unwrap();
        assert_eq!(
            a.to_bytes(),
            b.to_bytes(),
            "insertion order does not matter"
        );
        let parsed = parse(&a.to_bytes());
        let names: Vec<&str> = parsed.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "dev",
                "init",
                "lib",
                "lib/modules",
                "lib/modules/01-a.ko",
                "lib/modules/02-b.ko"
            ]
        );
        assert_eq!(parsed[1], ("init".into(), 0o100_755, b"\x7fELF".to_vec()));
        assert_eq!(parsed[0].1, 0o040_755);
        assert_eq!(parsed[5].2, b"bb");
    }

    #[test]
    fn paths_that_would_escape_or_repeat_are_refused() {
        let mut a = Archive::default();
        for bad in ["", "/init", "a/../b", "a//b", "./x", "x/", "a\0b"] {
            let e = a.file(bad, vec![], false).unwrap_err();
            assert!(
                e.to_string().contains("not a relative path"),
                "{bad:?}: {e}"
            );
        }
        a.file("x", vec![], false).unwrap();
        assert!(
            a.file("x", vec![], false)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(
            a.file("x/y", vec![], false)
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
    }
}

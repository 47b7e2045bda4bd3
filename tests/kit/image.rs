//! Reading an image's initramfs back: what its `/init` is.

use std::io::Read;

/// The bytes of `init` in the gzip-compressed cpio (newc) archive `initrd`.
pub fn init_of(initrd: &[u8]) -> Vec<u8> {
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(initrd)
        .read_to_end(&mut cpio)
        .expect("the initrd is gzip");
    let mut at = 0;
    loop {
        let header = &cpio[at..at + 110];
        assert_eq!(&header[..6], b"070701", "a newc header at {at}");
        let field = |i: usize| {
            usize::from_str_radix(
                std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).unwrap(),
                16,
            )
            .unwrap()
        };
        let (size, namesize) = (field(6), field(11));
        let name = &cpio[at + 110..at + 110 + namesize - 1];
        let data = (at + 110 + namesize).next_multiple_of(4);
        if name == b"init" {
            return cpio[data..data + size].to_vec();
        }
        assert_ne!(name, b"TRAILER!!!", "no init in the initrd");
        at = (data + size).next_multiple_of(4);
    }
}

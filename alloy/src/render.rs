//! QR codes as images: SVG and PNG out, PNG in (the `render` feature).

use qrcode::{EcLevel, QrCode, Version};

use crate::error::Error;

/// The largest symbol a part may take (docs/alloy.md, "QR codes").
pub const MAX_VERSION: i16 = 25;

/// Modules of white around the symbol (ISO/IEC 18004's quiet zone).
const QUIET: usize = 4;

/// The symbol for a code's text: error correction M, the encoder's optimal segments (all
/// alphanumeric for `AL1:` + Base45), version at most 25.
pub fn symbol(text: &str) -> Result<QrCode, Error> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| {
        Error::Image(format!(
            "{} characters do not fit a QR code: {e}",
            text.len()
        ))
    })?;
    match code.version() {
        Version::Normal(v) if v <= MAX_VERSION => Ok(code),
        v => Err(Error::Image(format!(
            "{} characters need a QR code of {v:?}; a part stays at version {MAX_VERSION} or below",
            text.len()
        ))),
    }
}

/// The symbol as SVG, `scale` pixels a module.
pub fn svg(text: &str, scale: u32) -> Result<String, Error> {
    let code = symbol(text)?;
    let size = (code.width() + 2 * QUIET) as u32 * scale;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(size, size)
        .build())
}

/// The symbol as an 8-bit greyscale PNG, `scale` pixels a module.
pub fn png(text: &str, scale: usize) -> Result<Vec<u8>, Error> {
    let code = symbol(text)?;
    let modules = code.to_colors();
    let w = code.width();
    let side = (w + 2 * QUIET) * scale;
    let mut pixels = vec![0xffu8; side * side];
    for (i, c) in modules.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = (i % w + QUIET, i / w + QUIET);
            for y in my * scale..(my + 1) * scale {
                pixels[y * side + mx * scale..y * side + (mx + 1) * scale].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc
        .write_header()
        .map_err(|e| Error::Image(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| Error::Image(e.to_string()))?;
    writer.finish().map_err(|e| Error::Image(e.to_string()))?;
    Ok(out)
}

/// The largest image read (pixels), so a PNG claiming 100k × 100k fails before allocating.
const MAX_PIXELS: u64 = 64 << 20;

/// Every QR code's text found in a PNG image.
pub fn read_png(bytes: &[u8]) -> Result<Vec<String>, Error> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|e| Error::Image(format!("not a PNG image: {e}")))?;
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    if (w as u64) * (h as u64) > MAX_PIXELS {
        return Err(Error::Image(format!(
            "{w}×{h} pixels is more than the {MAX_PIXELS} read"
        )));
    }
    let mut buf = vec![
        0;
        reader
            .output_buffer_size()
            .ok_or_else(|| Error::Image("image too large".into()))?
    ];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| Error::Image(format!("PNG: {e}")))?;
    let channels = frame.color_type.samples();
    let luma = |x: usize, y: usize| -> u8 {
        let p = &buf[y * frame.line_size + x * channels..][..channels];
        match channels {
            1 | 2 => p[0],
            _ => ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8,
        }
    };
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, luma);
    let mut texts = Vec::new();
    for grid in img.detect_grids() {
        let (_, text) = grid
            .decode()
            .map_err(|e| Error::Image(format!("a QR code in the image does not decode: {e}")))?;
        texts.push(text);
    }
    if texts.is_empty() {
        return Err(Error::Image("no QR code found in the image".into()));
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::part::MAX_CODE_TEXT;

    #[test]
    fn max_code_text_is_exactly_what_version_25_m_holds() {
        let fits = format!("AL1:{}", "A".repeat(MAX_CODE_TEXT - 4));
        assert!(symbol(&fits).is_ok());
        assert_eq!(
            symbol(&fits).unwrap().version(),
            Version::Normal(MAX_VERSION)
        );
        assert!(symbol(&format!("{fits}A")).is_err());
    }

    #[test]
    fn a_rendered_code_reads_back_at_4_pixels_a_module() {
        let text = format!("AL1:{}", base45::encode(vec![0x5a; 900]));
        let image = png(&text, 4).unwrap();
        assert_eq!(read_png(&image).unwrap(), vec![text]);
        assert!(svg("AL1:BB8", 4).unwrap().starts_with("<?xml"));
        assert!(
            read_png(b"not a png")
                .unwrap_err()
                .to_string()
                .contains("not a PNG")
        );
    }
}

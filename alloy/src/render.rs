//! QR codes as images: SVG and PNG out, PNG and SVG in; and an SVG drawn as PNG (the `render`
//! feature).

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

/// The largest raster an SVG is drawn to (pixels; 4 bytes each, so 64 MiB): an SVG declaring
/// more is refused, whatever it holds, before anything is allocated.
pub const MAX_SVG_PIXELS: u64 = 16 << 20;

/// An SVG read for its codes is drawn at a whole zoom that makes its longer side at least this
/// many pixels (within [`MAX_SVG_PIXELS`]): an SVG is vector, so a code drawn at one unit a
/// module still gets several pixels a module.
const MIN_SVG_SIDE: u32 = 2048;

/// The most drawing an SVG may ask for, in pixels painted: a pixel of a path is 1, of a layer
/// (opacity, clip) [`LAYER`], of a mask [`MASK`], of a filter [`FILTER`] (the time each takes, a
/// path's pixel ~0.4 ns). A QR code paints its canvas about twice; this allows 128 canvases of
/// the largest, about a second: without it a 200 kB SVG of 5,000 page-sized rectangles takes
/// half a minute, one of masks or blurs far longer.
const MAX_SVG_WORK: f64 = 128.0 * MAX_SVG_PIXELS as f64;
const LAYER: f64 = 32.0;
const MASK: f64 = 128.0;
const FILTER: f64 = 1024.0;

pub use resvg::usvg::fontdb;
use resvg::{tiny_skia, usvg};

/// Every QR code's text found in a greyscale image, `luma(x, y)` its pixels (0 black).
///
/// rqrr pairs the finder patterns of neighbouring codes into codes that are not there when an
/// image holds many (a dozen in rows and columns, as the model card of a long chain): those do
/// not decode, and take the real codes' patterns with them. So when a grid does not decode,
/// the image is read again in overlapping windows of a few codes each, the codes read so far
/// painted out, and the texts of every pass are taken. A grid that decodes in no pass is no
/// code; only an image where nothing decodes is refused.
fn read_greyscale(
    w: usize,
    h: usize,
    luma: impl Fn(usize, usize) -> u8,
) -> Result<Vec<String>, Error> {
    let mut read = Read::default();
    let whole = read.window(0, 0, w, h, &luma);
    if whole.is_none_or(|w| w.failed) {
        // Windows three codes wide, overlapping by half (so a code lies whole in one): a
        // code's size is the largest that decoded (a grid that does not decode may span
        // several codes), else the smallest grid found.
        let side = whole
            .and_then(|w| w.largest_read.or(w.smallest))
            .map_or(512, |s| (3 * s).max(512));
        if side < w.max(h) {
            let starts = |len: usize| {
                let mut at = vec![0];
                while at[at.len() - 1] + side < len {
                    at.push((at[at.len() - 1] + side / 2).min(len - side));
                }
                at
            };
            for y0 in starts(h) {
                for x0 in starts(w) {
                    // Again while a grid does not decode and the last pass read a code.
                    let (ww, wh) = (side.min(w - x0), side.min(h - y0));
                    for _ in 0..4 {
                        let before = read.texts.len();
                        match read.window(x0, y0, ww, wh, &luma) {
                            Some(p) if p.failed && read.texts.len() > before => {}
                            _ => break,
                        }
                    }
                }
            }
        }
    }
    if read.texts.is_empty() {
        return Err(Error::Image(match read.error {
            Some(e) => format!("a QR code in the image does not decode: {e}"),
            None => format!("no QR code found in the image ({w}×{h} pixels)"),
        }));
    }
    Ok(read.texts)
}

/// What the passes over an image read.
#[derive(Default)]
struct Read {
    texts: Vec<String>,
    /// Where each code read lies (x0, y0, x1, y1, the whole image's pixels).
    read: Vec<(usize, usize, usize, usize)>,
    /// Why a grid did not decode, the first time one did not.
    error: Option<rqrr::DeQRError>,
}

/// What one window gave.
#[derive(Clone, Copy)]
struct Pass {
    failed: bool,
    largest_read: Option<usize>,
    smallest: Option<usize>,
}

impl Read {
    /// Reads the window at (x0, y0), `w`×`h`, the codes read before painted white. None when
    /// rqrr panics (it asserts on some degenerate shapes: this image's trouble, not the
    /// caller's).
    fn window(
        &mut self,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        luma: &impl Fn(usize, usize) -> u8,
    ) -> Option<Pass> {
        let mut pixels: Vec<u8> = (y0..y0 + h)
            .flat_map(|y| (x0..x0 + w).map(move |x| (x, y)))
            .map(|(x, y)| luma(x, y))
            .collect();
        for &(ax, ay, bx, by) in &self.read {
            let (ax, ay) = (ax.max(x0), ay.max(y0));
            let (bx, by) = (bx.min(x0 + w), by.min(y0 + h));
            for y in ay..by.max(ay) {
                pixels[(y - y0) * w + ax - x0..(y - y0) * w + bx.max(ax) - x0].fill(0xff);
            }
        }
        let grids = std::panic::catch_unwind(|| {
            let mut img =
                rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
            img.detect_grids()
                .iter()
                .map(|grid| (grid.decode().map(|(_, text)| text), grid.bounds))
                .collect::<Vec<_>>()
        })
        .ok()?;
        let mut pass = Pass {
            failed: false,
            largest_read: None,
            smallest: None,
        };
        for (text, bounds) in grids {
            let xs = bounds.map(|p| (p.x.max(0) as usize + x0).min(x0 + w));
            let ys = bounds.map(|p| (p.y.max(0) as usize + y0).min(y0 + h));
            let (ax, bx) = (*xs.iter().min()?, *xs.iter().max()?);
            let (ay, by) = (*ys.iter().min()?, *ys.iter().max()?);
            let size = (bx - ax).max(by - ay);
            pass.smallest = Some(pass.smallest.map_or(size, |s| s.min(size)));
            match text {
                Ok(t) => {
                    pass.largest_read = Some(pass.largest_read.map_or(size, |s| s.max(size)));
                    self.read.push((ax, ay, bx, by));
                    if !self.texts.contains(&t) {
                        self.texts.push(t);
                    }
                }
                Err(e) => {
                    pass.failed = true;
                    self.error.get_or_insert(e);
                }
            }
        }
        Some(pass)
    }
}

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
    read_greyscale(w, h, |x, y| {
        let p = &buf[y * frame.line_size + x * channels..][..channels];
        match channels {
            1 | 2 => p[0],
            _ => luma(p[0], p[1], p[2]),
        }
    })
}

fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 299 + g as u32 * 587 + b as u32 * 114) / 1000) as u8
}

/// Whether `bytes` look like an SVG image: after an optional UTF-8 byte order mark and white
/// space, `<svg`, `<?xml`, `<!DOCTYPE svg` or a comment (`<!--`). A guess that decides how a
/// file is read; [`read_svg`] then says whether it is one.
pub fn is_svg(bytes: &[u8]) -> bool {
    let rest = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let rest = &rest[rest
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(rest.len())..];
    let starts = |p: &[u8]| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p);
    starts(b"<svg") || starts(b"<?xml") || starts(b"<!doctype svg") || starts(b"<!--")
}

/// Options that read an SVG and nothing else: an `<image>` naming a file is not loaded (this
/// crate reads no file; an SVG names what it likes), one inline as a `data:` URL is.
fn svg_options<'a>() -> usvg::Options<'a> {
    let mut opt = usvg::Options::default();
    opt.image_href_resolver.resolve_string = Box::new(|_, _| None);
    opt
}

/// The SVG parsed, the whole zoom its raster is drawn at and the raster's size: 1, more while
/// below `zoom` or while the longer side is below `min_side`, as long as the raster stays
/// within [`MAX_SVG_PIXELS`] and the drawing within [`MAX_SVG_WORK`] (refused when zoom 1 does
/// not).
fn parse_svg(
    svg: &[u8],
    opt: &usvg::Options<'_>,
    zoom: u32,
    min_side: u32,
) -> Result<(usvg::Tree, u32, u32, u32), Error> {
    if svg.starts_with(&[0x1f, 0x8b]) {
        return Err(Error::Image(
            "a compressed SVG (.svgz) is not read: give it uncompressed".into(),
        ));
    }
    let tree = usvg::Tree::from_data(svg, opt)
        .map_err(|e| Error::Image(format!("not a readable SVG image: {e}")))?;
    let size = tree.size();
    let (w, h) = (size.width() as f64, size.height() as f64);
    let pixels = |z: u32| (w * z as f64).ceil() * (h * z as f64).ceil();
    if pixels(1) > MAX_SVG_PIXELS as f64 {
        return Err(Error::Image(format!(
            "the SVG declares {w}×{h} pixels, more than the {MAX_SVG_PIXELS} (4096×4096) an \
             SVG is drawn to"
        )));
    }
    // Every area drawn grows with the zoom squared.
    let mut work1 = 0.0;
    add_work(tree.root(), w * h, &mut work1);
    let work = |z: u32| work1 * (z as f64).powi(2);
    if work(1) > MAX_SVG_WORK {
        return Err(Error::Image(format!(
            "drawing the SVG would paint about {:.0} pixels (a layer's, mask's or filter's \
             weighing more), more than the {MAX_SVG_WORK} an SVG may",
            work(1)
        )));
    }
    let mut z = 1;
    while (z < zoom || w.max(h) * (z as f64) < min_side as f64)
        && pixels(z + 1) <= MAX_SVG_PIXELS as f64
        && work(z + 1) <= MAX_SVG_WORK
    {
        z += 1;
    }
    let (pw, ph) = ((w * z as f64).ceil() as u32, (h * z as f64).ceil() as u32);
    Ok((tree, z, pw, ph))
}

/// Adds to `work` the pixels drawing `group` paints on a canvas of `canvas` pixels (zoom 1; an
/// upper bound for each thing drawn), with weights for the costly.
fn add_work(group: &usvg::Group, canvas: f64, work: &mut f64) {
    let area = |r: usvg::Rect| (r.width() as f64 * r.height() as f64).min(canvas);
    if group.should_isolate() {
        let layer = area(group.abs_layer_bounding_box().to_rect());
        *work += layer
            * (LAYER
                + if group.mask().is_some() { MASK } else { 0.0 }
                + FILTER * group.filters().len() as f64);
    }
    // Clip paths and masks are drawn too (a filter's images weigh in its weight).
    let clip = group.clip_path();
    let mask = group.mask();
    for clip in [clip, clip.and_then(|c| c.clip_path())]
        .into_iter()
        .flatten()
    {
        add_work(clip.root(), canvas, work);
    }
    for mask in [mask, mask.and_then(|m| m.mask())].into_iter().flatten() {
        add_work(mask.root(), canvas, work);
    }
    for node in group.children() {
        match node {
            usvg::Node::Group(g) => add_work(g, canvas, work),
            usvg::Node::Path(p) => *work += area(p.abs_stroke_bounding_box()),
            // Drawn on a layer the canvas's size.
            usvg::Node::Image(_) => *work += LAYER * canvas,
            usvg::Node::Text(_) => {}
        }
        if !matches!(node, usvg::Node::Group(_)) {
            // A path's patterns, an image's SVG, a text's glyphs.
            node.subroots(|g| add_work(g, canvas, work));
        }
    }
}

/// The tree drawn on white at `zoom`, `w`×`h` pixels.
fn draw(tree: &usvg::Tree, zoom: u32, w: u32, h: u32) -> Result<tiny_skia::Pixmap, Error> {
    let mut pixmap = tiny_skia::Pixmap::new(w, h)
        .ok_or_else(|| Error::Image(format!("the SVG draws to {w}×{h} pixels: nothing to draw")))?;
    // A code drawn on nothing (transparent) is drawn on white, as it is seen.
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        tree,
        tiny_skia::Transform::from_scale(zoom as f32, zoom as f32),
        &mut pixmap.as_mut(),
    );
    Ok(pixmap)
}

/// Every QR code's text found in an SVG image. The SVG is drawn (resvg) at a size that gives
/// its codes several pixels a module, without its text (no font is loaded) and without
/// images it names by file; one declaring more than [`MAX_SVG_PIXELS`] is refused.
pub fn read_svg(bytes: &[u8]) -> Result<Vec<String>, Error> {
    let (tree, zoom, w, h) = parse_svg(bytes, &svg_options(), 1, MIN_SVG_SIDE)?;
    let pixmap = draw(&tree, zoom, w, h)?;
    let data = pixmap.data();
    // Drawn on opaque white, so every pixel is opaque: premultiplied RGBA is plain RGBA.
    read_greyscale(w as usize, h as usize, |x, y| {
        let p = &data[(y * w as usize + x) * 4..][..3];
        luma(p[0], p[1], p[2])
    })
}

/// Families tried, in order, for a generic family the fonts have no face of.
const SANS: &[&str] = &[
    "DejaVu Sans",
    "Liberation Sans",
    "Noto Sans",
    "Arial",
    "Helvetica",
];
const MONO: &[&str] = &[
    "DejaVu Sans Mono",
    "Liberation Mono",
    "Noto Sans Mono",
    "Courier New",
];
const SERIF: &[&str] = &[
    "DejaVu Serif",
    "Liberation Serif",
    "Noto Serif",
    "Times New Roman",
];

/// The fonts with each generic family (`sans-serif`, `monospace`, `serif`) named after a face
/// they have: fontconfig's preference may name a font that is not installed.
fn with_generic_families(mut fonts: fontdb::Database) -> Result<fontdb::Database, Error> {
    if fonts.is_empty() {
        return Err(Error::Image("no font to draw the text with".into()));
    }
    let has = |fonts: &fontdb::Database, name: &str| {
        fonts
            .faces()
            .any(|f| f.families.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)))
    };
    let any = fonts
        .faces()
        .find_map(|f| f.families.first().map(|(n, _)| n.clone()))
        .ok_or_else(|| {
            Error::Image("no font to draw the text with: no face has a family name".into())
        })?;
    for (generic, tried) in [
        (fontdb::Family::SansSerif, SANS),
        (fontdb::Family::Monospace, MONO),
        (fontdb::Family::Serif, SERIF),
    ] {
        if has(&fonts, fonts.family_name(&generic)) {
            continue;
        }
        let name = tried
            .iter()
            .find(|n| has(&fonts, n))
            .map_or(any.clone(), |n| (*n).to_owned());
        match generic {
            fontdb::Family::SansSerif => fonts.set_sans_serif_family(name),
            fontdb::Family::Monospace => fonts.set_monospace_family(name),
            _ => fonts.set_serif_family(name),
        }
    }
    Ok(fonts)
}

/// An SVG drawn as a PNG (RGBA), `zoom` pixels a unit or fewer (down to 1) to stay within
/// [`MAX_SVG_PIXELS`], its text in `fonts` (e.g. the system's:
/// `fontdb::Database::load_system_fonts`, the caller's I/O). Refused when there is no font, when
/// a text finds no face, and when even one pixel a unit is too many. Images the SVG names by
/// file are not loaded.
pub fn svg_to_png(svg: &str, zoom: u32, fonts: fontdb::Database) -> Result<Vec<u8>, Error> {
    let missed = std::sync::Mutex::new(Vec::<String>::new());
    let select = usvg::FontResolver::default_font_selector();
    let mut opt = svg_options();
    opt.fontdb = std::sync::Arc::new(with_generic_families(fonts)?);
    opt.font_resolver.select_font = Box::new(|font, db| {
        let id = select(font, db);
        if id.is_none() {
            let families = font
                .families()
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>();
            missed
                .lock()
                .expect("not poisoned")
                .push(families.join(", "));
        }
        id
    });
    let (tree, zoom, w, h) = parse_svg(svg.as_bytes(), &opt, zoom, 0)?;
    drop(opt);
    if let Some(families) = missed.into_inner().expect("not poisoned").first() {
        return Err(Error::Image(format!(
            "no font for a text of families {families}: it would not be drawn"
        )));
    }
    draw(&tree, zoom, w, h)?
        .encode_png()
        .map_err(|e| Error::Image(format!("PNG: {e}")))
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

    /// A code's modules as `<rect>`s, as another generator might write them: no `<?xml`, no
    /// background (transparent), a viewBox of one unit a module, drawn `size` wide.
    fn rects_svg(text: &str, size: &str) -> String {
        let code = symbol(text).unwrap();
        let w = code.width();
        let side = w + 2 * QUIET;
        let mut svg = format!(
            "\u{feff}\n  <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size}\" height=\"{size}\" viewBox=\"0 0 {side} {side}\">\n"
        );
        for (i, c) in code.to_colors().iter().enumerate() {
            if *c == qrcode::Color::Dark {
                svg += &format!(
                    "<rect x=\"{}\" y=\"{}\" width=\"1\" height=\"1\"/>",
                    i % w + QUIET,
                    i / w + QUIET
                );
            }
        }
        svg + "</svg>"
    }

    #[test]
    fn an_svg_code_reads_back_whoever_drew_it() {
        let text = format!("AL1:{}", base45::encode(vec![0xa5; 900]));
        for scale in [1, 4] {
            let svg = svg(&text, scale).unwrap();
            assert!(is_svg(svg.as_bytes()));
            assert_eq!(read_svg(svg.as_bytes()).unwrap(), vec![text.clone()]);
        }
        // Another generator: rects on nothing, in millimetres, after a BOM and white space.
        for size in ["30mm", "125"] {
            let other = rects_svg(&text, size);
            assert!(is_svg(other.as_bytes()));
            assert_eq!(read_svg(other.as_bytes()).unwrap(), vec![text.clone()]);
        }
        // Two codes side by side in one SVG, both read.
        let two = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"200\"><rect width=\"400\" height=\"200\" fill=\"#fff\"/>{}{}</svg>",
            placed(&svg("AL1:BB8", 4).unwrap(), 0),
            placed(&svg("AL1:0EC", 4).unwrap(), 200),
        );
        let mut texts = read_svg(two.as_bytes()).unwrap();
        texts.sort();
        assert_eq!(texts, ["AL1:0EC", "AL1:BB8"]);
    }

    /// An SVG document placed at (x, 0), as the model card places its codes.
    fn placed(svg: &str, x: u32) -> String {
        let body = &svg[svg.find("<svg").unwrap()..];
        body.replacen("<svg", &format!("<svg x=\"{x}\" y=\"0\""), 1)
    }

    #[test]
    fn what_is_not_an_svg_or_too_large_is_refused() {
        for not in [
            &b"\x89PNG\r\n\x1a\n"[..],
            b"AL1:BB8",
            b"",
            b"  \n",
            b"\xa1\x01",
        ] {
            assert!(!is_svg(not), "{not:?}");
        }
        for yes in [
            &b"<?xml version=\"1.0\"?>"[..],
            b"\n<SVG",
            b"<!-- x -->",
            b"<!DOCTYPE svg>",
        ] {
            assert!(is_svg(yes), "{yes:?}");
        }
        let err = |bytes: &[u8]| read_svg(bytes).unwrap_err().to_string();
        let broken = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect";
        assert!(
            err(broken.as_bytes()).contains("not a readable SVG image"),
            "{}",
            err(broken.as_bytes())
        );
        assert!(err(b"<?xml version=\"1.0\"?><html/>").contains("not a readable SVG image"));
        assert!(err(b"<svg>\xff</svg>").contains("not a readable SVG image"));
        assert!(err(b"\x1f\x8b\x08\x00").contains("compressed SVG"));
        let huge = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100000\" height=\"100000\"/>";
        let e = err(huge.as_bytes());
        assert!(
            e.contains("100000×100000") && e.contains(&MAX_SVG_PIXELS.to_string()),
            "{e}"
        );
        // Small, but slow to draw: page-sized rectangles by the thousand, a blur.
        let page = "<rect width=\"4000\" height=\"4000\" fill=\"#fff\"/>";
        let slow = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4000\" height=\"4000\">{}</svg>",
            page.repeat(5000)
        );
        let e = err(slow.as_bytes());
        assert!(e.contains("would paint about 80000000000 pixels"), "{e}");
        let blur = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4000\" height=\"4000\"><filter id=\"f\"><feGaussianBlur stdDeviation=\"500\"/></filter><rect width=\"4000\" height=\"4000\" filter=\"url(#f)\"/></svg>";
        assert!(err(blur.as_bytes()).contains("would paint about"));
        // A billion laughs, a deep nest: refused by the parser's own bounds.
        let mut laughs = "<?xml version=\"1.0\"?><!DOCTYPE svg [<!ENTITY a0 \"lol\">".to_owned();
        for i in 1..10 {
            laughs += &format!("<!ENTITY a{i} \"{}\">", format!("&a{};", i - 1).repeat(10));
        }
        laughs += "]><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"9\" height=\"9\"><text>&a9;</text></svg>";
        assert!(err(laughs.as_bytes()).contains("not a readable SVG image"));
        let deep = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"9\" height=\"9\">{}{}</svg>",
            "<g>".repeat(200_000),
            "</g>".repeat(200_000)
        );
        assert!(err(deep.as_bytes()).contains("not a readable SVG image"));
        let blank = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>";
        assert!(err(blank.as_bytes()).contains("no QR code found"));
        // A file an <image> names is not read (nothing is there to draw, so no code).
        let named = "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"10\" height=\"10\"><image width=\"10\" height=\"10\" xlink:href=\"code.png\"/></svg>";
        assert!(err(named.as_bytes()).contains("no QR code found"));
    }

    fn system_fonts() -> fontdb::Database {
        let mut fonts = fontdb::Database::new();
        fonts.load_system_fonts();
        assert!(
            !fonts.is_empty(),
            "these tests draw text: install a font (Debian: fonts-dejavu-core)"
        );
        fonts
    }

    /// A greyscale copy of an RGBA PNG, and its width.
    fn grey(png_bytes: &[u8]) -> (Vec<u8>, usize) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        assert_eq!(frame.color_type, png::ColorType::Rgba);
        let g = buf[..frame.buffer_size()]
            .chunks(4)
            .map(|p| luma(p[0], p[1], p[2]))
            .collect();
        (g, frame.width as usize)
    }

    #[test]
    fn an_svg_with_text_and_codes_is_drawn_as_png_its_text_and_codes_there() {
        let text = format!("AL1:{}", base45::encode(vec![0x3c; 600]));
        let card = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"500\" height=\"500\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><text x=\"10\" y=\"40\" font-family=\"sans-serif\" font-size=\"26\" font-weight=\"bold\">A title</text><text x=\"10\" y=\"70\" font-family=\"monospace\" font-size=\"12\">sha256 00ff</text>{}</svg>",
            placed(&svg(&text, 3).unwrap(), 0).replacen("y=\"0\"", "y=\"100\"", 1)
        );
        let png = svg_to_png(&card, 2, system_fonts()).unwrap();
        assert_eq!(read_png(&png).unwrap(), vec![text]);
        let (g, w) = grey(&png);
        assert_eq!((w, g.len() / w), (1000, 1000));
        let dark = |x0: usize, y0: usize, x1: usize, y1: usize| {
            (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| g[y * w + x] < 128)
                .count()
        };
        // The title (y 40 at zoom 2: pixels 20 to 90) and the monospace line are drawn.
        assert!(
            dark(0, 20, 400, 90) > 500,
            "title: {}",
            dark(0, 20, 400, 90)
        );
        assert!(
            dark(0, 115, 400, 145) > 100,
            "line: {}",
            dark(0, 115, 400, 145)
        );
        // Between them, nothing.
        assert_eq!(dark(0, 95, 1000, 110), 0);

        // No font: refused rather than drawn without its words.
        let e = svg_to_png(&card, 2, fontdb::Database::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no font"), "{e}");
        // A family no font has falls back on the generic ones, which name faces there are.
        let named = card.replace("sans-serif", "No Such Family");
        assert!(svg_to_png(&named, 1, system_fonts()).is_ok());
        // Zoomed only as far as the bound allows: 4096 / 500 is 8.
        let (_, w) = grey(&svg_to_png(&card, 20, system_fonts()).unwrap());
        assert_eq!(w, 4000);
    }

    #[test]
    fn many_codes_in_rows_and_columns_all_read() {
        // As a long chain's model card lays them out: three columns 460 pixels apart, rows 490,
        // three pixels a module. rqrr alone pairs neighbouring codes' finder patterns here.
        let texts: Vec<String> = (0..15u8)
            .map(|i| format!("AL1:{}", base45::encode(vec![i; 950])))
            .collect();
        let mut body = String::new();
        for (i, text) in texts.iter().enumerate() {
            let (x, y) = (24 + 460 * (i % 3), 24 + 490 * (i / 3));
            body += &placed(&svg(text, 3).unwrap(), x as u32).replacen(
                "y=\"0\"",
                &format!("y=\"{y}\""),
                1,
            );
        }
        let page = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1428\" height=\"2498\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>{body}</svg>"
        );
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(
            sorted(read_svg(page.as_bytes()).unwrap()),
            sorted(texts.clone())
        );
        let png = svg_to_png(&page, 1, system_fonts()).unwrap();
        assert_eq!(sorted(read_png(&png).unwrap()), sorted(texts));
    }
}

//! How wide a label is: laid out with the embedded DejaVu Sans, the font the PNGs use, so the
//! layout that keeps text off the plotting area holds in every rendering.

use std::sync::{Arc, OnceLock};

/// The font figures name (the PNGs and the measurements use the embedded DejaVu Sans).
pub(super) const FONT: &str = "DejaVu Sans, Verdana, sans-serif";

use super::text::{num, rich};

use resvg::usvg;

pub(super) fn options() -> &'static usvg::Options<'static> {
    static OPTIONS: OnceLock<usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(dejavu::sans::regular().to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        usvg::Options { fontdb: Arc::new(db), font_family: "DejaVu Sans".into(), ..Default::default() }
    })
}

/// Width and height of one label as DejaVu Sans lays it out.
pub(super) fn measure(markup: &str, size: f64) -> (f64, f64) {
    let doc = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"2000\" height=\"200\" font-family=\"{FONT}\">\
         <text x=\"0\" y=\"100\" font-size=\"{}\">{}</text></svg>",
        num(size),
        rich(markup, size)
    );
    match usvg::Tree::from_str(&doc, options()) {
        Ok(tree) if tree.root().has_children() => {
            let b = tree.root().abs_bounding_box();
            (b.width() as f64, b.height() as f64)
        }
        // An empty or blank label takes no room.
        _ => (0.0, 0.0),
    }
}

/// An axis-aligned box in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl TextBox {
    pub fn overlaps(&self, o: &TextBox, gap: f64) -> bool {
        self.x0 < o.x1 + gap && o.x0 < self.x1 + gap && self.y0 < o.y1 + gap && o.y0 < self.y1 + gap
    }
}

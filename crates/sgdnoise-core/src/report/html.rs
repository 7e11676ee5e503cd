//! The report as one self-contained HTML page: nothing fetched, figures inline as SVG with a
//! tooltip per point, each claim and figure with its `sgdnoise why` command.

use super::claims::{Report, VERDICTS};
use super::figure::{escape, plain};
use super::markdown::INTERVALS;

impl Report {
    /// One self-contained page: nothing is fetched, the figures are inline SVG (hover a point for
    /// its runs), and each claim and figure names its `sgdnoise why` command.
    pub fn html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.push_str(&format!("<title>{}</title><style>{STYLE}</style></head><body>\n", escape(&self.title)));
        h.push_str(&format!("<h1>{}</h1>\n<h2>Claims</h2>\n<table><thead><tr><th>claim</th><th>quantity</th><th>expected (source)</th><th>measured [interval]</th><th>window</th><th>runs</th><th>verdict</th><th>audit</th></tr></thead><tbody>\n", escape(&self.title)));
        for c in &self.claims {
            let section = self.sections.iter().position(|s| s.id == c.id).unwrap_or(0);
            h.push_str(&format!(
                "<tr><td><a href=\"#claim-{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\"><b>{}</b>: {}</td><td><code class=\"why\">sgdnoise why {}</code></td></tr>\n",
                section + 1,
                escape(&c.claim),
                escape(&c.quantity_text()),
                escape(&c.expected_text()),
                escape(&c.measured),
                escape(&c.window),
                escape(&c.runs),
                c.verdict,
                c.verdict_text(),
                escape(&c.interpretation),
                escape(&c.id)
            ));
        }
        h.push_str(&format!(
            "</tbody></table>\n<p>{}</p>\n<p>{}</p>\n<h2>Figures</h2>\n<ol class=\"index\">\n",
            escape(INTERVALS),
            escape(VERDICTS)
        ));
        for fig in &self.figures {
            h.push_str(&format!(
                "<li><a href=\"#{n}\">{n}</a> — {}</li>\n",
                escape(&plain(&self.sections[fig.section].claim)),
                n = escape(&fig.name)
            ));
        }
        h.push_str("</ol>\n<p>Hover a point or a cell for its value, its spread over seeds and the instance key of each run behind it; <code>sgdnoise why KEY</code> audits that run.</p>\n");
        for (s, section) in self.sections.iter().enumerate() {
            h.push_str(&format!(
                "<section id=\"claim-{}\"><h3>{}</h3><p>Audit: <code class=\"why\">sgdnoise why {}</code></p>\n",
                s + 1,
                escape(&section.claim),
                escape(&section.id)
            ));
            for fig in self.figures.iter().filter(|f| f.section == s) {
                h.push_str(&format!(
                    "<figure id=\"{n}\">{}<figcaption><b>{n}</b>: {} <a href=\"{n}.svg\">SVG</a> · <a href=\"{n}.png\">PNG</a> · <code class=\"why\">sgdnoise why {}</code></figcaption></figure>\n",
                    strip_xml_decl(&fig.svg),
                    escape(&fig.caption),
                    escape(&fig.id),
                    n = escape(&fig.name),
                ));
            }
            h.push_str("</section>\n");
        }
        h.push_str(TOOLTIP);
        h.push_str("</body></html>\n");
        h
    }
}

pub(super) const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.agrees{background:#e3f4e1}td.disagrees{background:#f9e0e0}td.inconclusive{background:#fff4d6}\
code{font-size:12px}code.why{user-select:all;background:#f3f3f3;padding:1px 4px;white-space:nowrap}\
figure{margin:1.5em 0}figcaption{font-size:13px;color:#444;max-width:760px}svg{max-width:100%;height:auto}\
svg .point:hover,svg .cell:hover{stroke:#000;stroke-width:2}ol.index{font-size:14px}section{border-top:1px solid #ddd;margin-top:2em}\
#tip{position:fixed;z-index:10;background:#fffff4;border:1px solid #888;border-radius:3px;padding:4px 7px;font:12px/1.35 ui-monospace,monospace;white-space:pre;pointer-events:none;box-shadow:0 2px 6px rgba(0,0,0,.2)}#tip[hidden]{display:none}";

/// The page's tooltip: each point's or cell's `<title>` moves into a `data-tip` the script shows
/// beside the pointer (a styled box a screenshot can capture, instead of the browser's native
/// tooltip). Inline, so the page still fetches nothing; the standalone SVGs keep their `<title>`s.
pub(super) const TOOLTIP: &str = "<div id=\"tip\" role=\"tooltip\" hidden></div>\n<script>\n(() => {\n  const tip = document.getElementById('tip');\n  for (const el of document.querySelectorAll('svg .point, svg .cell')) {\n    const t = el.querySelector('title');\n    if (t) { el.dataset.tip = t.textContent; t.remove(); }\n  }\n  document.addEventListener('mousemove', (e) => {\n    const el = e.target.closest ? e.target.closest('[data-tip]') : null;\n    if (!el) { tip.hidden = true; return; }\n    tip.textContent = el.dataset.tip;\n    tip.hidden = false;\n    tip.style.left = Math.max(4, Math.min(e.clientX + 14, innerWidth - tip.offsetWidth - 8)) + 'px';\n    tip.style.top = Math.max(4, Math.min(e.clientY + 14, innerHeight - tip.offsetHeight - 8)) + 'px';\n  });\n})();\n</script>\n";

pub(super) fn strip_xml_decl(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

//! The report as Markdown: the claims table, then each figure with its caption and audit
//! command.

use super::claims::{Report, VERDICTS};
use super::figure::plain;

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!("# {}\n\n## Claims\n\n", self.title);
        md.push_str("| claim | quantity | expected (source) | measured [interval] | window | runs | verdict | audit |\n|---|---|---|---|---|---|---|---|\n");
        let cell = |s: &str| s.replace('|', "\\|");
        for c in &self.claims {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | **{}**: {} | `sgdnoise why {}` |\n",
                cell(&c.claim),
                cell(&c.quantity_text()),
                cell(&c.expected_text()),
                cell(&c.measured),
                cell(&c.window),
                cell(&c.runs),
                c.verdict_text(),
                cell(&c.interpretation),
                c.id
            ));
        }
        md.push_str(&format!("\n{INTERVALS}\n\n{VERDICTS}\n\n## Figures\n\n"));
        for (i, fig) in self.figures.iter().enumerate() {
            md.push_str(&format!(
                "{}. [{}](#{}) — {}\n",
                i + 1,
                fig.name,
                fig.name,
                plain(&self.sections[fig.section].claim)
            ));
        }
        for (s, section) in self.sections.iter().enumerate() {
            md.push_str(&format!("\n### {}\n\nAudit: `sgdnoise why {}`\n\n", section.claim, section.id));
            for fig in self.figures.iter().filter(|f| f.section == s) {
                md.push_str(&format!(
                    "<a id=\"{n}\"></a>![{c}]({n}.png)\n\n*{n}: {c}* ([SVG]({n}.svg), `sgdnoise why {id}`)\n\n",
                    n = fig.name,
                    c = fig.caption,
                    id = fig.id
                ));
            }
        }
        md
    }
}

pub(super) const INTERVALS: &str = "Intervals: bootstrap over seeds (runs sharing a seed share data, initialisation and batches). Audit any row with `sgdnoise why <provenance>`, any run with `sgdnoise why <run key>`.";

//! `sgdnoise kinds [KIND] [--markdown]`: every stage kind's parameters with their types,
//! defaults and meanings, read off each kind's parameter struct (never written by hand), so
//! what users read cannot drift from what the engine accepts and keys. The README's table is
//! this command's `--markdown` output, and a test holds the two equal.

use std::process::ExitCode;

use clap::Args;

use crate::cli::InvalidInput;
use crate::stages::params::ParamDoc;
use crate::stages::{self, kind_names, StageKind};

#[derive(Debug, Args)]
pub(crate) struct KindsArgs {
    /// One kind only.
    kind: Option<String>,
    /// As Markdown tables (the README's).
    #[arg(long)]
    markdown: bool,
}

pub(crate) fn run(args: KindsArgs) -> anyhow::Result<ExitCode> {
    let kinds: Vec<&dyn StageKind> = match &args.kind {
        None => stages::all().to_vec(),
        Some(name) => vec![crate::stages::find(name)
            .ok_or_else(|| InvalidInput(format!("no stage kind `{name}` (kinds: {})", kind_names().join(", "))))?],
    };
    let text: Vec<String> = kinds.iter().map(|k| if args.markdown { markdown(*k) } else { plain(*k) }).collect();
    print!("{}", text.join("\n"));
    Ok(ExitCode::SUCCESS)
}

/// The default as written in a pipeline, or what its absence means.
fn default_text(p: &ParamDoc) -> String {
    match (&p.default, p.required) {
        (_, true) => "required".into(),
        (Some(serde_json::Value::String(s)), _) => s.clone(),
        (Some(v), _) => v.to_string(),
        (None, false) => "—".into(),
    }
}

fn plain(kind: &dyn StageKind) -> String {
    let docs = kind.params().docs();
    let mut out = format!("{} (version {})\n", kind.name(), kind.version());
    if docs.is_empty() {
        out.push_str("  takes no parameters\n");
    }
    let rows: Vec<[String; 4]> =
        docs.iter().map(|p| [p.name.to_owned(), p.ty.clone(), default_text(p), p.doc.clone()]).collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for [name, ty, default, doc] in &rows {
        out.push_str(&format!("  {name:w0$}  {ty:w1$}  {default:w2$}  {doc}\n"));
    }
    out
}

fn markdown(kind: &dyn StageKind) -> String {
    let docs = kind.params().docs();
    let mut out = format!("#### `{}`\n\n", kind.name());
    if docs.is_empty() {
        out.push_str("Takes no parameters.\n");
        return out;
    }
    out.push_str("| parameter | type | default | meaning |\n|---|---|---|---|\n");
    for p in &docs {
        let cell = |s: &str| s.replace('|', "\\|");
        out.push_str(&format!("| `{}` | {} | {} | {} |\n", p.name, cell(&p.ty), cell(&default_text(p)), cell(&p.doc)));
    }
    out
}

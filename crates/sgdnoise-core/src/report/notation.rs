//! The paper's notation in labels and captions: laws as `T^δ P^γ`, parameters by their
//! symbols, numbers to three significant figures.

use super::figure::{plain, pow2_or_sig3};

/// A column, variable or exponent in the paper's notation (label markup, see `svg`).
pub fn notation(name: &str) -> String {
    match name {
        "rel_dw" => "‖w−w_{0}‖/‖w_{0}‖",
        "test_err" => "test error ε",
        "train_err" => "training error",
        "t_star" => "t*",
        "alpha" => "α",
        "chi" => "χ",
        "dim" => "d",
        "delta" => "δ",
        "gamma" => "γ",
        "k" => "k",
        other => other,
    }
    .to_owned()
}

/// A law as written in a pipeline (`T^delta * P^gamma`) in the paper's notation (`T^δ P^γ`).
pub(super) fn law_text(law: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for ch in law.chars().chain(std::iter::once(' ')) {
        if ch.is_alphanumeric() || ch == '_' {
            word.push(ch);
            continue;
        }
        if !word.is_empty() {
            out += &plain(&notation(&word));
            word.clear();
        }
        out.push(ch);
    }
    out.replace(" * ", " ").trim_end().to_owned()
}

/// A value for a tooltip, in plain text: three significant digits, `2.49·10^−4`.
pub(super) fn sig3(v: f64) -> String {
    plain(&super::figure::sig3(v))
}

/// A value for a label: `2^{k}` for powers of two, else three significant digits.
pub(super) fn value(v: f64) -> String {
    pow2_or_sig3(v)
}

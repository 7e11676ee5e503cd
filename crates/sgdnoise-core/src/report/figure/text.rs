//! Text in figures: numbers written for people (3 significant digits, powers of 2 as `2^{k}`,
//! true minus signs) and the small label markup, `^{…}` for a superscript and `_{…}` for a
//! subscript, rendered as `<tspan>`s (or flattened to plain text for tooltips).

/// Text made safe for SVG and HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

pub(super) fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').into()
    } else {
        s
    }
}

/// A coordinate with at most two decimals; a non-finite one would make the whole file invalid, so it
/// degrades to 0 rather than poisoning the document.
pub(super) fn num(v: f64) -> String {
    // Rounding first (and adding 0.0, which turns -0.0 into 0.0) keeps "-0" out of the output.
    trim_zeros(format!("{:.2}", if v.is_finite() { (v * 100.0).round() / 100.0 + 0.0 } else { 0.0 }))
}

/// Three significant digits, switching to exponent form where fixed notation would be unreadable.
pub fn sig3(v: f64) -> String {
    match v {
        _ if !v.is_finite() => "?".into(),
        0.0 => "0".into(),
        _ => match v.abs().log10().floor() as i32 {
            e if (-3..5).contains(&e) => trim_zeros(format!("{v:.*}", (2 - e).max(0) as usize)),
            _ => {
                let e = v.abs().log10().floor() as i32;
                format!("{}·10^{{{}}}", trim_zeros(format!("{:.2}", v / 10f64.powi(e))), minus(e))
            }
        },
    }
}

/// An integer with a typographic minus sign.
pub fn minus(k: i32) -> String {
    if k < 0 {
        format!("−{}", -k)
    } else {
        k.to_string()
    }
}

/// `base^{k}` in label markup.
pub fn power(base: u32, k: i32) -> String {
    format!("{base}^{{{}}}", minus(k))
}

/// A value as `2^{k}` when it is a power of two, else three significant digits.
pub fn pow2_or_sig3(v: f64) -> String {
    // log2 of what a log-2 axis can draw (the same rule as `Scale::Log2.apply`).
    match (v > 0.0).then(|| v.log2()).filter(|t| t.is_finite()) {
        Some(t) if (t - t.round()).abs() < 1e-9 && t.round() != 0.0 => power(2, t.round() as i32),
        _ => sig3(v),
    }
}

/// Label markup as SVG text content: `^{…}` and `_{…}` become shifted, smaller `<tspan>`s, and so
/// do `^word` and `_word` (a run of letters, digits and minus signs: `T^δ`, `P^−a`, `T_c`), so a
/// claim written in plain text reads as the paper writes it.
pub(super) fn rich(markup: &str, size: f64) -> String {
    let markup = minus_signs(markup);
    let small = num(size * 0.72);
    let mut out = String::new();
    let mut rest = markup.as_str();
    while let Some(i) = rest.find(['^', '_']) {
        let shift = if rest[i..].starts_with('^') { "super" } else { "sub" };
        let after = &rest[i + 1..];
        let (body, next) = match after.strip_prefix('{').and_then(|b| Some((b, b.find('}')?))) {
            Some((b, end)) => (&b[..end], &b[end + 1..]),
            None => {
                let end = after.find(|c: char| !(c.is_alphanumeric() || c == '−')).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        out += &escape(&rest[..i]);
        if body.is_empty() {
            out += &escape(&rest[i..=i]);
        } else {
            out += &format!("<tspan baseline-shift=\"{shift}\" font-size=\"{small}\">{}</tspan>", escape(body));
        }
        rest = next;
    }
    out + &escape(rest)
}

/// A hyphen before a digit, at the start or after a space, `(`, `=` or `/`, as a minus sign.
pub(super) fn minus_signs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev = ' ';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let digit_next = chars.peek().is_some_and(|n| n.is_ascii_digit() || *n == '.');
        out.push(if c == '-' && digit_next && matches!(prev, ' ' | '(' | '=' | '/' | '[' | ',') { '−' } else { c });
        prev = c;
    }
    out
}

/// The markup as plain text (for tooltips, captions and Markdown): `T·P^(γ/δ)`.
pub fn plain(markup: &str) -> String {
    let mut out = String::new();
    let mut rest = markup;
    while let Some(i) = rest.find(['^', '_']) {
        let Some((body, end)) = rest[i + 1..].strip_prefix('{').and_then(|b| Some((b, b.find('}')?))) else {
            out += &rest[..=i];
            rest = &rest[i + 1..];
            continue;
        };
        let (body, sub) = (&body[..end], rest[i..].starts_with('_'));
        let word = body.chars().all(|c| c.is_alphanumeric() || c == '−');
        out += &rest[..i];
        out += &match (sub, word) {
            // w_{0} → w0: a digit index reads as one.
            (true, true) if body.chars().all(|c| c.is_ascii_digit()) => body.to_owned(),
            (true, true) => format!("_{body}"),
            (false, true) => format!("^{body}"),
            (true, false) => format!("_({body})"),
            (false, false) => format!("^({body})"),
        };
        rest = &rest[i + 1 + 1 + end + 1..];
    }
    out + rest
}

//! The observable an analysis fits: one recorded column (`rel_dw`), or a product and ratio of
//! them, each optionally in absolute value (`w_perp / abs(w1)`, λ = ‖w⊥‖/|w1| of the perceptron).
//! Written left to right with `*` and `/` and no parentheses other than `abs(…)`.
//!
//! The columns a run row has are known before anything runs: the run's parameters and its record's
//! numeric observables ([`RUN_COLUMNS`] and [`crate::run::RunSpec`]'s fields), so a name that
//! matches none is refused at `plan`, with the names it could be.

use super::table::{num, Row};

/// A factor: a column, in absolute value or not, multiplying or dividing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Factor {
    column: String,
    abs: bool,
    divide: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observable {
    factors: Vec<Factor>,
}

/// The numeric observables of a run's record (besides its parameters), as `collect` writes them.
pub const RUN_COLUMNS: &[&str] = &[
    "steps",
    "updates",
    "dt",
    "t",
    "t_star",
    "train_loss",
    "train_err",
    "unfitted",
    "test_err",
    "test_loss",
    "rel_dw",
    "dw_norm",
    "w0_norm",
    "w1",
    "w_perp",
    "full_checks",
    "n_params",
    "h",
];

/// Every column a run row may have: [`RUN_COLUMNS`] and the run parameters.
pub fn known_columns() -> Vec<String> {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<crate::run::RunSpec>();
    let params = schema.as_value()["properties"].as_object().map(|p| p.keys().cloned().collect::<Vec<_>>());
    RUN_COLUMNS.iter().map(|c| c.to_string()).chain(params.unwrap_or_default()).collect()
}

/// Refuses a column that no run row has, naming those it could be.
pub fn check_column(name: &str) -> Result<(), String> {
    let known = known_columns();
    if known.iter().any(|k| k == name) {
        return Ok(());
    }
    Err(format!("`{name}` is not a column of the runs; columns: {}", known.join(", ")))
}

impl Observable {
    pub fn parse(text: &str) -> Result<Observable, String> {
        let mut factors = Vec::new();
        let mut divide = false;
        let mut rest = text.trim();
        loop {
            let end = rest.find(['*', '/']).unwrap_or(rest.len());
            let term = rest[..end].trim();
            let (column, abs) = match term.strip_prefix("abs(").and_then(|t| t.strip_suffix(')')) {
                Some(inner) => (inner.trim(), true),
                None => (term, false),
            };
            if column.is_empty() || !column.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(format!("`{term}` in `{text}` is not a column name or abs(COLUMN)"));
            }
            factors.push(Factor { column: column.to_owned(), abs, divide });
            if end == rest.len() {
                break;
            }
            divide = rest.as_bytes()[end] == b'/';
            rest = &rest[end + 1..];
        }
        Ok(Observable { factors })
    }

    /// Parses and checks every column against the columns a run row has.
    pub fn checked(text: &str) -> Result<Observable, String> {
        let o = Observable::parse(text)?;
        o.columns().try_for_each(check_column)?;
        Ok(o)
    }

    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.factors.iter().map(|f| f.column.as_str())
    }

    /// The value for one run; `None` when a column is missing or a divisor is zero.
    pub fn eval(&self, row: &Row) -> Option<f64> {
        let mut v = 1.0;
        for f in &self.factors {
            let x = num(row, &f.column)?;
            let x = if f.abs { x.abs() } else { x };
            if f.divide {
                if x == 0.0 {
                    return None;
                }
                v /= x;
            } else {
                v *= x;
            }
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_products_and_ratios_left_to_right() {
        let row = json!({"w_perp": 3.0, "w1": -2.0, "T": 0.5}).as_object().unwrap().clone();
        assert_eq!(Observable::parse("w_perp / abs(w1)").unwrap().eval(&row), Some(1.5));
        assert_eq!(Observable::parse("w_perp / w1 * T").unwrap().eval(&row), Some(-0.75));
        assert_eq!(Observable::parse("w_perp").unwrap().eval(&row), Some(3.0));
        assert_eq!(Observable::parse("w_perp / rel_dw").unwrap().eval(&row), None);
        assert!(Observable::parse("w_perp / (w1)").is_err());
        assert!(Observable::parse("w_perp + w1").is_err());
        assert!(Observable::parse("").is_err());
    }

    #[test]
    fn refuses_names_no_run_has_and_lists_those_it_could_be() {
        assert!(Observable::checked("w_perp / abs(w1)").is_ok());
        assert!(check_column("T").is_ok() && check_column("P").is_ok() && check_column("chi").is_ok());
        let e = Observable::checked("rel_dww").unwrap_err();
        assert!(e.contains("`rel_dww` is not a column") && e.contains("rel_dw,"), "{e}");
    }
}

//! Floats as stored outputs hold them. serde_json writes NaN and ±∞ as `null` (a diverged run's
//! loss, an interval with no resamples); these read `null` back as NaN, so a stored output
//! deserialises to its typed struct and serialises to the same bytes.

use serde::{Deserialize, Deserializer};

/// An `f64` that may have been written as `null`.
pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// An interval `[low, high]` whose ends may have been written as `null`.
pub fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<(f64, f64), D::Error> {
    let (lo, hi) = <(Option<f64>, Option<f64>)>::deserialize(d)?;
    Ok((lo.unwrap_or(f64::NAN), hi.unwrap_or(f64::NAN)))
}

/// Named values (in their written order) that may have been written as `null`.
pub fn named<'de, D: Deserializer<'de>>(d: D) -> Result<indexmap::IndexMap<String, f64>, D::Error> {
    let map = indexmap::IndexMap::<String, Option<f64>>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct S {
        #[serde(deserialize_with = "super::f64")]
        x: f64,
        #[serde(deserialize_with = "super::pair")]
        ci: (f64, f64),
    }

    #[test]
    fn null_reads_back_as_nan_and_writes_the_same_bytes() {
        let text = r#"{"x":null,"ci":[null,2.0]}"#;
        let s: S = serde_json::from_str(text).unwrap();
        assert!(s.x.is_nan() && s.ci.0.is_nan() && s.ci.1 == 2.0);
        assert_eq!(serde_json::to_string(&s).unwrap(), text);
    }
}

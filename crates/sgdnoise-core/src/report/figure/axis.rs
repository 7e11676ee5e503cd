//! Axes: the scale of each (linear, log 2, log 10; `Scale::apply` drops what cannot be drawn,
//! point by point), their ticks and labels.

use super::text::{power, sig3};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log2,
    Log10,
}

impl Scale {
    /// The value in axis space (log of it on log axes), or `None` when it cannot be drawn.
    pub fn apply(self, v: f64) -> Option<f64> {
        let t = match self {
            Scale::Linear => v,
            _ if v <= 0.0 => return None,
            Scale::Log2 => v.log2(),
            Scale::Log10 => v.log10(),
        };
        t.is_finite().then_some(t)
    }
}

/// One axis: a range in axis space (after `Scale::apply`) mapped onto a pixel interval.
pub(super) struct Axis {
    pub(super) scale: Scale,
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) data: Option<(f64, f64)>,
    pub(super) p0: f64,
    pub(super) p1: f64,
}

impl Axis {
    pub(super) fn fit(scale: Scale, values: &[f64], p0: f64, p1: f64) -> Axis {
        let data = values
            .iter()
            .fold(None, |acc: Option<(f64, f64)>, &v| Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v)))));
        let (mut lo, mut hi) = data.unwrap_or((0.0, 1.0));
        if hi - lo < 1e-12 {
            let pad = if scale == Scale::Linear { (lo.abs() * 0.1).max(0.5) } else { 0.5 };
            (lo, hi) = (lo - pad, hi + pad);
        }
        let pad = 0.05 * (hi - lo);
        Axis { scale, lo: lo - pad, hi: hi + pad, data, p0, p1 }
    }

    pub(super) fn px(&self, t: f64) -> f64 {
        self.p0 + (t - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)
    }

    /// (pixel, label markup) pairs: integer powers on log axes (`2^{−5}`), 1-2-5 steps on linear ones.
    pub(super) fn ticks(&self) -> Vec<(f64, String)> {
        let mut ticks: Vec<(f64, String)> = Vec::new();
        let base: u32 = match self.scale {
            Scale::Log2 => 2,
            Scale::Log10 => 10,
            Scale::Linear => {
                let raw = (self.hi - self.lo) / 5.0;
                let mag = 10f64.powf(raw.log10().floor());
                let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(mag * 10.0);
                let decimals = (-step.log10().floor()).clamp(0.0, 10.0) as usize;
                let mut k = (self.lo / step).ceil();
                while k * step <= self.hi + 1e-9 * step {
                    let v = k * step;
                    let big = v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-4);
                    let label = if big { sig3(v) } else { format!("{:.*}", decimals, v + 0.0) };
                    ticks.push((self.px(v), label.replace('-', "−")));
                    k += 1.0;
                }
                return ticks;
            }
        };
        let (first, last) = (self.lo.ceil() as i64, self.hi.floor() as i64);
        let stride = ((last - first + 1) as f64 / 8.0).ceil().max(1.0) as i64;
        for k in (first..=last).filter(|k| k.rem_euclid(stride) == 0) {
            ticks.push((self.px(k as f64), power(base, k as i32)));
        }
        // Fewer than three decades in view: name 2·10^k and 5·10^k too.
        if base == 10 && last - first < 2 {
            for k in first - 1..=last {
                for m in [2.0f64, 5.0] {
                    let t = k as f64 + m.log10();
                    if (self.lo..=self.hi).contains(&t) {
                        ticks.push((self.px(t), sig3(m * 10f64.powi(k as i32))));
                    }
                }
            }
            ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        // Less than one power in view would leave one tick or none: name the data's own extremes too.
        if let Some((dlo, dhi)) = self.data.filter(|(lo, hi)| hi - lo < 1.0) {
            for t in [dlo, dhi] {
                let p = self.px(t);
                if ticks.iter().all(|(q, _)| (p - q).abs() > 30.0) {
                    ticks.push((p, sig3((base as f64).powf(t))));
                }
            }
        }
        ticks
    }
}

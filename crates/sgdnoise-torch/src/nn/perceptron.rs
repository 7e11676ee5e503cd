//! The perceptron's dynamics in plain Rust: same definitions, initial weights and batch stream as
//! the libtorch path, without libtorch's per-operation overhead. A perceptron step is two dot
//! products of length d; through libtorch it costs ~40 µs of dispatch, here tens of nanoseconds,
//! which is what makes the perceptron's large-P sweeps (10⁵–10⁷ steps per run) affordable.
//!
//! f(x) = (w − w0)·x/√d is computed from v = w − w0 directly (the centred output, exactly as
//! defined; the libtorch path subtracts F(w0, x) instead, equal up to rounding).
//!
//! The one idea for speed: the batch stream does not depend on the weights, and late in a run
//! almost no step changes them (at χ = 0 fewer than 1% do). So the margins of several upcoming
//! batches are computed together with the current weights, as independent dot products that
//! the processor overlaps, while the rows of batches further ahead are prefetched; a step that
//! updates the weights discards the margins computed past it. Each dot product is summed in one
//! fixed order (eight partial sums, see [`SUMS`]) whichever strategy computes it, so every
//! margin, and so the whole run, is bitwise what one dot product at a time gives
//! ([`Strategy::ONE_AT_A_TIME`], kept as the reference for tests and the bench).
//!
//! At small d (up to 32) a step's two row reads cost less than that machinery (the blocks, their
//! buffer of margins, the per-step schedule checks), so there the quiet steps, the bulk of a run
//! (every batch point fitted, no check pending, no trajectory point or clock read due before the
//! step [`Schedule::next_due`] names), go through one fused loop instead ([`Run::quiet_steps`]):
//! it draws the batch a few steps ahead, prefetches its rows and tests its margins with d known
//! at compile time (16 or 32; B = 2 too), skipping the points the margin filter below proves
//! fitted when it is on, and hands any other step to the blocks. A full check there reduces
//! eight rows' partial sums together ([`unfitted_by_eight`], f32). Same sums, same bits
//! ([`Strategy::BLOCKED`] keeps the blocks for every step and the full checks as they were, for
//! the bench).
//!
//! Once updates are rare (under 1 step in 64 over the last 4096), a [`MarginFilter`] keeps every
//! point's margin up to date through the Gram matrix and a step reads only the rows of points it
//! cannot prove fitted; it switches off again when updates grow frequent (over 1 in 32), where
//! an update's pass over P estimates would cost more than the reads it saves.

use std::time::Instant;

pub use super::margin_filter::FilterStats;
use super::margin_filter::MarginFilter;
use super::skeleton::{record, LoopCounts, LoopEnd, Movement, Schedule, SetStats, TrainConfig, TRAJECTORY_TEST_POINTS};
use sgdnoise_core::datasets::RunData;
use sgdnoise_core::rng::{DistinctSampler, Rng, Stream};
use sgdnoise_core::run::observables::{RunRecord, TrajectoryPoint};
use sgdnoise_core::run::{Dtype, Status};

/// f32 or f64 arithmetic, as the run's dtype says.
trait Real: Copy + PartialOrd + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + std::ops::AddAssign {
    fn of(x: f64) -> Self;
    fn get(self) -> f64;
    const ZERO: Self;
    /// Unit roundoff.
    const U: f64;
    /// The numbers as f32, if they are.
    fn as_f32(xs: &[Self]) -> Option<&[f32]>;
}

impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn get(self) -> f64 {
        self as f64
    }
    const ZERO: Self = 0.0;
    const U: f64 = f32::EPSILON as f64 / 2.0;
    fn as_f32(xs: &[f32]) -> Option<&[f32]> {
        Some(xs)
    }
}

impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn get(self) -> f64 {
        self
    }
    const ZERO: Self = 0.0;
    const U: f64 = f64::EPSILON / 2.0;
    fn as_f32(_: &[f64]) -> Option<&[f32]> {
        None
    }
}

/// How margins are computed: how many upcoming batches at once, and how far ahead rows are
/// prefetched. Results do not depend on it (bitwise); only speed does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strategy {
    /// The most upcoming batches whose margins are computed together.
    pub block: usize,
    /// Batches ahead of the one in use whose rows are prefetched.
    pub lookahead: usize,
    /// Dot products computed side by side (1, 2, 4 or 8).
    pub lanes: usize,
    /// Use AVX2 registers where the processor has them (same bits).
    pub wide: bool,
    /// When to skip the rows of points proven fitted ([`MarginFilter`]; same bits).
    pub filter: FilterUse,
    /// The largest d at which quiet steps go through the fused loop ([`Run::quiet_steps`]; same
    /// bits); 0 for never.
    pub fused_up_to: usize,
}

impl Strategy {
    /// What training uses.
    pub const FAST: Strategy =
        Strategy { block: 8, lookahead: 64, lanes: 4, wide: true, filter: FilterUse::Measured, fused_up_to: 32 };
    /// [`Strategy::FAST`] without the fused loop: every step through the blocks (what training
    /// used before it; the bench compares the two).
    pub const BLOCKED: Strategy = Strategy { fused_up_to: 0, ..Strategy::FAST };
    /// One dot product at a time, no prefetch, baseline registers: the straightforward loop.
    pub const ONE_AT_A_TIME: Strategy =
        Strategy { block: 1, lookahead: 0, lanes: 1, wide: false, filter: FilterUse::Off, fused_up_to: 0 };
}

/// When the margin filter runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterUse {
    /// Never.
    Off,
    /// When it is predicted, then measured, to make steps cheaper.
    Measured,
    /// From the first 4096 steps on (tests: the filter through a whole run).
    Always,
}

/// Decides, every 2^16 steps, whether the margin filter should run, from measured costs: a
/// step without it (averaged over the stretches without it), and an update with it (predicted
/// at first, since an update passes over P estimates and a Gram row, then measured). It goes
/// on when it is predicted to halve the cost of a step, and off when its stretches cost more
/// than those without. Its Gram matrix is built only once the run has spent twice what that
/// is estimated to cost, so a short run never pays for it.
struct Switch {
    use_filter: FilterUse,
    window_start: u64,
    updates: u64,
    clock: Instant,
    run_clock: Instant,
    /// Estimated seconds to build the Gram matrix.
    gram_s: f64,
    /// ns per step without the filter, and with it (running means over stretches).
    direct_ns: Option<f64>,
    filter_ns: Option<f64>,
    /// ns per update with the filter.
    update_ns: f64,
    /// ns a step with the filter costs beyond its updates: two look-ups and the bookkeeping.
    step_ns: f64,
}

impl Switch {
    /// Steps per stretch.
    const WINDOW: u64 = 1 << 16;
    /// What `step_ns` is through the blocks, and through the fused loop (no blocks: a draw and
    /// two look-ups). Chosen on whole runs at P = 16384, χ = 0 (wall s of the loop, 8 / 12 ns /
    /// filter never on): d = 16, T = 2^-8: 11.4 / 10.7 / 9.3; d = 32, T = 2^-2: 18.0 / 17.0 / 18.1.
    const STEP_NS: f64 = 15.0;
    const FUSED_STEP_NS: f64 = 12.0;

    fn new(p: usize, d: usize, use_filter: FilterUse, fused: bool) -> Switch {
        let use_filter = if p > MarginFilter::MAX_POINTS { FilterUse::Off } else { use_filter };
        let p2 = (p * p) as f64;
        Switch {
            use_filter,
            window_start: 0,
            updates: 0,
            clock: Instant::now(),
            run_clock: Instant::now(),
            // Measured here: 2–5 s at P = 16384 for d = 16…128 (writing P² floats dominates).
            gram_s: p2 * (6.0 + d as f64 / 16.0) * 1e-9,
            direct_ns: None,
            filter_ns: None,
            // What a pass over P estimates and a Gram row measured at P = 16384 (12 µs).
            update_ns: 0.75 * p as f64,
            step_ns: if fused { Self::FUSED_STEP_NS } else { Self::STEP_NS },
        }
    }

    /// The step at which [`Switch::decide`] may next act.
    fn next_decision(&self) -> u64 {
        match self.use_filter {
            FilterUse::Off => u64::MAX,
            FilterUse::Always => self.window_start + 4096,
            FilterUse::Measured => self.window_start + Self::WINDOW,
        }
    }

    /// At the end of a stretch, whether to switch the filter on (`Some(true)`) or off
    /// (`Some(false)`); `None` to leave it as it is.
    fn decide(&mut self, steps: u64, on: bool) -> Option<bool> {
        let window = if self.use_filter == FilterUse::Always { 4096 } else { Self::WINDOW };
        if self.use_filter == FilterUse::Off || steps - self.window_start < window {
            return None;
        }
        let (n, u) = ((steps - self.window_start) as f64, self.updates as f64);
        let ns = self.clock.elapsed().as_secs_f64() * 1e9 / n;
        (self.window_start, self.updates, self.clock) = (steps, 0, Instant::now());
        if self.use_filter == FilterUse::Always {
            return (!on).then_some(true);
        }
        let mean = |m: Option<f64>| Some(m.map_or(ns, |m| 0.75 * m + 0.25 * ns));
        if on {
            if u > 0.0 {
                let measured = ((ns - self.step_ns) * n / u).max(0.0);
                self.update_ns = 0.5 * (self.update_ns + measured);
            }
            self.filter_ns = mean(self.filter_ns);
            return (self.filter_ns > self.direct_ns).then_some(false);
        }
        self.direct_ns = mean(self.direct_ns);
        let predicted = self.step_ns + u / n * self.update_ns;
        let gram_paid = self.run_clock.elapsed().as_secs_f64() >= 2.0 * self.gram_s;
        let worth = predicted < 0.5 * self.direct_ns.unwrap_or(ns);
        (gram_paid && worth).then(|| {
            self.filter_ns = None;
            true
        })
    }
}

/// Trains the perceptron on the CPU.
pub fn train_perceptron(config: &TrainConfig, data: &RunData) -> RunRecord {
    train_perceptron_with(config, data, Strategy::FAST)
}

/// Trains the perceptron with a given margin strategy (tests and benchmarks compare them).
pub fn train_perceptron_with(config: &TrainConfig, data: &RunData, strategy: Strategy) -> RunRecord {
    train_perceptron_counted(config, data, strategy).0
}

/// [`train_perceptron_with`], also saying what the margin filter did.
pub fn train_perceptron_counted(config: &TrainConfig, data: &RunData, strategy: Strategy) -> (RunRecord, FilterStats) {
    match config.dtype {
        Dtype::F32 => Run::<f32>::new(config, data, strategy).run(),
        Dtype::F64 => Run::<f64>::new(config, data, strategy).run(),
    }
}

/// A matrix of inputs, row after row, starting on a cache line: a row of 16 f32 then fills one
/// line instead of straddling two (and a prefetch of its first line brings all of it).
struct Rows<F> {
    buf: Vec<F>,
    start: usize,
}

impl<F: Real> Rows<F> {
    const LINE: usize = 64;

    fn new(xs: &[f32]) -> Self {
        let mut buf = vec![F::ZERO; xs.len() + Self::LINE / std::mem::size_of::<F>()];
        let start = buf.as_ptr().align_offset(Self::LINE);
        for (b, &x) in buf[start..].iter_mut().zip(xs) {
            *b = F::of(x as f64);
        }
        buf.truncate(start + xs.len());
        Rows { buf, start }
    }
}

impl<F> std::ops::Deref for Rows<F> {
    type Target = [F];
    fn deref(&self) -> &[F] {
        &self.buf[self.start..]
    }
}

struct Run<'a, F: Real> {
    config: &'a TrainConfig,
    d: usize,
    x_train: Rows<F>,
    y_train: Vec<F>,
    x_test: Rows<F>,
    y_test: Vec<F>,
    w0: Vec<f64>,
    v: Vec<F>,
    scale: F,
    strategy: Strategy,
    /// The strategy asks for AVX2 and the processor has it (looked up once, not per margin).
    avx2: bool,
}

/// Upcoming batches, drawn ahead of use (the stream does not depend on the weights) so their
/// rows can be prefetched.
struct Batches {
    sampler: DistinctSampler,
    batch: usize,
    /// Indices of the batches drawn and not yet used, `batch` per step, from `start`.
    buf: Vec<u32>,
    start: usize,
}

impl Batches {
    fn ahead(&self) -> usize {
        (self.buf.len() - self.start) / self.batch
    }

    /// Draws until `steps` batches are waiting; returns where the new ones begin in `buf`.
    fn fill(&mut self, steps: usize) -> usize {
        if self.start > 1 << 14 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let from = self.buf.len();
        // Counted here rather than divided out again at every draw (a step's hot path).
        for _ in self.ahead()..steps {
            let idx = self.sampler.draw(self.batch);
            self.buf.extend(idx.iter().map(|&i| i as u32));
        }
        from
    }

    /// The rows of the `k`-th waiting batch.
    fn get(&self, k: usize) -> &[u32] {
        &self.buf[self.start + k * self.batch..][..self.batch]
    }

    fn pop(&mut self) {
        self.start += self.batch;
    }
}

/// Asks the processor to bring `row` into cache (a hint: no effect on results).
#[inline(always)]
fn prefetch<F>(row: &[F]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        let p = row.as_ptr().cast::<i8>();
        for off in (0..std::mem::size_of_val(row)).step_by(64) {
            // SAFETY: a prefetch never faults and reads nothing; the address lies inside `row`.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(p.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// Batches ahead of the one in use whose rows the fused loop prefetches.
const FUSED_AHEAD: usize = 16;

/// The margins α·y·(x·v)·s of the rows of `x` (rows of d = `v.len()`, a multiple of 8) eight
/// rows at a time, all but the last `y.len() mod 8`: the rows with a margin below 1, in order,
/// and whether every margin is finite. Each dot product is summed exactly as [`dot`] sums it
/// (lane l of a register holds partial sum l; the registers of eight rows are then reduced
/// together, in the same tree), and the margin is rounded as [`Margins`] rounds it: same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn unfitted_by_eight(x: &[f32], y: &[f32], v: &[f32], scale: f32, alpha: f64) -> (Vec<u32>, bool) {
    use std::arch::x86_64::*;
    /// Eight floats from `c`, unaligned.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(c: &[f32]) -> __m256 {
        assert!(c.len() >= 8);
        // SAFETY: eight floats, read unaligned.
        unsafe { _mm256_loadu_ps(c.as_ptr()) }
    }
    /// Lane l of a row's register: (…((0 + x_l·v_l) + x_{l+8}·v_{l+8}) + …), as in `dot`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn partial(row: &[f32], vs: &[__m256]) -> __m256 {
        let mut acc = _mm256_setzero_ps();
        for (c, &vc) in row.chunks_exact(8).zip(vs) {
            acc = _mm256_add_ps(acc, _mm256_mul_ps(load(c), vc));
        }
        acc
    }
    /// Rows r and s: [a_l + a_{l+4} of r (l < 4) | the same of s].
    #[inline]
    #[target_feature(enable = "avx2")]
    fn halves(r: __m256, s: __m256) -> __m256 {
        _mm256_add_ps(_mm256_permute2f128_ps::<0x20>(r, s), _mm256_permute2f128_ps::<0x31>(r, s))
    }
    let d = v.len();
    let mut vs = [_mm256_setzero_ps(); 4];
    let vs = &mut vs[..d / 8];
    for (vc, c) in vs.iter_mut().zip(v.chunks_exact(8)) {
        *vc = load(c);
    }
    let (mut suspects, mut finite) = (Vec::new(), true);
    let (one, inf, sign) = (_mm256_set1_pd(1.0), _mm256_set1_pd(f64::INFINITY), _mm256_set1_pd(-0.0));
    let (scale, alpha) = (_mm256_set1_ps(scale), _mm256_set1_pd(alpha));
    // hadd's order of rows (0, 2, 4, 6 | 1, 3, 5, 7) back to 0…7.
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (k, (rows, ys)) in x.chunks_exact(8 * d).zip(y.chunks_exact(8)).enumerate() {
        let mut a = [_mm256_setzero_ps(); 8];
        for (r, a) in a.iter_mut().enumerate() {
            *a = partial(&rows[r * d..][..d], vs);
        }
        let (h01, h23, h45, h67) = (halves(a[0], a[1]), halves(a[2], a[3]), halves(a[4], a[5]), halves(a[6], a[7]));
        // (h0 + h1) + (h2 + h3) of every row: the tree of `dot`.
        let sums = _mm256_hadd_ps(_mm256_hadd_ps(h01, h23), _mm256_hadd_ps(h45, h67));
        let sums = _mm256_permutevar8x32_ps(sums, order);
        let m32 = _mm256_mul_ps(_mm256_mul_ps(sums, scale), load(ys));
        let mut unfitted = 0;
        for (half, m32) in [_mm256_castps256_ps128(m32), _mm256_extractf128_ps::<1>(m32)].into_iter().enumerate() {
            let m = _mm256_mul_pd(_mm256_cvtps_pd(m32), alpha);
            unfitted |= _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(m, one)) << (4 * half);
            finite &= _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_andnot_pd(sign, m), inf)) == 0xf;
        }
        while unfitted != 0 {
            suspects.push((8 * k) as u32 + unfitted.trailing_zeros());
            unfitted &= unfitted - 1;
        }
    }
    (suspects, finite)
}

/// Whether the processor has AVX2.
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Partial sums each dot product keeps: element j goes to sum j mod 8, and the eight are added
/// in one fixed tree. Independent sums let the processor vectorise and overlap the additions
/// (a left-to-right sum waits on each addition in turn); the order is fixed by this code, not by
/// the instruction set, so the bits are the same on every x86-64 or other processor.
const SUMS: usize = 8;

/// One dot product a·b summed as [`SUMS`] describes.
#[inline(always)]
fn dot<F: Real>(a: &[F], b: &[F]) -> F {
    let full = a.len() - a.len() % SUMS;
    let mut acc = [F::ZERO; SUMS];
    for (ca, cb) in a[..full].chunks_exact(SUMS).zip(b[..full].chunks_exact(SUMS)) {
        for l in 0..SUMS {
            acc[l] += ca[l] * cb[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in a[full..].iter().zip(&b[full..]) {
        s += *x * *y;
    }
    s
}

/// N dot products x_r·v, written one after the other: they do not depend on each other, so the
/// processor overlaps them.
#[inline(always)]
fn dots<F: Real, const N: usize>(x: &[F], d: usize, rows: &[u32], v: &[F]) -> [F; N] {
    let v = &v[..d];
    let mut out = [F::ZERO; N];
    for (o, &r) in out.iter_mut().zip(rows) {
        *o = dot(&x[r as usize * d..][..d], v);
    }
    out
}

/// What margins are computed from: α·y·f = α·y·(x·v)/√d.
struct Margins<'m, F: Real> {
    x: &'m [F],
    y: &'m [F],
    d: usize,
    v: &'m [F],
    scale: F,
    alpha: f64,
}

impl<F: Real> Margins<'_, F> {
    /// α·y·f of the points `rows` into `out`, `lanes` dot products at a time.
    #[inline(always)]
    fn fill(&self, rows: &[u32], out: &mut [f64], lanes: usize) {
        let mut done = 0;
        for width in [8, 4, 2, 1] {
            while width <= lanes && rows.len() - done >= width {
                let r = &rows[done..done + width];
                let m: &mut [f64] = &mut out[done..done + width];
                match width {
                    8 => self.finish(&dots::<F, 8>(self.x, self.d, r, self.v), r, m),
                    4 => self.finish(&dots::<F, 4>(self.x, self.d, r, self.v), r, m),
                    2 => self.finish(&dots::<F, 2>(self.x, self.d, r, self.v), r, m),
                    _ => self.finish(&dots::<F, 1>(self.x, self.d, r, self.v), r, m),
                }
                done += width;
            }
        }
    }

    /// [`Margins::fill`] compiled for AVX2: wider registers for the same lane-wise arithmetic
    /// (no fused multiply-add), so the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fill_avx2(&self, rows: &[u32], out: &mut [f64], lanes: usize) {
        self.fill(rows, out, lanes)
    }

    #[inline(always)]
    fn finish(&self, dots: &[F], rows: &[u32], out: &mut [f64]) {
        for ((m, &dot), &i) in out.iter_mut().zip(dots).zip(rows) {
            *m = (dot * self.scale * self.y[i as usize]).get() * self.alpha;
        }
    }
}

impl<'a, F: Real> Run<'a, F> {
    fn new(config: &'a TrainConfig, data: &RunData, strategy: Strategy) -> Self {
        let d = data.sample_len();
        let mut rng = Rng::stream(config.seed, Stream::Init);
        let w0: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let conv = |xs: &[f32]| xs.iter().map(|&x| F::of(x as f64)).collect::<Vec<F>>();
        Run {
            config,
            d,
            x_train: Rows::new(&data.x_train),
            y_train: conv(&data.y_train),
            x_test: Rows::new(&data.x_test),
            y_test: conv(&data.y_test),
            w0,
            v: vec![F::ZERO; d],
            scale: F::of(1.0 / (d as f64).sqrt()),
            strategy,
            avx2: strategy.wide && has_avx2(),
        }
    }

    /// α·y·f of the points `rows` of (x, y) into `out`, `lanes` dot products at a time.
    fn margins(&self, x: &[F], y: &[F], rows: &[u32], out: &mut [f64]) {
        let m = Margins { x, y, d: self.d, v: &self.v, scale: self.scale, alpha: self.config.alpha };
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: the processor has AVX2 (`has_avx2`, when the run was set up).
            return unsafe { m.fill_avx2(rows, out, self.strategy.lanes) };
        }
        m.fill(rows, out, self.strategy.lanes)
    }

    /// α·y·f of training point `i` at weights `v`, as [`Margins`] computes it, with d = `D`
    /// unless `D` is 0.
    #[inline(always)]
    fn margin<const D: usize>(&self, v: &[F], i: u32) -> f64 {
        let d = if D > 0 { D } else { self.d };
        let i = i as usize;
        let dot = dot(&self.x_train[i * d..][..d], &v[..d]);
        (dot * self.scale * self.y_train[i]).get() * self.config.alpha
    }

    /// The weights as an array of `D` (kept in registers through a pass), or all of them.
    #[inline(always)]
    fn held<const D: usize>(&self) -> [F; D] {
        let mut v = [F::ZERO; D];
        v.copy_from_slice(&self.v[..D]);
        v
    }

    /// Takes up to `n` quiet steps: steps whose batch points are all fitted (α·y·f ≥ 1) while no
    /// check is pending, which change nothing but the step count; stops before the first step
    /// that is not quiet and returns how many it took. Each step draws the batch `ahead` steps
    /// on in place and prefetches its rows: one loop, no blocks and no buffer of margins. With
    /// the margin filter on, a point it proves fitted is not read (nor its row prefetched: the
    /// estimates stay as they are through quiet steps).
    #[inline(always)]
    fn quiet_steps<const D: usize, const B: usize>(
        &self,
        batches: &mut Batches,
        mut filter: Option<&mut MarginFilter>,
        n: u64,
        ahead: usize,
    ) -> u64 {
        let d = if D > 0 { D } else { self.d };
        // The weights do not change through quiet steps.
        let held = self.held::<D>();
        let v: &[F] = if D > 0 { &held } else { &self.v };
        let needed = |f: &Option<&mut MarginFilter>, i: u32| f.as_ref().is_none_or(|f| !f.fitted(i as usize));
        let b = if B > 0 { B } else { batches.batch };
        let from = batches.fill(ahead);
        for &i in batches.buf[from..].iter().filter(|&&i| needed(&filter, i)) {
            prefetch(&self.x_train[i as usize * d..][..d]);
        }
        // Drawing ahead grows the buffer by a batch a step: about 2^14 indices between drains.
        let most = (1 << 14) / b as u64 + 1;
        let mut done = 0;
        while done < n {
            batches.fill(ahead);
            let chunk = (n - done).min(most);
            let end = batches.buf.len();
            batches.buf.resize(end + chunk as usize * b, 0);
            for k in 0..chunk as usize {
                // All B margins, then one branch; `>=`, not `< 1.0`: a NaN margin is no quiet step.
                let (mut quiet, mut read) = (true, 0);
                for &i in &batches.buf[batches.start..][..b] {
                    if needed(&filter, i) {
                        quiet &= self.margin::<D>(v, i) >= 1.0;
                        read += 1;
                    }
                }
                if !quiet {
                    batches.buf.truncate(end + k * b);
                    return done + k as u64;
                }
                if let Some(f) = filter.as_mut() {
                    f.quiet_step(b as u64 - read, read);
                }
                batches.start += b;
                let drawn = batches.sampler.draw(b);
                for (slot, &i) in batches.buf[end + k * b..][..b].iter_mut().zip(drawn) {
                    *slot = i as u32;
                    if needed(&filter, *slot) {
                        prefetch(&self.x_train[i as usize * d..][..d]);
                    }
                }
            }
            done += chunk;
        }
        n
    }

    /// [`Run::quiet_steps`] compiled for d = 16 or 32 where d is one of them (for any d
    /// otherwise), and for AVX2 where the strategy asks and the processor has it (same bits).
    fn quiet(&self, batches: &mut Batches, filter: Option<&mut MarginFilter>, n: u64, ahead: usize) -> u64 {
        #[inline(always)]
        fn by_d<F: Real>(
            run: &Run<F>,
            batches: &mut Batches,
            filter: Option<&mut MarginFilter>,
            n: u64,
            ahead: usize,
        ) -> u64 {
            match (run.d, batches.batch) {
                (16, 2) => run.quiet_steps::<16, 2>(batches, filter, n, ahead),
                (32, 2) => run.quiet_steps::<32, 2>(batches, filter, n, ahead),
                (16, _) => run.quiet_steps::<16, 0>(batches, filter, n, ahead),
                (32, _) => run.quiet_steps::<32, 0>(batches, filter, n, ahead),
                _ => run.quiet_steps::<0, 0>(batches, filter, n, ahead),
            }
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<F: Real>(
            run: &Run<F>,
            batches: &mut Batches,
            filter: Option<&mut MarginFilter>,
            n: u64,
            ahead: usize,
        ) -> u64 {
            by_d(run, batches, filter, n, ahead)
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: the processor has AVX2 (`has_avx2`, when the run was set up).
            return unsafe { avx2(self, batches, filter, n, ahead) };
        }
        by_d(self, batches, filter, n, ahead)
    }

    /// The training points with α·y·f < 1, in order, or `None` if a margin is not finite. The
    /// points looked at: all of them, or with the filter on only those it cannot prove fitted
    /// (when they are few; otherwise all, and the estimates are set afresh from them).
    fn full_check(&self, filter: Option<&mut MarginFilter>) -> Option<Vec<u32>> {
        let p = self.y_train.len();
        if filter.is_none() && self.d <= self.strategy.fused_up_to {
            if let Some((suspects, finite)) = self.unfitted_by_eight() {
                return finite.then_some(suspects);
            }
        }
        let candidates = filter.as_ref().map(|f| f.candidates()).filter(|c| c.len() * 4 < p);
        let rows = candidates.unwrap_or_else(|| (0..p as u32).collect());
        let mut all = vec![0.0; rows.len()];
        self.margins(&self.x_train, &self.y_train, &rows, &mut all);
        if all.iter().any(|m| !m.is_finite()) {
            return None;
        }
        let suspects: Vec<u32> = rows.iter().zip(&all).filter(|(_, &m)| m < 1.0).map(|(&i, _)| i).collect();
        if let Some(f) = filter.filter(|_| rows.len() == p && !suspects.is_empty()) {
            f.refresh(&all, self.vnorm());
        }
        Some(suspects)
    }

    /// Every training point's margin eight rows at a time ([`unfitted_by_eight`]), where the run
    /// is in f32, d is a multiple of 8 and the processor has AVX2: the points with α·y·f < 1 and
    /// whether every margin is finite.
    fn unfitted_by_eight(&self) -> Option<(Vec<u32>, bool)> {
        #[cfg(target_arch = "x86_64")]
        if let (true, 0, true, Some(x), Some(y), Some(v)) = (
            self.avx2,
            self.d % 8,
            self.d <= 32,
            F::as_f32(&self.x_train),
            F::as_f32(&self.y_train),
            F::as_f32(&self.v),
        ) {
            let (scale, alpha) = (self.scale.get() as f32, self.config.alpha);
            // SAFETY: the processor has AVX2 (`has_avx2`, when the run was set up).
            let (mut suspects, mut finite) = unsafe { unfitted_by_eight(x, y, v, scale, alpha) };
            // The last p mod 8 points one at a time.
            for i in (y.len() - y.len() % 8) as u32..y.len() as u32 {
                let m = self.margin::<0>(&self.v, i);
                finite &= m.is_finite();
                if m < 1.0 {
                    suspects.push(i);
                }
            }
            return Some((suspects, finite));
        }
        None
    }

    /// Whether one of the suspects (points unfitted at the last full check) is still unfitted,
    /// looked at a few at a time from the first. The suspects found fitted before the first
    /// unfitted one are dropped (`from` moves past them): the list only serves to prove the loss
    /// positive without a full pass, so it may shrink, and without this every check after an
    /// update would walk the same long run of points fitted since.
    fn any_unfitted(&self, suspects: &[u32], from: &mut usize) -> bool {
        let mut m = [0.0f64; 8];
        let mut at = *from;
        for group in suspects[*from..].chunks(8) {
            let m = &mut m[..group.len()];
            self.margins(&self.x_train, &self.y_train, group, m);
            if let Some(k) = m.iter().position(|&m| m < 1.0) {
                *from = at + k;
                return true;
            }
            at += group.len();
        }
        *from = suspects.len();
        false
    }

    /// α·y·f of every point of (x, y).
    fn all_margins(&self, x: &[F], y: &[F]) -> Vec<f64> {
        let rows: Vec<u32> = (0..y.len() as u32).collect();
        let mut out = vec![0.0; rows.len()];
        self.margins(x, y, &rows, &mut out);
        out
    }

    fn stats(&self, x: &[F], y: &[F]) -> SetStats {
        SetStats::of_margins(&self.all_margins(x, y), self.config.alpha)
    }

    fn checkpoint(&self, steps: u64, dt: f64, with_test: bool) -> TrajectoryPoint {
        let s = self.stats(&self.x_train, &self.y_train);
        let test_err = with_test.then(|| {
            let n = self.y_test.len().min(TRAJECTORY_TEST_POINTS);
            self.stats(&self.x_test[..n * self.d], &self.y_test[..n]).err
        });
        TrajectoryPoint { step: steps, t: dt * steps as f64, train_loss: s.loss, unfitted: s.unfitted, test_err }
    }

    /// ‖v‖, rounded upwards a little (the filter's bounds use it).
    fn vnorm(&self) -> f64 {
        self.v.iter().map(|x| x.get() * x.get()).sum::<f64>().sqrt() * (1.0 + 1e-9)
    }

    /// A margin filter over the training set, if P is small enough for its Gram matrix.
    fn build_filter(&self, step_scale: F) -> Option<MarginFilter> {
        let x: Vec<f32> = self.x_train.iter().map(|v| v.get() as f32).collect();
        let y: Vec<f32> = self.y_train.iter().map(|v| v.get() as f32).collect();
        MarginFilter::new(&x, &y, self.d, self.config.alpha * self.scale.get(), step_scale.get(), F::U)
    }

    fn run(mut self) -> (RunRecord, FilterStats) {
        let start = Instant::now();
        let c = self.config;
        let (dt, alpha, batch) = (c.dt(), c.alpha, c.batch);
        let p = self.y_train.len();
        let d = self.d;
        let Strategy { block: max_block, lookahead, .. } = self.strategy;
        let mut batches = Batches {
            sampler: DistinctSampler::new(p, Rng::stream(c.seed, Stream::Batches)),
            batch,
            buf: Vec::new(),
            start: 0,
        };
        let mut trajectory = Vec::new();
        let mut schedule = Schedule::new(c, Schedule::PERCEPTRON_STRIDE);
        let (mut steps, mut checks, mut check_wall, mut updates) = (0u64, 0u64, 0.0f64, 0u64);
        let mut moved = true;
        // Points unfitted at the last full check: one of them still unfitted proves L > 0.
        let mut suspects: Vec<u32> = Vec::new();
        let mut suspects_from = 0usize;
        let step_scale = F::of(dt / batch as f64) * self.scale;
        // Margins of the next `block` batches at the current weights. After an update the block
        // starts again at one batch and doubles while no step updates, so that at most about
        // half of the margins computed are thrown away.
        let mut block = 1usize;
        let mut margins = vec![0.0f64; max_block.max(1) * batch];
        // The margin filter, switched on and off by what steps are measured to cost.
        let mut filter: Option<MarginFilter> = None;
        let fused = d <= self.strategy.fused_up_to;
        let mut switch = Switch::new(p, d, self.strategy.filter, fused);
        let status = 'run: loop {
            if fused && !moved {
                let until = schedule.next_due(steps).min(c.max_steps).min(switch.next_decision());
                let n = until.saturating_sub(steps);
                steps += self.quiet(&mut batches, filter.as_mut().filter(|f| f.on), n, FUSED_AHEAD);
            }
            let filtering = filter.as_ref().is_some_and(|f| f.on);
            if filtering {
                block = 1;
            }
            let from = batches.fill(if filtering { 1 } else { block + lookahead });
            if lookahead > 0 && !filtering {
                for &i in &batches.buf[from..] {
                    prefetch(&self.x_train[i as usize * d..][..d]);
                }
            }
            let rows = &batches.buf[batches.start..][..block * batch];
            match filter.as_mut().filter(|f| f.on) {
                // +∞ stands for a margin certainly ≥ 1: what follows treats it as fitted.
                Some(f) => {
                    for (m, &i) in margins.iter_mut().zip(rows) {
                        if f.fitted(i as usize) {
                            f.stats.skipped += 1;
                            *m = f64::INFINITY;
                        } else {
                            self.margins(&self.x_train, &self.y_train, &[i], std::slice::from_mut(m));
                            f.read(*m >= 1.0);
                        }
                    }
                    f.stats.steps += 1;
                }
                None => self.margins(&self.x_train, &self.y_train, rows, &mut margins[..block * batch]),
            }
            let mut updated = false;
            for j in 0..block {
                if let Some(with_test) = schedule.point_due(steps) {
                    trajectory.push(self.checkpoint(steps, dt, with_test));
                }
                if steps >= c.max_steps {
                    break 'run Status::StepLimit;
                }
                if schedule.past_wall(steps, || start.elapsed().as_secs_f64()) {
                    break 'run Status::TimeLimit;
                }
                let ms = &margins[j * batch..(j + 1) * batch];
                let loss = ms.iter().filter(|m| m.is_nan() || **m < 1.0).fold(0.0, |l, m| l + (1.0 - m) / alpha);
                if !loss.is_finite() {
                    break 'run Status::Diverged;
                }
                if loss > 0.0 {
                    // w ← w − dt·∇(mean batch loss) = w + (dt/B)·Σ_unfitted y·x/√d
                    for (&i, m) in batches.get(0).iter().zip(ms) {
                        if m.is_nan() || *m < 1.0 {
                            let i = i as usize;
                            let row = &self.x_train[i * d..(i + 1) * d];
                            let k = step_scale * self.y_train[i];
                            for (v, x) in self.v.iter_mut().zip(row) {
                                *v += k * *x;
                            }
                            if let Some(f) = filter.as_mut().filter(|f| f.on) {
                                f.update(i, self.vnorm());
                            }
                        }
                    }
                    moved = true;
                    updates += 1;
                    switch.updates += 1;
                    updated = true;
                } else if moved {
                    let t0 = Instant::now();
                    moved = false;
                    let proven_positive = self.any_unfitted(&suspects, &mut suspects_from);
                    if !proven_positive {
                        checks += 1;
                        let Some(found) = self.full_check(filter.as_mut().filter(|f| f.on)) else {
                            check_wall += t0.elapsed().as_secs_f64();
                            break 'run Status::Diverged;
                        };
                        (suspects, suspects_from) = (found, 0);
                        if suspects.is_empty() {
                            check_wall += t0.elapsed().as_secs_f64();
                            break 'run Status::Converged;
                        }
                    }
                    check_wall += t0.elapsed().as_secs_f64();
                }
                batches.pop();
                steps += 1;
                if updated {
                    break;
                }
            }
            block = if updated { 1 } else { (block * 2).min(max_block.max(1)) };
            if let Some(f) = filter.as_mut().filter(|f| f.on && f.stale()) {
                f.refresh(&self.all_margins(&self.x_train, &self.y_train), self.vnorm());
            }
            if let Some(on) = switch.decide(steps, filter.as_ref().is_some_and(|f| f.on)) {
                if on && filter.is_none() {
                    filter = self.build_filter(step_scale);
                }
                if let Some(f) = filter.as_mut() {
                    f.on = on;
                    if on {
                        f.stats.activations += 1;
                        f.refresh(&self.all_margins(&self.x_train, &self.y_train), self.vnorm());
                    }
                }
                if filter.is_none() {
                    switch.use_filter = FilterUse::Off;
                }
                // The Gram matrix and the refresh are not a step's cost.
                switch.clock = Instant::now();
            }
        };
        let wall = start.elapsed().as_secs_f64();
        let counts = LoopCounts { updates, checks, check_wall };
        let stats = filter.map(|f| f.stats).unwrap_or_default();
        (self.finish(LoopEnd { status, steps, dt, trajectory, wall_s: wall, counts }), stats)
    }

    fn finish(self, end: LoopEnd) -> RunRecord {
        let train = self.stats(&self.x_train, &self.y_train);
        let test = self.stats(&self.x_test, &self.y_test);
        let v: Vec<f64> = self.v.iter().map(|x| x.get()).collect();
        let dw2: f64 = v.iter().map(|x| x * x).sum();
        let w02: f64 = self.w0.iter().map(|x| x * x).sum();
        let mut moved = Movement::new();
        moved.add("w", dw2, w02);
        moved.w1 = Some(v.first().copied().unwrap_or(f64::NAN));
        moved.w_perp = Some(v.iter().skip(1).map(|x| x * x).sum::<f64>().sqrt());
        record(end, &train, &test, moved, self.config.trajectory, self.d as i64)
    }
}

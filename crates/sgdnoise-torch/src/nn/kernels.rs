//! The fully connected net's products and activations on the CPU, in float32, every sum in an
//! order this file fixes: the bits of a result depend on the inputs only, not on the processor,
//! its vector width or a library's choice of kernel (MKL's choice gave the same run k = 0.682 on
//! one CPU and 0.753 on another).
//!
//! The one idea: every sum is a chain of fused multiply-adds (each rounded once, as IEEE 754
//! defines) in an order written here, and the instruction path decides only how many chains run
//! side by side. [`Path::Fma512`] runs a product's chains 16 to 256 at a time in AVX-512
//! registers; [`Path::Fma256`] runs them 8 to 96 at a time in AVX2 registers; [`Path::Portable`]
//! runs the same chains one element at a time with `f32::mul_add` (a software fused multiply-add
//! where the processor has none). All give the same bits, and tests compare whole runs through
//! each. The activations use additions, multiplications and one division only, which every
//! vector width rounds alike.
//!
//! The two sums:
//! - a product's element C[i][j] = Σ_p A[i][p]·B[p][j] is one chain over p = 0, 1, … from +0
//!   ([`gemm`]; with [`Epilogue::Add`] the finished chain is then added to C);
//! - a dot product of two rows keeps eight chains, element p in chain p mod 8, added as
//!   ((c0+c4)+(c1+c5))+((c2+c6)+(c3+c7)), then the elements past the last whole eight continue
//!   that sum as one chain ([`dot`], [`gemm_bt`]).
//!
//! Weights are stored in panels of 16 columns ([`packed`]), which the products stream.

/// How the chains are run: the results are the same bits either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// AVX-512 registers for the products ([`gemm`]), AVX2 for the dot products (whose eight
    /// chains fill one AVX2 register), and the processor's fused multiply-add.
    Fma512,
    /// AVX2 registers and the processor's fused multiply-add.
    Fma256,
    /// One element at a time, on any processor.
    Portable,
}

impl Path {
    /// The fastest path this processor runs.
    pub fn fastest() -> Path {
        *Path::available().last().unwrap_or(&Path::Portable)
    }

    /// Every path this processor runs, slowest first (tests compare them).
    pub fn available() -> Vec<Path> {
        let mut paths = vec![Path::Portable];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            paths.push(Path::Fma256);
            if std::arch::is_x86_feature_detected!("avx512f") {
                paths.push(Path::Fma512);
            }
        }
        paths
    }

    /// Whether this processor runs the path (a path it lacks is refused, not run).
    pub fn runs_here(self) -> bool {
        Path::available().contains(&self)
    }
}

/// A matrix read through strides: element (i, p) at `data[i·row + p·col]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub row: usize,
    pub col: usize,
}

impl<'a> Mat<'a> {
    /// Row-major with rows `ld` apart.
    pub fn rows(data: &'a [f32], ld: usize) -> Mat<'a> {
        Mat { data, row: ld, col: 1 }
    }

    /// The transpose of a row-major matrix whose rows are `ld` apart.
    pub fn transposed(data: &'a [f32], ld: usize) -> Mat<'a> {
        Mat { data, row: 1, col: ld }
    }

    #[inline(always)]
    fn at(&self, i: usize, p: usize) -> f32 {
        self.data[i * self.row + p * self.col]
    }

    /// The same matrix from column `p` on.
    fn past_col(self, p: usize) -> Mat<'a> {
        Mat { data: &self.data[p * self.col..], ..self }
    }

    /// The same matrix from row `i` on.
    fn past_row(self, i: usize) -> Mat<'a> {
        Mat { data: &self.data[i * self.row..], ..self }
    }

    /// Whether every element of an m×k view lies in `data`.
    fn holds(&self, m: usize, k: usize) -> bool {
        m == 0 || k == 0 || self.data.len() > (m - 1) * self.row + (k - 1) * self.col
    }
}

/// What a product does with its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// C = A·B.
    Store,
    /// C = C + A·B (the product's chain finished first, then added: one more rounding).
    Add,
}

/// C (m×n, rows `ldc` apart) = or += A (m×k) · B (k×n, row-major): each element one chain.
pub fn gemm(path: Path, a: Mat, b: Mat, c: &mut [f32], ldc: usize, (m, k, n): (usize, usize, usize), epi: Epilogue) {
    assert!(a.holds(m, k) && b.holds(k, n) && b.col == 1, "gemm: operands smaller than {m}×{k}×{n}");
    assert!(m == 0 || n == 0 || c.len() >= (m - 1) * ldc + n, "gemm: destination smaller than {m}×{n}");
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Fma256` is only chosen where the processor has AVX2 and FMA; every
        // element read or written was bounded just above.
        Path::Fma256 => unsafe { avx::gemm(a, b, c, ldc, (m, k, n), epi) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Fma512` is only chosen where the processor has AVX-512F; as above.
        Path::Fma512 => unsafe { avx512::gemm(a, b, c, ldc, (m, k, n), epi) },
        _ => chains(a, b, c, ldc, (0..m, 0..n), k, Start::Zero, epi),
    }
}

/// Where a chain starts: at +0, or at the partial sum an earlier block of p left in C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Zero,
    Continue,
}

/// A block of p: its first p, its length, where its chains start, and its epilogue.
type Block = (usize, usize, Start, Epilogue);

/// The blocks of p a product runs in, `kc` at a time where the chain can wait in C between them
/// (a product that adds to C runs in one block); the epilogue applies once, after the last. At
/// least one block, so that k = 0 still stores (or adds) its empty chains.
fn blocks(k: usize, kc: usize, epi: Epilogue) -> impl Iterator<Item = Block> {
    let kc = if epi == Epilogue::Store { kc } else { k.max(1) };
    let count = k.div_ceil(kc).max(1);
    (0..count).map(move |q| {
        let p0 = q * kc;
        let start = if p0 == 0 { Start::Zero } else { Start::Continue };
        (p0, kc.min(k - p0), start, if q + 1 == count { epi } else { Epilogue::Store })
    })
}

/// The chains of C's rows `rows` and columns `cols` over p < k, one element at a time: the
/// definition every path follows.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chains(
    a: Mat,
    b: Mat,
    c: &mut [f32],
    ldc: usize,
    (rows, cols): (std::ops::Range<usize>, std::ops::Range<usize>),
    k: usize,
    start: Start,
    epi: Epilogue,
) {
    for i in rows {
        for j in cols.clone() {
            let out = &mut c[i * ldc + j];
            let mut acc = if start == Start::Zero { 0.0f32 } else { *out };
            for p in 0..k {
                acc = a.at(i, p).mul_add(b.at(p, j), acc);
            }
            *out = if epi == Epilogue::Add { *out + acc } else { acc };
        }
    }
}

/// Chains a dot product keeps.
const LANES: usize = 8;

/// a·b summed as the module says.
#[inline(always)]
fn dot_chains(a: &[f32], b: &[f32]) -> f32 {
    let full = a.len() - a.len() % LANES;
    let mut acc = [0.0f32; LANES];
    for (x, y) in a[..full].chunks_exact(LANES).zip(b[..full].chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    tail(&acc, &a[full..], &b[full..])
}

/// The eight chains added in the fixed tree, then the leftover elements.
#[inline(always)]
fn tail(acc: &[f32; LANES], a: &[f32], b: &[f32]) -> f32 {
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in a.iter().zip(b) {
        s = x.mul_add(*y, s);
    }
    s
}

/// a·b.
pub fn dot(path: Path, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot of rows of different lengths");
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Fma256` and `Path::Fma512` are only chosen where the processor has
        // AVX2 and FMA.
        Path::Fma256 | Path::Fma512 => unsafe { avx::dot(a, b) },
        _ => dot_chains(a, b),
    }
}

/// Columns of a panel (see [`packed`]).
pub const PANEL: usize = 16;

/// Where element (p, j) of a k×n matrix stored in panels lies: the columns in panels of
/// [`PANEL`] (the last one narrower when n is not a multiple), each panel's k rows contiguous, so
/// that a product streams a panel row after row (a row-major matrix of 128 columns puts a
/// 16-column strip's rows 512 bytes apart, onto a few sets of the first-level cache).
#[inline(always)]
pub fn packed(p: usize, j: usize, k: usize, n: usize) -> usize {
    let (start, width) = panel(j / PANEL, k, n);
    start + p * width + j % PANEL
}

/// The offset and width of panel `q` of a k×n matrix stored in panels.
#[inline(always)]
pub fn panel(q: usize, k: usize, n: usize) -> (usize, usize) {
    (q * PANEL * k, (n - q * PANEL).min(PANEL))
}

/// Row `q` of an n×k matrix stored in panels, gathered.
fn packed_row(b: &[f32], n: usize, k: usize, q: usize) -> Vec<f32> {
    (0..k).map(|p| b[packed(q, p, n, k)]).collect()
}

/// C (m×n, row-major) = A·Bᵀ for A m×k row-major and B n×k stored in panels ([`packed`]): each
/// element the [`dot`] of a row of A and a row of B.
pub fn gemm_bt(path: Path, a: &[f32], b: &[f32], c: &mut [f32], (m, k, n): (usize, usize, usize)) {
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n, "gemm_bt: operands smaller than {m}×{k}×{n}");
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Fma256` and `Path::Fma512` are only chosen where the processor has
        // AVX2 and FMA; the sizes were checked just above.
        Path::Fma256 | Path::Fma512 => unsafe { avx::gemm_bt(a, b, c, (m, k, n)) },
        _ => {
            for j in 0..n {
                let row = packed_row(b, n, k, j);
                for i in 0..m {
                    c[i * n + j] = dot_chains(&a[i * k..][..k], &row);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    //! The same chains in AVX2 registers.
    use super::{blocks, chains, dot_chains, packed, packed_row, panel, tail, Epilogue, Mat, Start, LANES, PANEL};
    use std::arch::x86_64::*;

    /// Columns of C a tile holds: two registers.
    const NR: usize = 16;
    /// Rows of C a tile holds at most: 12 accumulators, 2 loads and a broadcast in 16 registers.
    const MR: usize = 6;
    /// Values of p a block takes at a time, so that its strip of B (KC × 16 floats, 16 KB) stays
    /// in the first-level cache while every row of A passes over it.
    const KC: usize = 256;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemm(
        a: Mat,
        b: Mat,
        c: &mut [f32],
        ldc: usize,
        (m, k, n): (usize, usize, usize),
        epi: Epilogue,
    ) {
        // SAFETY: the callers checked the bounds of every pointer read and written, and that
        // the processor has AVX2 and FMA.
        unsafe {
            for (p0, len, start, epi) in blocks(k, KC, epi) {
                let (ak, bk) = (a.past_col(p0), b.past_row(p0));
                for j in (0..n).step_by(NR) {
                    for i in (0..m).step_by(MR) {
                        let rows = (m - i).min(MR);
                        if n - j < NR {
                            chains(ak, bk, c, ldc, (i..i + rows, j..n), len, start, epi);
                            continue;
                        }
                        match rows {
                            6 => tile::<6>(ak, bk, c, ldc, (i, j, len), start, epi),
                            5 => tile::<5>(ak, bk, c, ldc, (i, j, len), start, epi),
                            4 => tile::<4>(ak, bk, c, ldc, (i, j, len), start, epi),
                            3 => tile::<3>(ak, bk, c, ldc, (i, j, len), start, epi),
                            2 => tile::<2>(ak, bk, c, ldc, (i, j, len), start, epi),
                            _ => tile::<1>(ak, bk, c, ldc, (i, j, len), start, epi),
                        }
                    }
                }
            }
        }
    }

    /// R rows × 16 columns of C from (i, j), chains over p < k, in 2R registers.
    #[inline(always)]
    unsafe fn tile<const R: usize>(
        a: Mat,
        b: Mat,
        c: &mut [f32],
        ldc: usize,
        (i, j, k): (usize, usize, usize),
        start: Start,
        epi: Epilogue,
    ) {
        // SAFETY: the callers checked the bounds of every pointer read and written, and that
        // the processor has AVX2 and FMA.
        unsafe {
            let mut lo = [_mm256_setzero_ps(); R];
            let mut hi = [_mm256_setzero_ps(); R];
            let out = c.as_mut_ptr().add(i * ldc + j);
            if start == Start::Continue {
                for r in 0..R {
                    lo[r] = _mm256_loadu_ps(out.add(r * ldc));
                    hi[r] = _mm256_loadu_ps(out.add(r * ldc + 8));
                }
            }
            let ap = a.data.as_ptr().add(i * a.row);
            let bp = b.data.as_ptr().add(j);
            for p in 0..k {
                let b0 = _mm256_loadu_ps(bp.add(p * b.row));
                let b1 = _mm256_loadu_ps(bp.add(p * b.row + 8));
                let ap = ap.add(p * a.col);
                for r in 0..R {
                    let x = _mm256_broadcast_ss(&*ap.add(r * a.row));
                    lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
                }
            }
            for r in 0..R {
                let o = out.add(r * ldc);
                if epi == Epilogue::Add {
                    lo[r] = _mm256_add_ps(_mm256_loadu_ps(o), lo[r]);
                    hi[r] = _mm256_add_ps(_mm256_loadu_ps(o.add(8)), hi[r]);
                }
                _mm256_storeu_ps(o, lo[r]);
                _mm256_storeu_ps(o.add(8), hi[r]);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        dot_chains(a, b)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemm_bt(a: &[f32], b: &[f32], c: &mut [f32], (m, k, n): (usize, usize, usize)) {
        // SAFETY: the callers checked the bounds of every pointer read and written, and that
        // the processor has AVX2 and FMA.
        unsafe {
            const TR: usize = 4;
            const TC: usize = 3;
            let full = k - k % LANES;
            // Rows j..j+3 of B, element p: in p's panel, at the row's place in it.
            let at = |q: usize, p: usize| b.as_ptr().add(packed(q, p, n, k));
            // The elements past the last whole eight all lie in the last panel, in order.
            let (last_start, last_width) = panel(k / PANEL, n, k);
            let rest = |q: usize| &b[last_start + q * last_width + full % PANEL..][..k - full];
            for i in (0..m).step_by(TR) {
                for j in (0..n).step_by(TC) {
                    if m - i < TR || n - j < TC {
                        for q in j..n.min(j + TC) {
                            let row = packed_row(b, n, k, q);
                            for r in i..m.min(i + TR) {
                                c[r * n + q] = dot_chains(&a[r * k..][..k], &row);
                            }
                        }
                        continue;
                    }
                    // Rows i..i+4 of A against rows j..j+3 of B: twelve registers of eight chains.
                    let mut acc = [_mm256_setzero_ps(); TR * TC];
                    let ap = a.as_ptr().add(i * k);
                    for p in (0..full).step_by(LANES) {
                        let y =
                            [_mm256_loadu_ps(at(j, p)), _mm256_loadu_ps(at(j + 1, p)), _mm256_loadu_ps(at(j + 2, p))];
                        for r in 0..TR {
                            let x = _mm256_loadu_ps(ap.add(r * k + p));
                            for q in 0..TC {
                                acc[r * TC + q] = _mm256_fmadd_ps(x, y[q], acc[r * TC + q]);
                            }
                        }
                    }
                    for r in 0..TR {
                        for q in 0..TC {
                            let mut lanes = [0.0f32; LANES];
                            _mm256_storeu_ps(lanes.as_mut_ptr(), acc[r * TC + q]);
                            c[(i + r) * n + j + q] = tail(&lanes, &a[(i + r) * k..][full..k], rest(j + q));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! [`super::gemm`]'s chains in AVX-512 registers: a tile is up to 16 rows of C by 16 columns,
    //! one register a row, so that a batch of 16 rows against a panel of 16 columns is one tile.
    //! Each lane is one element's chain, as in the AVX2 tiles: the same bits.
    use super::{blocks, chains, Epilogue, Mat, Start};
    use std::arch::x86_64::*;

    /// Columns of C a tile holds: one register.
    const NR: usize = 16;
    /// Values of p a block takes at a time, as in the AVX2 kernel (the strip of B, 16 KB, stays
    /// in the first-level cache while every row of A passes over it).
    const KC: usize = 256;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemm(
        a: Mat,
        b: Mat,
        c: &mut [f32],
        ldc: usize,
        (m, k, n): (usize, usize, usize),
        epi: Epilogue,
    ) {
        // SAFETY: the callers checked the bounds of every pointer read and written, and that
        // the processor has AVX-512F.
        unsafe {
            for (p0, len, start, epi) in blocks(k, KC, epi) {
                let (ak, bk) = (a.past_col(p0), b.past_row(p0));
                for j in (0..n).step_by(NR) {
                    if n - j < NR {
                        chains(ak, bk, c, ldc, (0..m, j..n), len, start, epi);
                        continue;
                    }
                    let mut i = 0;
                    while i < m {
                        let at = (i, j, len);
                        i += match m - i {
                            16.. => tile::<16>(ak, bk, c, ldc, at, start, epi),
                            8.. => tile::<8>(ak, bk, c, ldc, at, start, epi),
                            4.. => tile::<4>(ak, bk, c, ldc, at, start, epi),
                            2.. => tile::<2>(ak, bk, c, ldc, at, start, epi),
                            _ => tile::<1>(ak, bk, c, ldc, at, start, epi),
                        };
                    }
                }
            }
        }
    }

    /// R rows × 16 columns of C from (i, j), chains over p < k, in R registers; returns R.
    #[inline(always)]
    unsafe fn tile<const R: usize>(
        a: Mat,
        b: Mat,
        c: &mut [f32],
        ldc: usize,
        (i, j, k): (usize, usize, usize),
        start: Start,
        epi: Epilogue,
    ) -> usize {
        // SAFETY: the callers checked the bounds of every pointer read and written, and that
        // the processor has AVX-512F.
        unsafe {
            let mut acc = [_mm512_setzero_ps(); R];
            let out = c.as_mut_ptr().add(i * ldc + j);
            if start == Start::Continue {
                for (r, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_loadu_ps(out.add(r * ldc));
                }
            }
            let ap = a.data.as_ptr().add(i * a.row);
            let bp = b.data.as_ptr().add(j);
            for p in 0..k {
                let y = _mm512_loadu_ps(bp.add(p * b.row));
                let ap = ap.add(p * a.col);
                for (r, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(r * a.row)), y, *acc);
                }
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let o = out.add(r * ldc);
                if epi == Epilogue::Add {
                    *acc = _mm512_add_ps(_mm512_loadu_ps(o), *acc);
                }
                _mm512_storeu_ps(o, *acc);
            }
            R
        }
    }
}

/// ReLU that keeps a NaN (a diverged run must show as one): x < 0 → 0, otherwise x.
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// e^x for x ≤ 0, to about 2 ulp (Cephes' expf: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by a
/// polynomial, then 2^n); 0 below −87, where e^x would be subnormal.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let below = x < -87.0;
    let x = if below { -87.0 } else { x };
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e = (p * (r * r) + r) + 1.0;
    if below {
        0.0
    } else {
        e * f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
}

/// Φ(x) (the standard normal CDF) and φ(x) (its density), from erfc by Abramowitz & Stegun 7.1.26
/// (absolute error ≤ 1.5·10^−7, PyTorch's own CPU GELU uses the same formula): with
/// z = |x|/√2, t = 1/(1 + 0.3275911·z), erfc(z) ≈ t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·e^{−z²}.
#[inline(always)]
pub fn normal_cdf_pdf(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152, 1.061_405_4];
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z);
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    let gauss = exp_nonpositive(-(z * z));
    // Half of erfc(|x|/√2): the normal tail beyond |x|.
    let half_tail = 0.5 * (poly * gauss);
    let cdf = if x >= 0.0 { 1.0 - half_tail } else { half_tail };
    // NaN in, NaN out (the comparison above sent it to the tail, which is NaN).
    (cdf, gauss * FRAC_1_SQRT_2PI)
}

/// 1/√(2π).
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// GELU, x·Φ(x).
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    x * normal_cdf_pdf(x).0
}

/// GELU and its derivative Φ(x) + x·φ(x).
#[inline(always)]
pub fn gelu_and_slope(x: f32) -> (f32, f32) {
    let (cdf, pdf) = normal_cdf_pdf(x);
    (x * cdf, cdf + x * pdf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()) && a.len() == b.len()
    }

    /// Every path gives the bits of the one-element-at-a-time definition, at the shapes training
    /// uses and at odd ones (partial tiles, p in several blocks, strided A).
    #[test]
    fn every_path_gives_the_definitions_bits() {
        for &(m, k, n) in &[
            (16, 784, 128),
            (7, 300, 37),
            (1, 1, 1),
            (13, 16, 128),
            (6, 520, 16),
            (5, 9, 3),
            (9, 27, 40),
            (4, 24, 6),
            (31, 600, 33),
        ] {
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let at: Vec<f32> = (0..k * m).map(|q| a[(q % m) * k + q / m]).collect();
            for epi in [Epilogue::Store, Epilogue::Add] {
                let init = values(m * n, 3);
                let mut want = init.clone();
                chains(Mat::rows(&a, k), Mat::rows(&b, n), &mut want, n, (0..m, 0..n), k, Start::Zero, epi);
                for path in Path::available() {
                    for a in [Mat::rows(&a, k), Mat::transposed(&at, m)] {
                        let mut c = init.clone();
                        gemm(path, a, Mat::rows(&b, n), &mut c, n, (m, k, n), epi);
                        assert!(same_bits(&c, &want), "{path:?} {m}×{k}×{n} {epi:?}");
                    }
                }
            }
            let bt = values(n * k, 4);
            let mut panels = vec![0.0; n * k];
            for q in 0..n {
                for p in 0..k {
                    panels[packed(q, p, n, k)] = bt[q * k + p];
                }
            }
            let want: Vec<f32> = (0..m * n).map(|q| dot_chains(&a[q / n * k..][..k], &bt[q % n * k..][..k])).collect();
            for path in Path::available() {
                let mut c = vec![0.0; m * n];
                gemm_bt(path, &a, &panels, &mut c, (m, k, n));
                assert!(same_bits(&c, &want), "{path:?} bt {m}×{k}×{n}");
                assert_eq!(dot(path, &a[..k], &bt[..k]).to_bits(), want[0].to_bits());
            }
        }
    }

    /// The chains really are fused and in order: a sum whose rounding tells them apart.
    #[test]
    fn a_chain_is_fused_multiply_adds_in_order() {
        // 1 + 2^-24 is not a float; the fused chain keeps the 2^-24 that a separate product and
        // sum would round away, and the order decides whether the 1 comes first.
        let a = [1.0 + f32::EPSILON, -1.0];
        let b = [1.0 + f32::EPSILON, 1.0];
        let mut c = [0.0f32];
        for path in Path::available() {
            gemm(path, Mat::rows(&a, 2), Mat::rows(&b, 1), &mut c, 1, (1, 2, 1), Epilogue::Store);
            // (1+ε)² = 1 + 2ε + ε², rounded once to 1 + 2ε; then −1 exactly: 2ε.
            assert_eq!(c[0], 2.0 * f32::EPSILON, "{path:?}");
        }
    }

    #[test]
    fn gelu_is_within_its_stated_error() {
        for i in -4000..=4000 {
            let x = i as f32 / 250.0;
            let xd = x as f64;
            let cdf = 0.5 * libm::erfc(-xd / std::f64::consts::SQRT_2);
            let pdf = (-0.5 * xd * xd).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let (c, p) = normal_cdf_pdf(x);
            assert!((c as f64 - cdf).abs() <= 1.5e-7 + 1e-7, "Φ({x}) = {c}, want {cdf}");
            // z² carries one rounding, which e^−z²/2 turns into a relative error of up to z²·2^−24.
            assert!((p as f64 - pdf).abs() <= 4e-7 * (1.0 + xd * xd) * pdf + 1e-30, "φ({x}) = {p}, want {pdf}");
            let (g, s) = gelu_and_slope(x);
            assert!((g as f64 - xd * cdf).abs() <= (1.5e-7 + 2e-7) * xd.abs().max(1e-3) + 1e-9, "gelu({x})");
            assert!((s as f64 - (cdf + xd * pdf)).abs() <= 1e-6, "gelu'({x})");
        }
        assert!(gelu(f32::NAN).is_nan());
        assert_eq!(gelu(0.0), 0.0);
        assert_eq!(gelu(-30.0), 0.0);
        assert_eq!(gelu(30.0), 30.0);
        assert!(relu(f32::NAN).is_nan());
    }
}

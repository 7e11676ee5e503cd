//! The fully connected net's SGD step written out by hand, for one run or R stacked replicas.
//!
//! Autograd is built for arbitrary graphs; this step is always the same five products forward,
//! the hinge loss on 16 numbers and the products backward. Written out it costs a third of the
//! operations: the forward keeps its activations, the loss and its gradient are computed on the
//! host from the B outputs (the step must read the batch loss there anyway), and each weight is
//! updated in place by one product, w += (−dt·∂L/∂a)ᵀ·z, so the gradient is never stored.
//!
//! Tensors carry an optional leading replica dimension: weights [R, out, in] and inputs [R, B, d]
//! take batched products, a single run's [out, in] and [B, d] plain ones. Host arithmetic
//! reproduces the run's precision exactly: each f64 operation on float32 values is rounded back
//! to float32, which gives the float32 result (53 ≥ 2·24 + 2 bits, so the double rounding is
//! innocuous).

use tch::{Kind, Tensor};

use super::apply::{Activation, Apply};
use super::model::{product_column_major, FcScales, Net};

/// The batch's hinge loss and its gradient with respect to the raw outputs, on the host, in the
/// run's precision (shared by the libtorch step and the CPU's own, `fc_cpu`).
#[derive(Clone, Copy)]
pub(super) struct Hinge {
    /// The output factor in the run's precision.
    out: f64,
    round: fn(f64) -> f64,
}

/// The per-step buffers and constants of a fully connected net.
pub(super) struct FcStep {
    act: Activation,
    scales: FcScales,
    /// c·s_l per hidden layer (the activation's derivative factor when not folded).
    gains: Vec<f64>,
    pub(super) hinge: Hinge,
    /// z_0 (the batch) … z_L of the last forward pass (z̃ when folded), and s·a for gelu.
    z: Vec<Tensor>,
    pre: Vec<Tensor>,
}

fn round_f32(x: f64) -> f64 {
    x as f32 as f64
}

fn round_f64(x: f64) -> f64 {
    x
}

/// a·b for [.., m, k]·[.., k, n] with or without a replica dimension.
fn product(a: &Tensor, b: &Tensor) -> Tensor {
    if a.dim() == 2 {
        a.mm(b)
    } else {
        a.bmm(b)
    }
}

/// acc += a·b in place.
fn add_product(acc: &mut Tensor, a: &Tensor, b: &Tensor) {
    let _ = if acc.dim() == 2 { acc.addmm_(a, b) } else { acc.baddbmm_(a, b) };
}

/// The layout the step wants for the first layer's weights [.., h, d]: stored column-major (a
/// transposed view of a contiguous [.., d, h]), the forward product x·W₁ᵀ is twice as fast and
/// the update costs about the same. Values and shape are unchanged.
pub(super) fn first_layer_layout(w: &Tensor) -> Tensor {
    w.transpose(-2, -1).contiguous().transpose(-2, -1)
}

impl FcStep {
    pub(super) fn new(net: &Net, kind: Kind) -> FcStep {
        let act = net.spec.act;
        let scales = net.fc_scales();
        let gains = scales.pre.iter().map(|s| s * act.gain()).collect();
        FcStep { act, hinge: Hinge::new(scales.out, kind), scales, gains, z: Vec::new(), pre: Vec::new() }
    }

    /// Raw outputs w_out·z_L ([.., B], before the output factor) for the batch `xb` ([.., B, d]),
    /// keeping what the backward pass needs.
    pub(super) fn forward(&mut self, w: &[Tensor], xb: Tensor) -> Tensor {
        let depth = self.gains.len();
        self.z.clear();
        self.pre.clear();
        self.z.push(xb);
        for (l, wl) in w[..depth].iter().enumerate() {
            if self.scales.folded {
                let mut a = product(&self.z[l], &wl.transpose(-2, -1));
                let _ = a.relu_();
                self.z.push(a);
            } else {
                let mut a = product_column_major(&self.z[l], &wl.transpose(-2, -1));
                let _ = a.g_mul_scalar_(self.scales.pre[l]);
                self.z.push(self.act.apply(&a));
                self.pre.push(a);
            }
        }
        product(&self.z[depth], &w[depth].unsqueeze(-1)).squeeze_dim(-1)
    }

    /// Updates `w` in place by one descent step, given u = −dt·∂L/∂raw ([.., B]) for the batch of
    /// the last forward pass (dt folded in per replica; a zero row leaves a replica unchanged).
    pub(super) fn descend(&self, w: &mut [Tensor], u: &Tensor) {
        self.descend_with(w, &self.z, &self.pre, u);
    }

    /// [`FcStep::descend`] for the replicas at `which` only, one after the other: cheaper than the
    /// batched step when few replicas have a positive batch loss, the others' rows being zero.
    pub(super) fn descend_some(&self, w: &[Tensor], u: &Tensor, which: &[usize]) {
        for &k in which {
            let k = k as i64;
            let pick = |ts: &[Tensor]| ts.iter().map(|t| t.select(0, k)).collect::<Vec<_>>();
            self.descend_with(&mut pick(w), &pick(&self.z), &pick(&self.pre), &u.select(0, k));
        }
    }

    fn descend_with(&self, w: &mut [Tensor], z: &[Tensor], pre: &[Tensor], u: &Tensor) {
        let depth = self.gains.len();
        let u = u.unsqueeze(-1);
        // dz is the descent direction for z_l: −dt·∂L/∂z_l (column-major when not folded, like
        // the activations).
        let times = if self.scales.folded { product } else { product_column_major };
        let mut dz = times(&u, &w[depth].unsqueeze(-2));
        add_product(&mut w[depth].unsqueeze(-1), &z[depth].transpose(-2, -1), &u);
        for l in (0..depth).rev() {
            let da = if self.scales.folded {
                z[l + 1].threshold_backward(&dz, 0.0)
            } else {
                let mut da = match self.act {
                    Activation::Relu => z[l + 1].threshold_backward(&dz, 0.0),
                    Activation::Gelu => pre[l].gelu_backward(&dz, "none"),
                };
                let _ = da.g_mul_scalar_(self.gains[l]);
                da
            };
            if l > 0 {
                dz = times(&da, &w[l]);
            }
            add_product(&mut w[l], &da.transpose(-2, -1), &z[l]);
        }
    }
}

impl Hinge {
    /// For a net whose output factor is `out`, in the precision of `kind`.
    pub(super) fn new(out: f64, kind: Kind) -> Hinge {
        let round = if kind == Kind::Float { round_f32 } else { round_f64 };
        Hinge { out: round(out), round }
    }

    /// The batch's hinge loss mean max(0, 1 − α·y·f)/α from the raw outputs of the training
    /// points `idx` (labels `y`, centring outputs `f0`), with f = out·raw − f0 computed in the
    /// run's precision; writes u = −dt·∂L/∂raw into `u` and returns the loss (non-finite when an
    /// output is).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn loss(
        &self,
        raw: &[f64],
        idx: &[i64],
        y: &[f64],
        f0: &[f64],
        alpha: f64,
        dt: f64,
        u: &mut [f64],
    ) -> f64 {
        let r = self.round;
        let n = raw.len() as f64;
        let alpha_r = r(alpha);
        let coef = dt * self.out / n;
        let mut loss = 0.0;
        for (b, &i) in idx.iter().enumerate() {
            let (y, f0) = (y[i as usize], f0[i as usize]);
            let f = r(r(raw[b] * self.out) - f0);
            let m = r(r(f * y) * alpha_r);
            let gap = 1.0 - m;
            if gap > 0.0 || gap.is_nan() {
                loss += gap;
                u[b] = r(coef * y);
            } else {
                u[b] = 0.0;
            }
        }
        loss / (n * alpha)
    }
}

/// The values of a tensor on the host, as f64.
pub(super) fn to_host(t: &Tensor) -> Vec<f64> {
    let n = t.numel();
    match t.kind() {
        Kind::Float => {
            let mut v = vec![0f32; n];
            t.copy_data(&mut v, n);
            v.into_iter().map(f64::from).collect()
        }
        _ => {
            let mut v = vec![0f64; n];
            t.to_kind(Kind::Double).copy_data(&mut v, n);
            v
        }
    }
}

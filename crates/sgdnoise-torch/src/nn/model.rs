//! The three architectures of the paper, as plain parameter lists and a forward function.
//!
//! All weights are N(0, 1) at initialisation (drawn by our own generator, so the initial
//! weights of a seed do not depend on libtorch, the device or the thread count); the scale of
//! every layer is in the forward pass: a fully connected layer divides by √fan_in, the output
//! layer by h (mean-field), convolutions by k·√C_in, depthwise convolutions by k. Convolutions
//! pad like TensorFlow's "SAME" (extra padding at the bottom/right), as the authors' code did.

use tch::{Device, Kind, Tensor};

use super::apply::Apply;
use sgdnoise_core::rng::{Rng, Stream};
pub use sgdnoise_core::run::{Activation, ArchKind, ArchSpec};

/// The constant factors of the fully connected net F = (1/h)·w_out·z_L, z_l = c·φ(s_l·W_l·z_{l−1}),
/// s_l = 1/√fan_in. With ReLU they are all gathered into one factor at the output (`folded`):
/// the hidden layers are then plain products and ReLUs, z̃_l = relu(W_l·z̃_{l−1}), and
/// F = out·w_out·z̃_L — the same function with one multiplication instead of L + 1.
#[derive(Debug, Clone)]
pub struct FcScales {
    pub folded: bool,
    /// The factor applied to w_out·z_L (or to w_out·z̃_L when folded).
    pub out: f64,
    /// s_l per hidden layer (used when not folded).
    pub pre: Vec<f64>,
}

/// One weight tensor's role, for per-layer observables.
#[derive(Debug, Clone, Copy)]
enum Layer {
    /// Dense [out, in], divided by √in.
    Dense,
    /// Output vector [h], divided by h.
    Readout,
    /// Perceptron [d], divided by √d.
    Perceptron,
    /// Convolution [out, in, k, k] with stride, divided by k·√in.
    Conv {
        stride: i64,
    },
    /// Depthwise convolution [c, 1, k, k] with stride, divided by k.
    Depthwise {
        stride: i64,
    },
    /// Head readout [20h] plus bias, divided by 20h.
    Head,
    HeadBias,
}

/// A network: the architecture and its parameter layout. The weights themselves are passed to
/// [`Net::forward`] so the same net serves the current and the initial weights.
#[derive(Debug, Clone)]
pub struct Net {
    pub spec: ArchSpec,
    layers: Vec<(String, Layer, Vec<i64>)>,
    /// Residual connections of the MnasNet blocks: (first param index of the block, last).
    blocks: Vec<(usize, usize, bool)>,
    /// Index of the first inverted-residual block's parameter (mnas).
    stem_len: usize,
}

/// An architecture that cannot be built for the data: what is wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArchError(pub String);

impl Net {
    /// The layout for inputs of `sample_shape` (channels first for images).
    pub fn new(spec: ArchSpec, sample_shape: &[usize]) -> Result<Net, ArchError> {
        let d: i64 = sample_shape.iter().product::<usize>() as i64;
        let h = spec.width as i64;
        let mut layers = Vec::new();
        let mut blocks = Vec::new();
        let mut stem_len = 0;
        match spec.kind {
            ArchKind::Linear => layers.push(("w".to_owned(), Layer::Perceptron, vec![d])),
            ArchKind::Fc => {
                if spec.depth == 0 || spec.width == 0 {
                    return Err(ArchError(format!(
                        "fc needs depth ≥ 1 and width ≥ 1 (depth {}, width {})",
                        spec.depth, spec.width
                    )));
                }
                let mut fan_in = d;
                for l in 0..spec.depth {
                    layers.push((format!("W{}", l + 1), Layer::Dense, vec![h, fan_in]));
                    fan_in = h;
                }
                layers.push(("w_out".to_owned(), Layer::Readout, vec![h]));
            }
            ArchKind::Mnas => {
                if sample_shape.len() != 3 {
                    return Err(ArchError(format!(
                        "mnas needs images (channels, height, width), got shape {sample_shape:?}"
                    )));
                }
                if spec.width == 0 {
                    return Err(ArchError("mnas needs width ≥ 1".into()));
                }
                let c_in = sample_shape[0] as i64;
                layers.push(("stem.conv".into(), Layer::Conv { stride: 2 }, vec![4 * h, c_in, 5, 5]));
                layers.push(("stem.dw".into(), Layer::Depthwise { stride: 1 }, vec![4 * h, 1, 5, 5]));
                layers.push(("stem.pw".into(), Layer::Conv { stride: 1 }, vec![2 * h, 4 * h, 1, 1]));
                stem_len = layers.len();
                let mut c = 2 * h;
                for (i, (out, stride)) in [(h, 2), (h, 1), (3 * h, 2), (3 * h, 1)].into_iter().enumerate() {
                    let mid = 3 * c;
                    let first = layers.len();
                    layers.push((format!("block{}.expand", i + 1), Layer::Conv { stride: 1 }, vec![mid, c, 1, 1]));
                    layers.push((format!("block{}.dw", i + 1), Layer::Depthwise { stride }, vec![mid, 1, 5, 5]));
                    layers.push((format!("block{}.project", i + 1), Layer::Conv { stride: 1 }, vec![out, mid, 1, 1]));
                    blocks.push((first, first + 2, stride == 1 && out == c));
                    c = out;
                }
                layers.push(("head.conv".into(), Layer::Conv { stride: 1 }, vec![20 * h, c, 1, 1]));
                layers.push(("head.linear".into(), Layer::Head, vec![20 * h]));
                layers.push(("head.bias".into(), Layer::HeadBias, vec![1]));
            }
        }
        Ok(Net { spec, layers, blocks, stem_len })
    }

    pub fn param_names(&self) -> Vec<&str> {
        self.layers.iter().map(|(n, _, _)| n.as_str()).collect()
    }

    /// Number of trainable scalars.
    pub fn param_count(&self) -> i64 {
        self.layers.iter().map(|(_, _, s)| s.iter().product::<i64>()).sum()
    }

    /// Initial weights N(0,1) from the run's init stream, in layer order.
    pub fn init(&self, seed: u64, kind: Kind, device: Device) -> Vec<Tensor> {
        self.init_values(seed)
            .iter()
            .zip(&self.layers)
            .map(|(values, (_, _, shape))| {
                Tensor::from_slice(values).to_kind(kind).reshape(shape.as_slice()).to_device(device)
            })
            .collect()
    }

    /// The initial weights' values, in layer order, each tensor's flattened row-major.
    pub fn init_values(&self, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Rng::stream(seed, Stream::Init);
        self.layers
            .iter()
            .map(|(_, _, shape)| (0..shape.iter().product::<i64>()).map(|_| rng.normal()).collect())
            .collect()
    }

    /// The network's raw output F(w, x), shape [N]. `x` is [N, ...sample shape].
    pub fn forward(&self, w: &[Tensor], x: &Tensor) -> Tensor {
        match self.spec.kind {
            ArchKind::Linear => {
                let d = w[0].size()[0];
                x.flatten(1, -1).mv(&w[0]) * (1.0 / (d as f64).sqrt())
            }
            ArchKind::Fc => self.forward_fc(w, x.flatten(1, -1)),
            ArchKind::Mnas => self.forward_mnas(w, x),
        }
    }

    /// Outputs of R replicas at once for the fully connected net: weights stacked along a first
    /// replica dimension ([R, out, in], [R, h]) and inputs [R, n, …]; returns [R, n].
    pub fn forward_replicas(&self, w: &[Tensor], x: &Tensor) -> Tensor {
        assert_eq!(self.spec.kind, ArchKind::Fc, "batched replicas are implemented for fc");
        self.forward_fc(w, x.flatten(2, -1))
    }

    /// The fully connected forward pass on [.., n, d] inputs, with or without a replica dimension.
    fn forward_fc(&self, w: &[Tensor], x: Tensor) -> Tensor {
        let scales = self.fc_scales();
        let mut z = x;
        for (l, wl) in w[..self.spec.depth].iter().enumerate() {
            z = if scales.folded {
                z.matmul(&wl.transpose(-2, -1)).relu()
            } else {
                self.spec.act.apply_scaled(&product_column_major(&z, &wl.transpose(-2, -1)), scales.pre[l])
            };
        }
        z.matmul(&w[self.spec.depth].unsqueeze(-1)).squeeze_dim(-1) * scales.out
    }

    /// Where the fully connected net's constant factors go (see [`FcScales`]).
    pub fn fc_scales(&self) -> FcScales {
        let pre: Vec<f64> = self.layers[..self.spec.depth].iter().map(|(_, _, s)| 1.0 / (s[1] as f64).sqrt()).collect();
        let gain = self.spec.act.gain();
        let product: f64 = pre.iter().map(|s| s * gain).product();
        let out = 1.0 / self.spec.width as f64;
        // ReLU is positively homogeneous: c·relu(s·a) = c·s·relu(a), so every factor can move to
        // the output, while the unscaled activations stay far from overflow.
        let folded = self.spec.act == Activation::Relu && product > 1e-30;
        FcScales { folded, out: if folded { out * product } else { out }, pre }
    }

    fn forward_mnas(&self, w: &[Tensor], x: &Tensor) -> Tensor {
        let act = self.spec.act;
        let mut z = x.shallow_clone();
        for (i, wi) in w.iter().enumerate().take(self.stem_len) {
            z = act.apply(&self.conv(i, wi, &z));
        }
        for &(first, last, residual) in &self.blocks {
            let input = z.shallow_clone();
            z = act.apply(&self.conv(first, &w[first], &z));
            z = act.apply(&self.conv(first + 1, &w[first + 1], &z));
            z = self.conv(last, &w[last], &z);
            if residual {
                z = (z + input) * std::f64::consts::FRAC_1_SQRT_2;
            }
        }
        let head = self.blocks.last().map(|b| b.1 + 1).unwrap_or(self.stem_len);
        z = act.apply(&self.conv(head, &w[head], &z));
        let pooled = z.mean_dim([2i64, 3].as_slice(), false, None::<Kind>);
        let c = w[head + 1].size()[0] as f64;
        (pooled.mv(&w[head + 1]) + &w[head + 2]) * (1.0 / c)
    }

    fn conv(&self, index: usize, weight: &Tensor, z: &Tensor) -> Tensor {
        let (layer, shape) = (&self.layers[index].1, &self.layers[index].2);
        let k = shape[2];
        let (stride, groups, scale) = match *layer {
            Layer::Conv { stride } => (stride, 1, 1.0 / (k as f64 * (shape[1] as f64).sqrt())),
            Layer::Depthwise { stride } => (stride, shape[0], 1.0 / k as f64),
            _ => unreachable!("layer {index} is not a convolution"),
        };
        let padded = same_pad(z, k, stride);
        padded.conv2d(weight, None::<Tensor>, [stride, stride], [0i64, 0], [1i64, 1], groups) * scale
    }

    /// The floats one sample's largest activation holds (mnas: the widest convolution output,
    /// padding included), to size full-set passes to a memory budget.
    pub fn widest_activation(&self, sample_shape: &[usize]) -> usize {
        let flat: usize = sample_shape.iter().product();
        if self.spec.kind != ArchKind::Mnas || sample_shape.len() != 3 {
            return flat.max(self.spec.width);
        }
        let (mut h, mut w) = (sample_shape[1], sample_shape[2]);
        let mut widest = flat;
        for (_, layer, shape) in &self.layers {
            let stride = match *layer {
                Layer::Conv { stride } | Layer::Depthwise { stride } => stride as usize,
                _ => continue,
            };
            let k = shape[2] as usize;
            // The padded input, then the output.
            widest = widest.max(shape[0] as usize * (h + k) * (w + k));
            h = h.div_ceil(stride);
            w = w.div_ceil(stride);
            widest = widest.max(shape[0] as usize * h * w);
        }
        widest
    }

    /// Which parameter indices form each reported layer group (each tensor is its own group).
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }
}

/// a·b for [.., m, k]·[.., k, n], the result laid out column-major (a transposed view of a
/// contiguous [.., n, m]). Elementwise kernels then keep that layout, and libtorch's GELU on a
/// non-contiguous input takes its own vectorised kernel instead of oneDNN's, whose fixed cost
/// (~10 µs forward, ~25 µs backward per call) dwarfs a [16, 128] activation. Same values.
pub(super) fn product_column_major(a: &Tensor, b: &Tensor) -> Tensor {
    b.transpose(-2, -1).matmul(&a.transpose(-2, -1)).transpose(-2, -1)
}

/// Pads [N, C, H, W] like TensorFlow's "SAME": output size ⌈in/stride⌉, the odd pixel of padding
/// at the bottom/right.
fn same_pad(z: &Tensor, k: i64, stride: i64) -> Tensor {
    let size = z.size();
    let pads = |n: i64| {
        let out = (n + stride - 1) / stride;
        let total = ((out - 1) * stride + k - n).max(0);
        (total / 2, total - total / 2)
    };
    let (top, bottom) = pads(size[2]);
    let (left, right) = pads(size[3]);
    if top == 0 && bottom == 0 && left == 0 && right == 0 {
        return z.shallow_clone();
    }
    z.constant_pad_nd([left, right, top, bottom])
}

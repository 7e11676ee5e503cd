//! The binary classification tasks of the paper and the deterministic train/test draws.
//!
//! Image tasks pool the official train and test images; the test set (a parameter, 32768 in the
//! paper) is drawn from the pool with a fixed test seed, and the P training points from the rest
//! with the run's seed, so the training set changes with the seed and never meets the test set.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::sources::{fashion_file, hash_cifar, hash_fashion, verify_mnist, DataPaths};
use super::{cifar, depleted, idx, DataError};
use crate::rng::{Rng, Stream};

/// MNIST pixel normalisation (shared/DESIGN.md): x = (pixel − 33.31) / 78.57.
pub const MNIST_MEAN: f32 = 33.31;
pub const MNIST_STD: f32 = 78.57;
/// CIFAR-10 normalisation (shared/DESIGN.md): x = (pixel − 120.93) / 64.14 per channel value.
pub const CIFAR_MEAN: f32 = 120.93;
pub const CIFAR_STD: f32 = 64.14;
/// Fashion-MNIST normalisation: the mean and standard deviation of its training pixels.
pub const FASHION_MEAN: f32 = 72.94;
pub const FASHION_STD: f32 = 90.02;

/// Which task a run learns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "data", rename_all = "kebab-case")]
pub enum DataSpec {
    /// MNIST, y = +1 for even digits, −1 for odd.
    MnistParity,
    /// Fashion-MNIST, y = +1 for even class indices (T-shirt, pullover, coat, shirt, bag),
    /// −1 for odd (trouser, dress, sandal, sneaker, ankle boot).
    FashionParity,
    /// CIFAR-10, y = −1 for plane, car, ship, truck (0, 1, 8, 9), +1 for the animals.
    CifarAnimals,
    /// Synthetic perceptron data with a depleted density ∝ |x1|^χ e^{−x1²/2} along the teacher.
    Depleted { chi: f64, dim: usize },
}

crate::named_enum! {
    /// A task by name, as pipelines and `--data` write it.
    pub enum DataName {
        MnistParity = "mnist-parity" | "mnist",
        FashionParity = "fashion-parity" | "fashion",
        CifarAnimals = "cifar-animals" | "cifar",
        Depleted = "depleted",
    }
}

impl DataName {
    pub fn is_image(self) -> bool {
        self != DataName::Depleted
    }
}

impl DataSpec {
    pub fn name(&self) -> &'static str {
        self.data_name().name()
    }

    pub fn data_name(&self) -> DataName {
        match self {
            DataSpec::MnistParity => DataName::MnistParity,
            DataSpec::FashionParity => DataName::FashionParity,
            DataSpec::CifarAnimals => DataName::CifarAnimals,
            DataSpec::Depleted { .. } => DataName::Depleted,
        }
    }

    /// The task of a name; `depleted` needs χ and d.
    pub fn of(name: DataName, chi: Option<f64>, dim: Option<usize>) -> Result<DataSpec, DataError> {
        Ok(match name {
            DataName::MnistParity => DataSpec::MnistParity,
            DataName::FashionParity => DataSpec::FashionParity,
            DataName::CifarAnimals => DataSpec::CifarAnimals,
            DataName::Depleted => DataSpec::Depleted {
                chi: chi.ok_or_else(|| DataError::Invalid("data depleted needs chi (--chi)".into()))?,
                dim: dim.ok_or_else(|| DataError::Invalid("data depleted needs dim (--dim)".into()))?,
            },
        })
    }

    pub fn is_image(&self) -> bool {
        !matches!(self, DataSpec::Depleted { .. })
    }
}

/// The pooled raw images of an image task, with ±1 labels, not yet normalised.
#[derive(Debug, Clone)]
pub struct Pool {
    pub spec: DataSpec,
    /// Shape of one sample, channels first: [1, 28, 28] or [3, 32, 32].
    pub sample_shape: Vec<usize>,
    pub pixels: Vec<u8>,
    pub labels: Vec<f32>,
    /// The raw files read, with their sha256: what the pool's provenance reaches.
    pub sources: Vec<(PathBuf, String)>,
    pub(crate) mean: f32,
    pub(crate) std: f32,
}

impl Pool {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Loads and verifies the raw files of an image task.
    pub fn load(spec: &DataSpec, paths: &DataPaths) -> Result<Pool, DataError> {
        match spec {
            DataSpec::MnistParity => {
                let sources = verify_mnist(&paths.mnist)?;
                let files = [[&sources[0].0, &sources[1].0], [&sources[2].0, &sources[3].0]];
                Self::parity_of_idx(spec, files, sources.clone(), MNIST_MEAN, MNIST_STD)
            }
            DataSpec::FashionParity => {
                let sources = hash_fashion(&paths.fashion)?;
                let f = |n| fashion_file(&paths.fashion, n);
                let (ti, tl, ei, el) = (
                    f("train-images-idx3-ubyte")?,
                    f("train-labels-idx1-ubyte")?,
                    f("t10k-images-idx3-ubyte")?,
                    f("t10k-labels-idx1-ubyte")?,
                );
                Self::parity_of_idx(spec, [[&ti, &tl], [&ei, &el]], sources, FASHION_MEAN, FASHION_STD)
            }
            DataSpec::CifarAnimals => {
                let sources = hash_cifar(&paths.cifar)?;
                let images = cifar::read_cifar_dir(&paths.cifar)?;
                let labels =
                    images.labels.iter().map(|&c| if matches!(c, 0 | 1 | 8 | 9) { -1.0 } else { 1.0 }).collect();
                Ok(Pool {
                    spec: spec.clone(),
                    sample_shape: vec![3, 32, 32],
                    pixels: images.pixels,
                    labels,
                    sources,
                    mean: CIFAR_MEAN,
                    std: CIFAR_STD,
                })
            }
            DataSpec::Depleted { .. } => Err(DataError::Invalid("depleted data has no pool of images".into())),
        }
    }

    /// A 28×28 task from IDX train and test pairs, y = +1 for even class indices.
    fn parity_of_idx(
        spec: &DataSpec,
        [train, test]: [[&PathBuf; 2]; 2],
        sources: Vec<(PathBuf, String)>,
        mean: f32,
        std: f32,
    ) -> Result<Pool, DataError> {
        let (pixels, classes) = read_idx_pair(train, test)?;
        let labels = classes.iter().map(|&d| if d % 2 == 0 { 1.0 } else { -1.0 }).collect();
        Ok(Pool { spec: spec.clone(), sample_shape: vec![1, 28, 28], pixels, labels, sources, mean, std })
    }

    /// Normalised samples at `indices`, concatenated.
    pub fn features(&self, indices: &[usize]) -> Vec<f32> {
        let n = self.sample_len();
        let mut out = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            out.extend(self.pixels[i * n..(i + 1) * n].iter().map(|&p| (p as f32 - self.mean) / self.std));
        }
        out
    }

    /// Splits the pool: the first `test_size` of a permutation drawn with `test_seed` are the test
    /// set; the rest, in pool order, are what training sets are drawn from.
    pub fn split(&self, test_size: usize, test_seed: u64) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        if test_size >= self.len() {
            return Err(DataError::Invalid(format!(
                "test size {test_size} leaves no training images out of the {} pooled {} images",
                self.len(),
                self.spec.name()
            )));
        }
        let perm = Rng::stream(test_seed, Stream::TestSplit).permutation(self.len());
        let test = perm[..test_size].to_vec();
        let mut rest = perm[test_size..].to_vec();
        rest.sort_unstable();
        Ok((test, rest))
    }
}

fn read_idx_pair(train: [&PathBuf; 2], test: [&PathBuf; 2]) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for [images, classes] in [train, test] {
        let im = idx::read_idx(images)?;
        let lb = idx::read_idx(classes)?;
        if im.dims.len() != 3 || im.dims[1..] != [28, 28] {
            return Err(DataError::Corrupt {
                path: images.clone(),
                why: format!("image dimensions {:?}, expected [n, 28, 28]", im.dims),
            });
        }
        if lb.dims != [im.dims[0]] {
            return Err(DataError::Corrupt {
                path: classes.clone(),
                why: format!("{} labels for {} images", lb.dims.first().copied().unwrap_or(0), im.dims[0]),
            });
        }
        pixels.extend_from_slice(&im.data);
        labels.extend_from_slice(&lb.data);
    }
    Ok((pixels, labels))
}

/// The data one run trains and is tested on, normalised, row-major.
#[derive(Debug, Clone)]
pub struct RunData {
    pub sample_shape: Vec<usize>,
    pub x_train: Vec<f32>,
    pub y_train: Vec<f32>,
    /// Shared by the runs drawn from one prepared pool, which is how a worker tells that two runs
    /// have one test set without reading it.
    pub x_test: Arc<Vec<f32>>,
    pub y_test: Vec<f32>,
    /// Pool indices of the training points (image tasks), for audits.
    pub train_indices: Vec<usize>,
    pub sources: Vec<(PathBuf, String)>,
}

impl RunData {
    pub fn p(&self) -> usize {
        self.y_train.len()
    }

    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Draws P training points with `seed` from the pool minus the test set of `test_seed`.
    pub fn from_pool(pool: &Pool, p: usize, test_size: usize, seed: u64, test_seed: u64) -> Result<RunData, DataError> {
        let (test, rest) = pool.split(test_size, test_seed)?;
        Self::from_split(pool, &test, &rest, p, seed)
    }

    /// As [`RunData::from_pool`], with the split already made.
    pub fn from_split(pool: &Pool, test: &[usize], rest: &[usize], p: usize, seed: u64) -> Result<RunData, DataError> {
        Self::drawn(pool, Arc::new(pool.features(test)), test, rest, p, seed)
    }

    /// As [`RunData::from_split`], with the samples of the test set `test` already made.
    pub fn drawn(
        pool: &Pool,
        x_test: Arc<Vec<f32>>,
        test: &[usize],
        rest: &[usize],
        p: usize,
        seed: u64,
    ) -> Result<RunData, DataError> {
        if p == 0 || p > rest.len() {
            return Err(DataError::Invalid(format!(
                "P = {p} training points requested, {} images remain after the test set",
                rest.len()
            )));
        }
        let mut rng = Rng::stream(seed, Stream::TrainSubset);
        // Partial Fisher–Yates: the first p of a uniform permutation of `rest`.
        let mut order: Vec<usize> = rest.to_vec();
        for i in 0..p {
            let j = i + rng.below((order.len() - i) as u64) as usize;
            order.swap(i, j);
        }
        let train: Vec<usize> = order[..p].to_vec();
        Ok(RunData {
            sample_shape: pool.sample_shape.clone(),
            x_train: pool.features(&train),
            y_train: train.iter().map(|&i| pool.labels[i]).collect(),
            x_test,
            y_test: test.iter().map(|&i| pool.labels[i]).collect(),
            train_indices: train,
            sources: pool.sources.clone(),
        })
    }

    /// Synthetic depleted data: P training points from `seed`, the test set from `test_seed`.
    pub fn depleted(
        chi: f64,
        dim: usize,
        p: usize,
        test_size: usize,
        seed: u64,
        test_seed: u64,
    ) -> Result<RunData, DataError> {
        if dim == 0 || p == 0 {
            return Err(DataError::Invalid(format!("depleted data needs dim ≥ 1 and P ≥ 1 (dim {dim}, P {p})")));
        }
        if chi.is_nan() || chi <= -1.0 || !chi.is_finite() {
            return Err(DataError::Invalid(format!("depleted data needs chi > −1, got {chi}")));
        }
        let (x_train, y_train) = depleted::sample(chi, dim, p, &mut Rng::stream(seed, Stream::TrainData));
        let (x_test, y_test) = depleted::sample(chi, dim, test_size, &mut Rng::stream(test_seed, Stream::TestData));
        Ok(RunData {
            sample_shape: vec![dim],
            x_train,
            y_train,
            x_test: Arc::new(x_test),
            y_test,
            train_indices: Vec::new(),
            sources: Vec::new(),
        })
    }
}

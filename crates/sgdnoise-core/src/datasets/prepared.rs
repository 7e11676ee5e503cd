//! A prepared image task: the pooled raw images with their ±1 labels and the fixed test split,
//! as one binary object the `dataset` stage stores and every `train` instance reads.
//!
//! Layout: `SGDPOOL1`, a little-endian u32 header length, a JSON header (task, sample shape,
//! normalisation, sizes, raw files with sha256), then the labels (i8), the pixels (u8) and the
//! test indices (u32). Pixels stay bytes so the object is a quarter of the float size.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::{DataError, DataSpec, FormatError, Pool, RunData};

const MAGIC: &[u8; 8] = b"SGDPOOL1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Header {
    data: DataSpec,
    sample_shape: Vec<usize>,
    mean: f32,
    std: f32,
    n: usize,
    test_size: usize,
    test_seed: u64,
    sources: Vec<(PathBuf, String)>,
}

/// The name a raw file is stored under: as it lies in the default data folder
/// (`data/mnist/train-images-idx3-ubyte`), wherever it was read from. The pool, and so the key of
/// every run trained on it, depends on the files' bytes (their sha256 is stored beside the name),
/// not on the machine's paths: a pool prepared with `SGDNOISE_DATA=/elsewhere` is the same object
/// as one prepared from `./data`, and a bundle's runs stay fresh on any machine.
fn stored_name(spec: &DataSpec, path: &Path) -> PathBuf {
    let folder = match spec {
        DataSpec::MnistParity => "mnist",
        DataSpec::FashionParity => "fashion-mnist",
        DataSpec::CifarAnimals => "cifar10",
        DataSpec::Depleted { .. } => "depleted",
    };
    let file = path.file_name().map_or_else(|| path.as_os_str().to_owned(), |name| name.to_owned());
    Path::new("data").join(folder).join(file)
}

/// A pool with its test split.
#[derive(Debug, Clone)]
pub struct PreparedPool {
    pub pool: Pool,
    pub test: Vec<usize>,
    pub rest: Vec<usize>,
    pub test_seed: u64,
    /// The test set's normalised samples, made at the first run and shared by every run after.
    test_features: OnceLock<Arc<Vec<f32>>>,
}

impl PreparedPool {
    pub fn new(pool: Pool, test_size: usize, test_seed: u64) -> Result<Self, DataError> {
        let (test, rest) = pool.split(test_size, test_seed)?;
        Ok(PreparedPool { pool, test, rest, test_seed, test_features: OnceLock::new() })
    }

    /// The data of one run: P training points drawn with `seed` from the non-test images. Every
    /// run of one prepared pool shares its test set's samples (100 MB in the paper's grids).
    pub fn run_data(&self, p: usize, seed: u64) -> Result<RunData, DataError> {
        let x_test = self.test_features.get_or_init(|| Arc::new(self.pool.features(&self.test)));
        RunData::drawn(&self.pool, Arc::clone(x_test), &self.test, &self.rest, p, seed)
    }

    pub fn encode(&self) -> Vec<u8> {
        let header = Header {
            data: self.pool.spec.clone(),
            sample_shape: self.pool.sample_shape.clone(),
            mean: self.pool.mean,
            std: self.pool.std,
            n: self.pool.len(),
            test_size: self.test.len(),
            test_seed: self.test_seed,
            sources: self
                .pool
                .sources
                .iter()
                .map(|(path, sha)| (stored_name(&self.pool.spec, path), sha.clone()))
                .collect(),
        };
        let h = serde_json::to_vec(&header).expect("header serialises");
        let mut out = Vec::with_capacity(16 + h.len() + self.pool.pixels.len() + 5 * self.pool.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        out.extend_from_slice(&h);
        out.extend(self.pool.labels.iter().map(|&y| if y > 0.0 { 1u8 } else { 0xff }));
        out.extend_from_slice(&self.pool.pixels);
        for &i in &self.test {
            out.extend_from_slice(&(i as u32).to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(FormatError("not a prepared dataset (bad magic)".into()));
        }
        let hlen = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let body = bytes.get(12 + hlen..).ok_or(FormatError("truncated header".into()))?;
        let header: Header =
            serde_json::from_slice(&bytes[12..12 + hlen]).map_err(|e| FormatError(format!("bad header: {e}")))?;
        let sample: usize = header.sample_shape.iter().product();
        let need = header.n + header.n * sample + 4 * header.test_size;
        if body.len() != need {
            return Err(FormatError(format!("body has {} bytes, the header announces {need}", body.len())));
        }
        let labels = body[..header.n].iter().map(|&b| if b == 1 { 1.0 } else { -1.0 }).collect();
        let pixels = body[header.n..header.n + header.n * sample].to_vec();
        let test: Vec<usize> = body[header.n + header.n * sample..]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as usize)
            .collect();
        let mut in_test = vec![false; header.n];
        for &i in &test {
            *in_test.get_mut(i).ok_or(FormatError("test index out of range".into()))? = true;
        }
        let rest = (0..header.n).filter(|&i| !in_test[i]).collect();
        let pool = Pool {
            spec: header.data,
            sample_shape: header.sample_shape,
            pixels,
            labels,
            sources: header.sources,
            mean: header.mean,
            std: header.std,
        };
        Ok(PreparedPool { pool, test, rest, test_seed: header.test_seed, test_features: OnceLock::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(dir: &str) -> Pool {
        let names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"];
        Pool {
            spec: DataSpec::MnistParity,
            sample_shape: vec![1, 2, 2],
            pixels: (0..40).collect(),
            labels: (0..10).map(|i| if i % 3 == 0 { 1.0 } else { -1.0 }).collect(),
            sources: names.iter().map(|n| (Path::new(dir).join("mnist").join(n), format!("sha of {n}"))).collect(),
            mean: 0.5,
            std: 2.0,
        }
    }

    /// A pool read from another data folder is the same object, byte for byte, as one read from
    /// `./data`, and names its files as they lie there.
    #[test]
    fn a_pool_does_not_depend_on_where_its_files_were_read() {
        let encode = |dir: &str| PreparedPool::new(pool(dir), 4, 0).unwrap().encode();
        let here = encode("data");
        for dir in ["/work/elsewhere/data", "../data", "/srv/datasets"] {
            assert!(here == encode(dir), "{dir}");
        }
        let decoded = PreparedPool::decode(&here).unwrap();
        assert_eq!(
            decoded.pool.sources[0],
            (PathBuf::from("data/mnist/train-images-idx3-ubyte"), "sha of train-images-idx3-ubyte".into())
        );
        assert_eq!(decoded.test, PreparedPool::new(pool("data"), 4, 0).unwrap().test);
    }
}

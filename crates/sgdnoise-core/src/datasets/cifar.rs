//! Reader for the CIFAR-10 binary layout: `data_batch_1.bin` … `data_batch_5.bin` and
//! `test_batch.bin`, each a run of 3073-byte records (one label byte, then 1024 red, 1024 green
//! and 1024 blue pixel bytes, row-major 32×32).

use std::path::Path;

use super::{DataError, FormatError};

pub const RECORD: usize = 3073;
pub const PIXELS: usize = 3072;
pub const FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// What to do when the files are missing.
pub const HOW: &str = "download the official CIFAR-10 binary version (cifar-10-binary.tar.gz, md5 \
                       c32a1d4ab5d03f1284b67883e8d87530), unpack it and point SGDNOISE_CIFAR_DIR \
                       (or data/cifar10) at its cifar-10-batches-bin folder";

/// Records per official file (10000); the reader accepts any whole number of records so tests can
/// use small files in the same layout.
pub const RECORDS_PER_FILE: usize = 10_000;

/// Images (channel-major, 3×32×32 bytes each) and labels 0–9.
#[derive(Debug, Clone, Default)]
pub struct CifarImages {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

/// Reads the six files of `dir` in the official order (train batches, then test).
pub fn read_cifar_dir(dir: &Path) -> Result<CifarImages, DataError> {
    let mut all = CifarImages::default();
    for name in FILES {
        let path = dir.join(name);
        if !path.exists() {
            return Err(DataError::Missing { dataset: "cifar10".into(), path, how: HOW.into() });
        }
        let bytes = std::fs::read(&path).map_err(|e| DataError::Io { path: path.clone(), source: e })?;
        parse_cifar(&bytes, &mut all).map_err(|why| DataError::Corrupt { path, why: why.to_string() })?;
    }
    Ok(all)
}

/// Appends the records of one file.
pub fn parse_cifar(bytes: &[u8], into: &mut CifarImages) -> Result<(), FormatError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(FormatError(format!("{} bytes is not a whole number of {RECORD}-byte records", bytes.len())));
    }
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(FormatError(format!("record {i} has label {} (expected 0–9)", rec[0])));
        }
        into.labels.push(rec[0]);
        into.pixels.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

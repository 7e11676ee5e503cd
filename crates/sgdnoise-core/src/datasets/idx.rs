//! Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! An IDX file is a 4-byte magic (two zero bytes, a type code, the number of dimensions), the
//! dimensions as big-endian u32, then the data. We only need unsigned bytes (type 0x08).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, FormatError};

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads `path`, decompressing it first when it starts with the gzip magic.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::Io { path: path.to_owned(), source: e })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| corrupt(path, format!("gzip stream is broken: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|why| corrupt(path, why.0))
}

fn corrupt(path: &Path, why: String) -> DataError {
    DataError::Corrupt { path: PathBuf::from(path), why }
}

/// Parses IDX bytes.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, FormatError> {
    if bytes.len() < 4 {
        return Err(FormatError(format!("too short for an IDX header ({} bytes)", bytes.len())));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(FormatError("not an IDX file (magic does not start with two zero bytes)".into()));
    }
    if bytes[2] != 0x08 {
        return Err(FormatError(format!("IDX element type 0x{:02x} is not unsigned byte (0x08)", bytes[2])));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(FormatError(format!("header announces {ndim} dimensions but the file ends first")));
    }
    let dims: Vec<usize> =
        (0..ndim).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize).collect();
    let len = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let len = len.ok_or_else(|| FormatError(format!("dimensions {dims:?} overflow")))?;
    if bytes.len() - header != len {
        return Err(FormatError(format!(
            "dimensions {dims:?} need {len} bytes of data, the file has {}",
            bytes.len() - header
        )));
    }
    Ok(IdxArray { dims, data: bytes[header..].to_vec() })
}

/// Serialises an IDX array of bytes (used by tests to write fixtures).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn round_trip_raw_and_gzip() {
        let dims = [3, 2, 2];
        let data: Vec<u8> = (0..12).collect();
        let bytes = encode_idx(&dims, &data);
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("a-idx3-ubyte");
        std::fs::write(&raw, &bytes).unwrap();
        let gz = dir.path().join("a-idx3-ubyte.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        for p in [raw, gz] {
            let a = read_idx(&p).unwrap();
            assert_eq!(a.dims, vec![3, 2, 2]);
            assert_eq!(a.data, data);
        }
    }

    #[test]
    fn truncated_file_is_a_clear_error() {
        let mut bytes = encode_idx(&[4, 2], &[1; 8]);
        bytes.pop();
        let err = parse_idx(&bytes).unwrap_err();
        assert_eq!(err.0, "dimensions [4, 2] need 8 bytes of data, the file has 7");
        assert!(parse_idx(&[1, 2, 3]).unwrap_err().0.contains("too short"));
        assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).unwrap_err().0.contains("element type 0x0d"));
    }
}

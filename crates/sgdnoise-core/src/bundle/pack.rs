//! `objects.pack.gz`: objects one after the other, sorted by hash, each as the line
//! `HASH SIZE\n` followed by its bytes, the whole gzip-compressed with a fixed header (no name,
//! no time) so that the same objects give the same bytes. Read as a stream: one object in memory
//! at a time, each checked against its name before it is handed out.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::{Compression, GzBuilder};

use super::format::{is_hash, BundleError, MAX_OBJECT_BYTES};

/// A gzip stream with a header that does not depend on when or where it was written.
pub fn gzip<W: Write>(inner: W) -> flate2::write::GzEncoder<W> {
    GzBuilder::new().mtime(0).operating_system(255).write(inner, Compression::new(9))
}

/// Appends one object to a pack stream.
pub fn put<W: Write>(out: &mut W, hash: &str, bytes: &[u8]) -> std::io::Result<()> {
    writeln!(out, "{hash} {}", bytes.len())?;
    out.write_all(bytes)
}

/// The objects of a pack file, in order, each checked against its hash.
pub struct Reader {
    path: PathBuf,
    inner: BufReader<GzDecoder<std::fs::File>>,
    previous: Option<String>,
    /// Bytes of objects read so far, and the most the manifest allows.
    pub bytes: u64,
    limit: u64,
}

impl Reader {
    pub fn open(path: &Path, limit: u64) -> Result<Reader, BundleError> {
        let file = std::fs::File::open(path).map_err(|source| BundleError::Io { path: path.to_owned(), source })?;
        Ok(Reader {
            path: path.to_owned(),
            inner: BufReader::new(GzDecoder::new(file)),
            previous: None,
            bytes: 0,
            limit,
        })
    }

    fn invalid(&self, message: impl Into<String>) -> BundleError {
        BundleError::invalid(&self.path, message)
    }

    fn io(&self, e: std::io::Error) -> BundleError {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof => self.invalid("truncated: the compressed stream ends early"),
            _ => self.invalid(format!("cannot be decompressed: {e}")),
        }
    }

    /// The next object (hash, bytes), `None` at the end.
    pub fn next_object(&mut self) -> Result<Option<(String, Vec<u8>)>, BundleError> {
        let mut header = Vec::new();
        let n = (&mut self.inner).take(160).read_until(b'\n', &mut header).map_err(|e| self.io(e))?;
        if n == 0 {
            return Ok(None);
        }
        let text = std::str::from_utf8(&header).ok().and_then(|t| t.strip_suffix('\n'));
        let parsed = text.and_then(|t| t.split_once(' ')).and_then(|(h, n)| Some((h, n.parse::<u64>().ok()?)));
        let Some((hash, size)) = parsed.filter(|(h, _)| is_hash(h)) else {
            return Err(self.invalid(format!(
                "object header `{}` is not `HASH SIZE` (after {} bytes of objects)",
                super::format::clip(&String::from_utf8_lossy(&header)),
                self.bytes
            )));
        };
        let hash = hash.to_owned();
        if self.previous.as_deref().is_some_and(|p| p >= hash.as_str()) {
            return Err(self.invalid(format!("object {hash} is out of order or repeated")));
        }
        if size > MAX_OBJECT_BYTES || self.bytes + size > self.limit {
            return Err(self.invalid(format!(
                "object {hash} declares {size} bytes: more than the manifest's {} bytes of objects allow",
                self.limit
            )));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        (&mut self.inner).take(size).read_to_end(&mut bytes).map_err(|e| self.io(e))?;
        if bytes.len() as u64 != size {
            return Err(self.invalid(format!("truncated: object {hash} has {} of its {size} bytes", bytes.len())));
        }
        let actual = blake3::hash(&bytes).to_hex().to_string();
        if actual != hash {
            return Err(self.invalid(format!("object {hash} does not match its content (it hashes to {actual})")));
        }
        self.bytes += size;
        self.previous = Some(hash.clone());
        Ok(Some((hash, bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(objects: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let mut gz = gzip(Vec::new());
        for (h, b) in objects {
            put(&mut gz, h, b).unwrap();
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), gz.finish().unwrap()).unwrap();
        file
    }

    fn hash(b: &[u8]) -> String {
        blake3::hash(b).to_hex().to_string()
    }

    #[test]
    fn objects_come_back_checked_in_order_and_the_same_bytes_give_the_same_pack() {
        let (a, b) = (b"first".as_slice(), b"second".as_slice());
        let mut sorted = [(hash(a), a), (hash(b), b)];
        sorted.sort();
        let objects: Vec<(&str, &[u8])> = sorted.iter().map(|(h, b)| (h.as_str(), *b)).collect();
        let file = packed(&objects);
        assert_eq!(std::fs::read(file.path()).unwrap(), std::fs::read(packed(&objects).path()).unwrap());
        let mut r = Reader::open(file.path(), 11).unwrap();
        assert_eq!(r.next_object().unwrap().unwrap().0, sorted[0].0);
        assert_eq!(r.next_object().unwrap().unwrap().0, sorted[1].0);
        assert!(r.next_object().unwrap().is_none());
        // Out of order, over the declared total, or not matching its name: refused.
        let reversed: Vec<(&str, &[u8])> = objects.iter().rev().copied().collect();
        let mut r = Reader::open(packed(&reversed).path(), 11).unwrap();
        r.next_object().unwrap();
        assert!(r.next_object().unwrap_err().to_string().contains("out of order or repeated"));
        let mut r = Reader::open(file.path(), 10).unwrap();
        let e = (r.next_object().and_then(|_| r.next_object())).unwrap_err().to_string();
        assert!(e.contains("more than the manifest's 10 bytes of objects allow"), "{e}");
        let wrong = packed(&[(sorted[0].0.as_str(), b"other")]);
        let e = Reader::open(wrong.path(), 100).unwrap().next_object().unwrap_err().to_string();
        assert!(e.contains("does not match its content"), "{e}");
    }
}

//! Content hashing, in one place: digests of byte slices, of whole files and of file ranges, with
//! detection of files that change while they are read, and a parallel driver for many files.
//!
//! SHA-256 comes from the `sha2` crate, which uses the CPU's SHA extensions (SHA-NI on x86-64,
//! the SHA2 instructions on ARMv8) when they are present, detected at run time. BLAKE2b-512
//! (`blake2`) and BLAKE3 (`blake3`) are available for verifying signatures that use them.
//!
//! Files are read with large buffers by one thread each; parallelism is across files (a SHA-256
//! digest of one file is inherently sequential). [`hash_many`] schedules the largest jobs first so
//! that two cores finish together.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// Read buffer per file. Large enough that system-call overhead vanishes next to hashing, small
/// enough to stay in L2/L3 cache while it is hashed.
pub const BUFFER_SIZE: usize = 1 << 20;

/// A hash algorithm, named as OpenSSF model signing names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// SHA-256 (`sha256`), the default and the only one `model_signing verify` checks.
    Sha256,
    /// BLAKE2b with a 64-byte digest (`blake2b`).
    Blake2b,
    /// BLAKE3 with a 32-byte digest (`blake3`).
    Blake3,
}

impl Algorithm {
    /// The name used in manifests (`sha256`, `blake2b`, `blake3`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Blake2b => "blake2b",
            Algorithm::Blake3 => "blake3",
        }
    }

    /// Parses a manifest name. `blake2` is accepted as an alias of `blake2b` (the name of the
    /// option in model_signing's API).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "sha256" => Some(Algorithm::Sha256),
            "blake2b" | "blake2" => Some(Algorithm::Blake2b),
            "blake3" => Some(Algorithm::Blake3),
            _ => None,
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha256 | Algorithm::Blake3 => 32,
            Algorithm::Blake2b => 64,
        }
    }

    /// A fresh incremental hasher.
    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Blake2b => Hasher::Blake2b(blake2::Blake2b512::new()),
            Algorithm::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finalize()
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An incremental hasher for one [`Algorithm`].
#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Blake2b(blake2::Blake2b512),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Blake2b(h) => blake2::Digest::update(h, data),
            Hasher::Blake3(h) => {
                h.update(data);
            }
        }
    }

    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Blake2b(h) => blake2::Digest::finalize(h).to_vec(),
            Hasher::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

/// SHA-256 of `data` (the digest used for subjects, key hints and the signature database).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// SHA-256 of everything `r` yields, streamed in 256 KiB chunks (files, tar members, blobs).
pub fn sha256_reader(r: &mut impl std::io::Read) -> std::io::Result<[u8; 32]> {
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(h.finalize().into()),
            Ok(n) => h.update(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// CRC-32 (IEEE), the checksum zip members, RAR headers (RAR 4 keeps its low 16 bits) and RAR
/// members carry: checked, never trusted as a digest.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// The identity of a file's content as the file system reports it: if any of these changes, the
/// bytes may have changed. `ctime` cannot be set by unprivileged users, so resetting `mtime` after
/// a write does not hide it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub len: u64,
    pub modified_ns: i128,
    pub changed_ns: i128,
    pub inode: u64,
    pub device: u64,
}

impl FileStamp {
    /// The stamp of `meta`.
    pub fn of(meta: &Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            FileStamp {
                len: meta.len(),
                modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
                changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
                inode: meta.ino(),
                device: meta.dev(),
            }
        }
        #[cfg(not(unix))]
        {
            let ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            FileStamp {
                len: meta.len(),
                modified_ns: ns,
                changed_ns: ns,
                inode: 0,
                device: 0,
            }
        }
    }

    /// What differs between `self` (before) and `after`, for error messages.
    fn describe_change(&self, after: &FileStamp) -> String {
        let mut what = Vec::new();
        if self.len != after.len {
            what.push(format!("size {} -> {}", self.len, after.len));
        }
        if self.modified_ns != after.modified_ns {
            what.push("modification time".to_owned());
        }
        if self.changed_ns != after.changed_ns {
            what.push("status-change time".to_owned());
        }
        if self.inode != after.inode || self.device != after.device {
            what.push("replaced by another file".to_owned());
        }
        what.join(", ")
    }
}

/// A failure to hash a file.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// The file changed while it was being hashed (or since it was listed).
    #[error("{path} changed while it was being hashed ({detail}); make sure nothing writes to the model while it is signed or verified, then try again")]
    Changed { path: PathBuf, detail: String },
    /// The path is no longer a regular file.
    #[error("{path} is not a regular file")]
    NotRegular { path: PathBuf },
}

impl HashError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            HashError::Io { path, .. }
            | HashError::Changed { path, .. }
            | HashError::NotRegular { path } => path,
        }
    }
}

/// One hashing job: a whole file, or the byte range `start..end` of it (a shard).
#[derive(Debug, Clone)]
pub struct Job {
    pub path: PathBuf,
    /// `None` hashes the whole file.
    pub range: Option<(u64, u64)>,
    /// The stamp recorded when the file was listed; when present, the file must still match it
    /// when it is opened and after it has been read.
    pub expected: Option<FileStamp>,
}

impl Job {
    /// The whole file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Job {
            path: path.into(),
            range: None,
            expected: None,
        }
    }

    /// Bytes this job reads, for scheduling and progress (the expected size when known).
    pub fn weight(&self) -> u64 {
        match (self.range, &self.expected) {
            (Some((s, e)), _) => e.saturating_sub(s),
            (None, Some(st)) => st.len,
            (None, None) => 0,
        }
    }
}

/// The result of one [`Job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    pub digest: Vec<u8>,
    /// Bytes hashed.
    pub len: u64,
    /// The file's stamp while it was read.
    pub stamp: FileStamp,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> HashError + '_ {
    move |source| HashError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Hashes one file (or range) with `alg`, calling `progress` with the number of bytes of each
/// chunk as it is hashed. Fails with [`HashError::Changed`] when the file's size, times or inode
/// differ between the start and the end of the read (or from `job.expected`), or when fewer or more
/// bytes than its size could be read.
pub fn hash_job(
    alg: Algorithm,
    job: &Job,
    progress: &mut dyn FnMut(u64),
) -> Result<Hashed, HashError> {
    let path = job.path.as_path();
    let mut file = File::open(path).map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(HashError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let before = FileStamp::of(&meta);
    if let Some(exp) = &job.expected {
        if *exp != before {
            return Err(HashError::Changed {
                path: path.to_path_buf(),
                detail: format!("since it was listed: {}", exp.describe_change(&before)),
            });
        }
    }
    let (start, end) = match job.range {
        Some((s, e)) => (s, e),
        None => (0, before.len),
    };
    if start > end || end > before.len {
        return Err(HashError::Changed {
            path: path.to_path_buf(),
            detail: format!(
                "range {start}..{end} is outside the file's {} bytes",
                before.len
            ),
        });
    }
    if start > 0 {
        file.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
    }
    let want = end - start;
    let mut hasher = alg.hasher();
    let cap = usize::try_from(want.min(BUFFER_SIZE as u64))
        .unwrap_or(BUFFER_SIZE)
        .max(1);
    let mut buf = vec![0u8; cap];
    let mut done: u64 = 0;
    while done < want {
        let room = usize::try_from((want - done).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = match file.read(buf.get_mut(..room).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path)(e)),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
        done += n as u64;
        progress(n as u64);
    }
    // A whole-file job must hit end-of-file exactly at the size recorded before reading.
    let mut extra = [0u8; 1];
    let grew = job.range.is_none() && matches!(file.read(&mut extra), Ok(n) if n > 0);
    let after_fd = FileStamp::of(&file.metadata().map_err(io_err(path))?);
    let after_path = FileStamp::of(&std::fs::symlink_metadata(path).map_err(io_err(path))?);
    let changed = if done != want {
        Some(format!("read {done} of {want} bytes"))
    } else if grew {
        Some("it grew while being read".to_owned())
    } else if after_fd != before {
        Some(before.describe_change(&after_fd))
    } else if after_path != before {
        Some(before.describe_change(&after_path))
    } else {
        None
    };
    if let Some(detail) = changed {
        return Err(HashError::Changed {
            path: path.to_path_buf(),
            detail,
        });
    }
    Ok(Hashed {
        digest: hasher.finalize(),
        len: done,
        stamp: before,
    })
}

/// Hashes one whole file with `alg`.
pub fn hash_file(alg: Algorithm, path: &Path) -> Result<Hashed, HashError> {
    hash_job(alg, &Job::file(path), &mut |_| {})
}

/// The default number of hashing threads: two per core, so that one thread's read (page-cache
/// copy or disk wait) overlaps another's hashing.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .saturating_mul(2)
}

/// Hashes every job on `threads` worker threads and returns the results in the order of `jobs`.
///
/// Scheduling is longest-first from one shared queue: each worker takes the largest job not yet
/// taken, so large files start first and spread over all workers, and small files fill the gaps
/// (a work-stealing split of a sorted list would leave the large files on one thread). `progress`
/// receives byte counts from all workers. The first error stops the others at their next job.
pub fn hash_many(
    alg: Algorithm,
    jobs: &[Job],
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Hashed>, HashError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs.get(i).map_or(0, Job::weight)));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Hashed>>> = Mutex::new(vec![None; jobs.len()]);
    let first_error: Mutex<Option<HashError>> = Mutex::new(None);
    let worker = || {
        while !failed.load(Ordering::Relaxed) {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some((i, job)) = order.get(k).and_then(|&i| jobs.get(i).map(|j| (i, j))) else {
                break;
            };
            match hash_job(alg, job, &mut |n| progress(n)) {
                Ok(h) => {
                    if let Ok(mut s) = slots.lock() {
                        if let Some(slot) = s.get_mut(i) {
                            *slot = Some(h);
                        }
                    }
                }
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    if let Ok(mut fe) = first_error.lock() {
                        fe.get_or_insert(e);
                    }
                }
            }
        }
    };
    let n = threads.clamp(1, jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 1..n {
            s.spawn(worker);
        }
        worker();
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let slots = slots.into_inner().unwrap_or_default();
    if slots.iter().any(Option::is_none) {
        // Only reachable if a worker panicked; report rather than return a short list.
        return Err(HashError::Io {
            path: PathBuf::new(),
            source: io::Error::other("a hashing worker stopped unexpectedly"),
        });
    }
    Ok(slots.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn known_digests() {
        assert_eq!(
            hex::encode(Algorithm::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(Algorithm::Blake3.digest(b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            hex::encode(Algorithm::Blake2b.digest(b"abc")),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
        for a in [Algorithm::Sha256, Algorithm::Blake2b, Algorithm::Blake3] {
            assert_eq!(a.digest(b"x").len(), a.digest_len());
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
        }
    }

    #[test]
    fn file_and_range_digests_match_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).expect("write");
        for alg in [Algorithm::Sha256, Algorithm::Blake2b, Algorithm::Blake3] {
            let h = hash_file(alg, &p).expect("hash");
            assert_eq!(h.digest, alg.digest(&data));
            assert_eq!(h.len, data.len() as u64);
            let job = Job {
                path: p.clone(),
                range: Some((1_000_000, 2_500_000)),
                expected: None,
            };
            let r = hash_job(alg, &job, &mut |_| {}).expect("range");
            assert_eq!(r.digest, alg.digest(&data[1_000_000..2_500_000]));
        }
    }

    #[test]
    fn detects_a_file_written_while_hashed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("big");
        std::fs::write(&p, vec![7u8; 4 * BUFFER_SIZE]).expect("write");
        let mut first = true;
        let err = hash_job(Algorithm::Sha256, &Job::file(&p), &mut |_| {
            if std::mem::take(&mut first) {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&p)
                    .expect("open");
                f.write_all(b"more").expect("append");
            }
        })
        .expect_err("must notice the append");
        assert!(matches!(err, HashError::Changed { .. }), "{err}");
        assert!(err
            .to_string()
            .contains("changed while it was being hashed"));
    }

    #[test]
    fn detects_a_file_replaced_since_listing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, b"one").expect("write");
        let stamp = FileStamp::of(&std::fs::metadata(&p).expect("meta"));
        std::fs::remove_file(&p).expect("rm");
        std::fs::write(&p, b"two!").expect("write");
        let job = Job {
            path: p,
            range: None,
            expected: Some(stamp),
        };
        let err = hash_job(Algorithm::Sha256, &job, &mut |_| {}).expect_err("replaced");
        assert!(matches!(err, HashError::Changed { .. }), "{err}");
    }

    #[test]
    fn many_keeps_input_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut jobs = Vec::new();
        let mut want = Vec::new();
        for i in 0..20usize {
            let p = dir.path().join(format!("f{i}"));
            let data = vec![i as u8; i * 1000];
            std::fs::write(&p, &data).expect("write");
            want.push(Algorithm::Sha256.digest(&data));
            jobs.push(Job::file(p));
        }
        let got = hash_many(Algorithm::Sha256, &jobs, 3, &|_| {}).expect("hash");
        let got: Vec<Vec<u8>> = got.into_iter().map(|h| h.digest).collect();
        assert_eq!(got, want);
    }
}

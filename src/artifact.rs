#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! An [`Artifact`] is one thing to scan: a file on disk, an archive member, or a decompressed
//! stream, with the [`Location`] chain that says where it came from.
//!
//! Content is either in memory (small members, decompressed streams) or a file read on demand, so
//! a 2 GB checkpoint is never loaded whole: scanners read headers and the pickle members they need.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use crate::finding::Location;
use crate::format::Format;
use crate::sniff::{sniff, SNIFF_LEN};

/// Something that can be read and seeked; what [`Content::open`] returns.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// The bytes of an artifact.
#[derive(Clone, Debug)]
pub enum Content {
    /// Held in memory (archive members, decompressed data, test input).
    Memory(Arc<[u8]>),
    /// A file on disk, or a byte range of one (a stored zip member, a tar member), read on demand.
    File { path: PathBuf, start: u64, len: u64 },
    /// A spooled temporary file (large decompressed streams); kept alive while the artifact lives.
    Temp {
        file: Arc<tempfile::NamedTempFile>,
        len: u64,
    },
    /// A large decompressed stream that was streamed through rather than kept: nothing in its
    /// first bytes gives a loader a reason to read it (see [`Elided`]). Only the windows every
    /// reading looks at are kept; a read anywhere else is an error, so a scanner that needs more
    /// fails (and the artifact is reported uninspectable) instead of seeing made-up bytes.
    Elided(Arc<Elided>),
}

/// The parts of a stream the engine keeps when it does not keep the whole: its head (everything
/// held in memory before the decision), 8 bytes at each power-of-two offset from 512 (where HDF5
/// looks for a superblock after a user block) and the tail a zip reader searches for its end
/// record. The stream was read to its end, so its length (and, when asked for, its SHA-256) is
/// exact.
#[derive(Debug)]
pub struct Elided {
    pub head: Arc<[u8]>,
    /// `(offset, bytes)` windows past the head, ascending.
    pub windows: Vec<(u64, Vec<u8>)>,
    /// The last bytes of the stream (up to [`ZIP_TAIL_LEN`]).
    pub tail: Vec<u8>,
    pub len: u64,
    /// Hex SHA-256 of the whole stream, computed while it streamed through (only when the engine
    /// records digests).
    pub sha256: Option<String>,
}

/// How far from the end zip readers search for the end-of-central-directory record (the record
/// plus the longest comment).
pub const ZIP_TAIL_LEN: u64 = 65_557;

impl Elided {
    /// Bytes `[offset, offset + len)` if one kept window holds them all.
    fn get(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let want = (len as u64).min(self.len.saturating_sub(offset));
        let within = |start: u64, bytes: &[u8]| -> Option<(usize, usize)> {
            let end = start.saturating_add(bytes.len() as u64);
            (offset >= start && offset.saturating_add(want) <= end).then(|| {
                let s = usize::try_from(offset.saturating_sub(start)).unwrap_or(usize::MAX);
                (
                    s,
                    s.saturating_add(usize::try_from(want).unwrap_or(usize::MAX)),
                )
            })
        };
        let tail_at = self.len.saturating_sub(self.tail.len() as u64);
        std::iter::once((0, &self.head[..]))
            .chain(self.windows.iter().map(|(o, b)| (*o, &b[..])))
            .chain(std::iter::once((tail_at, &self.tail[..])))
            .find_map(|(start, bytes)| within(start, bytes).and_then(|(s, e)| bytes.get(s..e)))
    }

    fn not_kept(&self, offset: u64) -> io::Error {
        io::Error::other(format!(
            "byte {offset} of this {}-byte stream was not kept: nothing in its first {} bytes is a format a loader reads, so it was streamed through (checked for zip and HDF5 structure) instead of being written to disk",
            self.len,
            self.head.len()
        ))
    }
}

/// A reader over an elided stream: the head, then an error.
struct ElidedReader {
    e: Arc<Elided>,
    pos: u64,
}

impl Read for ElidedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.e.len || buf.is_empty() {
            return Ok(0);
        }
        let Some(rest) = usize::try_from(self.pos)
            .ok()
            .and_then(|p| self.e.head.get(p..))
            .filter(|r| !r.is_empty())
        else {
            return match self.e.get(self.pos, buf.len().min(4096)) {
                Some(b) if !b.is_empty() => {
                    let n = b.len().min(buf.len());
                    buf.get_mut(..n)
                        .unwrap_or_default()
                        .copy_from_slice(b.get(..n).unwrap_or_default());
                    self.pos = self.pos.saturating_add(n as u64);
                    Ok(n)
                }
                _ => Err(self.e.not_kept(self.pos)),
            };
        };
        let n = rest.len().min(buf.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(rest.get(..n).unwrap_or_default());
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

impl Seek for ElidedReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target: i128 = match to {
            SeekFrom::Start(o) => i128::from(o),
            SeekFrom::End(d) => i128::from(self.e.len).saturating_add(i128::from(d)),
            SeekFrom::Current(d) => i128::from(self.pos).saturating_add(i128::from(d)),
        };
        self.pos = u64::try_from(target)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        Ok(self.pos)
    }
}

impl Content {
    pub fn from_vec(v: Vec<u8>) -> Self {
        Content::Memory(Arc::from(v))
    }

    /// A whole file on disk.
    pub fn file(path: PathBuf) -> io::Result<Self> {
        let len = std::fs::metadata(&path)?.len();
        Ok(Content::File {
            path,
            start: 0,
            len,
        })
    }

    pub fn len(&self) -> u64 {
        match self {
            Content::Memory(b) => b.len() as u64,
            Content::File { len, .. } | Content::Temp { len, .. } => *len,
            Content::Elided(e) => e.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A reader over the content, positioned at its start. Buffered. The reader owns what it
    /// reads (it may outlive this `Content` value).
    pub fn open(&self) -> io::Result<Box<dyn ReadSeek>> {
        match self {
            Content::Memory(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
            Content::File { path, start, len } => {
                let f = File::open(path)?;
                Ok(Box::new(Window::new(BufFile::new(f, *len), *start, *len)?))
            }
            Content::Temp { file, len } => {
                let f = file.reopen()?;
                Ok(Box::new(Window::new(BufFile::new(f, *len), 0, *len)?))
            }
            Content::Elided(e) => Ok(Box::new(ElidedReader {
                e: e.clone(),
                pos: 0,
            })),
        }
    }

    /// Up to `n` leading bytes.
    pub fn head(&self, n: usize) -> io::Result<Vec<u8>> {
        self.read_at(0, n)
    }

    /// The whole content, if it is at most `limit` bytes; `None` otherwise. Scanners call this only
    /// for parts that are small by nature (headers, configs, pickle members).
    pub fn read_all(&self, limit: u64) -> io::Result<Option<Arc<[u8]>>> {
        if self.len() > limit {
            return Ok(None);
        }
        if let Content::Memory(b) = self {
            return Ok(Some(b.clone()));
        }
        let mut buf = Vec::with_capacity(self.len() as usize);
        self.open()?.read_to_end(&mut buf)?;
        Ok(Some(Arc::from(buf)))
    }

    /// `len` bytes starting at `offset` of this content (clamped to its end), without copying file
    /// data: a file range stays a file range. Used for regions embedded in a container (trailing
    /// bytes after a safetensors buffer, a blob inside a GGUF). A spooled temporary file is
    /// addressed by its path, so the slice must not outlive the content it was taken from.
    pub fn slice(&self, offset: u64, len: u64) -> io::Result<Content> {
        let total = self.len();
        let offset = offset.min(total);
        let len = len.min(total.saturating_sub(offset));
        Ok(match self {
            Content::Memory(b) => {
                let s = usize::try_from(offset).unwrap_or(usize::MAX);
                let e = usize::try_from(offset.saturating_add(len)).unwrap_or(usize::MAX);
                Content::from_vec(b.get(s..e).unwrap_or_default().to_vec())
            }
            Content::File { path, start, .. } => Content::File {
                path: path.clone(),
                start: start.saturating_add(offset),
                len,
            },
            Content::Temp { file, .. } => Content::File {
                path: file.path().to_path_buf(),
                start: offset,
                len,
            },
            Content::Elided(e) => match e.get(offset, usize::try_from(len).unwrap_or(usize::MAX)) {
                Some(b) if b.len() as u64 == len => Content::from_vec(b.to_vec()),
                _ => return Err(e.not_kept(offset)),
            },
        })
    }

    /// Reads exactly `len` bytes at `offset`, or fewer when the content ends first. For headers
    /// and small records; callers bound `len` before calling.
    pub fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        if let Content::Memory(b) = self {
            let s = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
            let e = s.saturating_add(len).min(b.len());
            return Ok(b.get(s..e).unwrap_or_default().to_vec());
        }
        if let Content::Elided(e) = self {
            return e
                .get(offset, len)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| e.not_kept(offset));
        }
        // Unbuffered: sniffs, header walks and probes make small reads, and a buffered reader
        // would fill (and on every seek discard) a buffer of up to 256 KiB for each of them.
        let (path, start, total) = match self {
            Content::File { path, start, len } => (path.as_path(), *start, *len),
            Content::Temp { file, len } => (file.path(), 0, *len),
            Content::Memory(_) | Content::Elided(_) => unreachable!("handled above"),
        };
        let want = (len as u64).min(total.saturating_sub(offset));
        if want == 0 {
            // Empty members (a million of them in a hostile tar) cost no open.
            return Ok(Vec::new());
        }
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(start.saturating_add(offset)))?;
        let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        f.take(want).read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// A handle for many small positioned reads (a header walk): the file is opened once and each
    /// read is one `pread`, instead of an open, seek and read per call as [`Content::read_at`]
    /// costs.
    pub fn positioned(&self) -> io::Result<Positioned<'_>> {
        Ok(match self {
            Content::File { path, start, len } => Positioned::File {
                file: File::open(path)?,
                start: *start,
                len: *len,
            },
            Content::Temp { file, len } => Positioned::File {
                file: file.reopen()?,
                start: 0,
                len: *len,
            },
            other => Positioned::Other(other),
        })
    }

    /// A file given to the engine: opened once; a small file (≤ 64 KiB) is read into memory right
    /// away, so sniffing and scanning it cost one open and two reads (the second confirms the
    /// end); larger content stays on disk and is read on demand. Scans of model directories open
    /// thousands of small files, so the read goes through a per-thread buffer (no size query,
    /// no growing allocation) and only the bytes read are copied out.
    pub fn open_file(path: &std::path::Path) -> io::Result<Self> {
        const SMALL: usize = 64 * 1024;
        thread_local! {
            static BUF: std::cell::RefCell<Box<[u8]>> =
                std::cell::RefCell::new(vec![0u8; SMALL + 1].into_boxed_slice());
        }
        let mut f = File::open(path)?;
        let small = BUF.with(|cell| -> io::Result<Option<Arc<[u8]>>> {
            let mut buf = cell.borrow_mut();
            let mut n = 0usize;
            while let Some(spare) = buf.get_mut(n..).filter(|s| !s.is_empty()) {
                match f.read(spare) {
                    Ok(0) => break,
                    Ok(k) => n = n.saturating_add(k),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(buf.get(..n).filter(|b| b.len() <= SMALL).map(Arc::from))
        })?;
        if let Some(bytes) = small {
            return Ok(Content::Memory(bytes));
        }
        let len = f.metadata()?.len();
        Ok(Content::File {
            path: path.to_path_buf(),
            start: 0,
            len,
        })
    }

    /// The file path behind this content, when it is a whole file on disk (lets archive readers
    /// seek in place instead of copying).
    pub fn disk_path(&self) -> Option<&std::path::Path> {
        match self {
            Content::File { path, start: 0, .. } => Some(path),
            Content::Temp { file, .. } => Some(file.path()),
            _ => None,
        }
    }
}

/// See [`Content::positioned`].
pub enum Positioned<'c> {
    File { file: File, start: u64, len: u64 },
    Other(&'c Content),
}

impl Positioned<'_> {
    /// Like [`Content::read_at`]: `len` bytes at `offset`, fewer at the end of the content.
    pub fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        match self {
            Positioned::Other(c) => c.read_at(offset, len),
            Positioned::File {
                file,
                start,
                len: total,
            } => {
                let want =
                    usize::try_from((len as u64).min(total.saturating_sub(offset))).unwrap_or(0);
                let mut buf = vec![0u8; want];
                let mut done = 0usize;
                while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
                    let at = start.saturating_add(offset).saturating_add(done as u64);
                    match read_at_os(file, rest, at) {
                        Ok(0) => break,
                        Ok(n) => done = done.saturating_add(n),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                buf.truncate(done);
                Ok(buf)
            }
        }
    }
}

#[cfg(unix)]
fn read_at_os(f: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, at)
}

#[cfg(not(unix))]
fn read_at_os(f: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut f = f;
    f.seek(SeekFrom::Start(at))?;
    f.read(buf)
}

/// A buffered file whose seeks keep the buffer when they land inside it. A tar walk seeks past
/// each member's data to the next header; `BufReader::seek` discards and refills its buffer on
/// every seek, which for a million small members meant copying a quarter of a terabyte.
struct BufFile {
    inner: BufReader<File>,
    pos: u64,
}

impl BufFile {
    fn new(f: File, len: u64) -> Self {
        Self {
            inner: BufReader::with_capacity(buffer_for(len), f),
            pos: 0,
        }
    }
}

impl Read for BufFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

impl Seek for BufFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(o) => o,
            SeekFrom::Current(d) => self
                .pos
                .checked_add_signed(d)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?,
            SeekFrom::End(_) => {
                self.pos = self.inner.seek(to)?;
                return Ok(self.pos);
            }
        };
        let delta = i64::try_from(i128::from(target).saturating_sub(i128::from(self.pos)))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        self.inner.seek_relative(delta)?;
        self.pos = target;
        Ok(target)
    }
}

/// Read buffer size for content of `len` bytes: large reads for large content, but no 256 KiB
/// allocation for every small member or file (scans open many of them).
fn buffer_for(len: u64) -> usize {
    usize::try_from(len.clamp(8 * 1024, 256 * 1024)).unwrap_or(256 * 1024)
}

/// A `Read + Seek` view of `len` bytes starting at `start` in an underlying reader.
pub struct Window<R> {
    inner: R,
    start: u64,
    len: u64,
    pos: u64,
}

impl<R: Read + Seek> Window<R> {
    pub fn new(mut inner: R, start: u64, len: u64) -> io::Result<Self> {
        inner.seek(SeekFrom::Start(start))?;
        Ok(Self {
            inner,
            start,
            len,
            pos: 0,
        })
    }
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.len.saturating_sub(self.pos);
        if remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Window<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target: i128 = match to {
            SeekFrom::Start(o) => i128::from(o),
            SeekFrom::End(d) => i128::from(self.len).saturating_add(i128::from(d)),
            SeekFrom::Current(d) => i128::from(self.pos).saturating_add(i128::from(d)),
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start",
            ));
        }
        let target = u64::try_from(target).unwrap_or(u64::MAX);
        self.inner
            .seek(SeekFrom::Start(self.start.saturating_add(target)))?;
        self.pos = target;
        Ok(target)
    }
}

/// Whether `content` ends with a zip end-of-central-directory record (within the 64 KiB comment
/// window), i.e. zip readers that search from the end would open it.
pub fn has_zip_trailer(content: &Content) -> io::Result<bool> {
    let len = content.len();
    if len < 22 {
        return Ok(false);
    }
    let tail_len = len.min(ZIP_TAIL_LEN);
    let has_eocd = |tail: &[u8]| tail.windows(4).any(|w| w == b"PK\x05\x06");
    // Every plain artifact is checked, most of them small and in memory: no copy for those.
    if let Content::Memory(b) = content {
        let from = b.len().saturating_sub(tail_len as usize);
        return Ok(has_eocd(b.get(from..).unwrap_or_default()));
    }
    if let Content::Elided(e) = content {
        return Ok(has_eocd(&e.tail));
    }
    let mut r = content.open()?;
    r.seek(SeekFrom::Start(len.saturating_sub(tail_len)))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    r.take(tail_len).read_to_end(&mut tail)?;
    Ok(has_eocd(&tail))
}

/// One thing to scan.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub location: Location,
    /// The file or member name, used for extension hints.
    pub name: String,
    pub content: Content,
    /// The format it was sniffed (or hinted) as.
    pub format: Format,
    /// How many containers deep this artifact sits (0 for a file given on the command line).
    pub depth: u32,
}

impl Artifact {
    /// Builds an artifact, sniffing its format from its first bytes.
    pub fn sniffed(
        location: Location,
        name: String,
        content: Content,
        depth: u32,
    ) -> io::Result<Self> {
        let head = content.head(SNIFF_LEN)?;
        let mut format = sniff(&head, &name);
        if format == Format::Unknown && has_zip_trailer(&content)? {
            // Something prepended to a zip (an image, a script): a polyglot the zip walker reports.
            format = Format::Zip;
        }
        Ok(Self {
            location,
            name,
            content,
            format,
            depth,
        })
    }

    /// An in-memory artifact, mostly for tests and the library API.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Self {
        let content = Content::from_vec(bytes);
        let head = content.head(SNIFF_LEN).unwrap_or_default();
        Self {
            location: Location::file(name),
            name: name.to_owned(),
            format: sniff(&head, name),
            content,
            depth: 0,
        }
    }
}

#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! R serialized objects: `saveRDS` files (`.rds`) and `save` workspaces (`.rda`, `.RData`), read
//! the way R's `src/main/serialize.c` reads them (`R_Unserialize`, `ReadItem`, `ReadBC`).
//!
//! A stream starts with its encoding (`X\n` XDR big-endian, `B\n` native binary, `A\n` text,
//! `\nA\n` after an earlier text stream), the serialization version (2 or 3; 3 adds the writer's
//! native encoding) and the writer's and minimum reader's R versions. A workspace adds a magic
//! line first (`RDX3\n`, `RDB3\n`, `RDA3\n`, and the version-2 spellings), whose letter fixes the
//! encoding R then insists on. `saveRDS` and `save` compress by default (gzip, bzip2 or xz); the
//! engine unwraps those before the stream gets here.
//!
//! Nothing is evaluated here. The reader records what R would build that carries code or runs
//! code while loading or when touched:
//!
//! * closures (`CLOSXP`: formals, body, environment), promises (`PROMSXP`: code R evaluates the
//!   first time the value is used, unless it was already forced), language objects (`LANGSXP`
//!   calls, formulas), expression vectors and byte code (`BCODESXP`: its constant pool holds every
//!   symbol the code refers to), active bindings in environment frames (a function R calls on
//!   every access), and `.Primitive` references, each with the symbols and strings its code
//!   names ([`CodeObject`]);
//! * namespaces and package environments R looks up while reading (`NAMESPACESXP` calls
//!   `..getNamespace`, which loads the installed package and runs its load hooks;
//!   `PACKAGESXP`), ALTREP classes (an unregistered class makes R load the class's package), and
//!   persistent references (which only a restore hook can read).
//!
//! Vectors of numbers and raw bytes are skipped by their exact size, never allocated; nesting is
//! bounded by [`MAX_DEPTH`].

use std::collections::BTreeSet;
use std::io::{BufRead, Seek, SeekFrom};

use super::cursor::{ByteCursor, CursorError};

/// Deepest nesting of items read (R itself recurses on its C stack); deeper streams are not read.
/// Callers run [`parse`] on a thread with a stack of [`READ_STACK`] bytes.
pub const MAX_DEPTH: usize = 2_000;
/// Stack a thread needs to read [`MAX_DEPTH`] levels (a few kilobytes per level, with room).
pub const READ_STACK: usize = 64 * 1024 * 1024;
/// Code objects recorded per stream; the rest are counted, not recorded.
pub const MAX_CODE_OBJECTS: usize = 10_000;
/// Serialized environments recorded per stream; later ones resolve nothing ([`EnvRef::Other`]).
pub const MAX_ENVS: usize = 10_000;
/// Bindings recorded per serialized environment; a bigger frame resolves nothing.
pub const MAX_BINDINGS: usize = 4_096;
/// R's foreign-function interface: these call compiled code, chosen by their first argument
/// (a registered routine's symbol, or a string R looks up in every loaded library).
pub const NATIVE_INTERFACE: &[&str] = &[".Call", ".External", ".External2", ".C", ".Fortran"];
/// Instructions of a byte code body kept to compare with the `.Call(routine, variables…)`
/// shape; longer bodies are skipped.
const MAX_BC_CODE: u64 = 64;
/// The byte code version R 4 writes, and the opcodes of that shape in it
/// (`compiler:::Opcodes.names`, 0-based: `RETURN.OP`, `GETVAR.OP`, `DOTCALL.OP`).
const BC_VERSION: i32 = 12;
const OP_RETURN: i32 = 1;
const OP_GETVAR: i32 = 20;
const OP_DOTCALL: i32 = 119;
/// Names recorded per code object.
pub const MAX_NAMES: usize = 512;
/// Longest string kept for reporting (longer ones are read and dropped).
const KEEP_STRING: usize = 256;
/// R's `R_CODESET_MAX`: the longest native-encoding name a version-3 header may give.
const CODESET_MAX: i32 = 63;

// SEXP types (Rinternals.h) and serialize.c's special codes.
const SYMSXP: u32 = 1;
const LISTSXP: u32 = 2;
const CLOSXP: u32 = 3;
const ENVSXP: u32 = 4;
const PROMSXP: u32 = 5;
const LANGSXP: u32 = 6;
const SPECIALSXP: u32 = 7;
const BUILTINSXP: u32 = 8;
const CHARSXP: u32 = 9;
const LGLSXP: u32 = 10;
const INTSXP: u32 = 13;
const REALSXP: u32 = 14;
const CPLXSXP: u32 = 15;
const STRSXP: u32 = 16;
const DOTSXP: u32 = 17;
const VECSXP: u32 = 19;
const EXPRSXP: u32 = 20;
const BCODESXP: u32 = 21;
const EXTPTRSXP: u32 = 22;
const WEAKREFSXP: u32 = 23;
const RAWSXP: u32 = 24;
const OBJSXP: u32 = 25;
const REFSXP: u32 = 255;
const NILVALUE_SXP: u32 = 254;
const GLOBALENV_SXP: u32 = 253;
const UNBOUNDVALUE_SXP: u32 = 252;
const MISSINGARG_SXP: u32 = 251;
const BASENAMESPACE_SXP: u32 = 250;
const NAMESPACESXP: u32 = 249;
const PACKAGESXP: u32 = 248;
const PERSISTSXP: u32 = 247;
const CLASSREFSXP: u32 = 246;
const GENERICREFSXP: u32 = 245;
const BCREPDEF: u32 = 244;
const BCREPREF: u32 = 243;
const EMPTYENV_SXP: u32 = 242;
const BASEENV_SXP: u32 = 241;
const ATTRLANGSXP: u32 = 240;
const ATTRLISTSXP: u32 = 239;
const ALTREP_SXP: u32 = 238;

const HAS_ATTR_BIT: i32 = 1 << 9;
const HAS_TAG_BIT: i32 = 1 << 10;
/// `ACTIVE_BINDING_MASK` (Defn.h) among a pairlist cell's levels (`flags >> 12`).
const ACTIVE_BINDING: i32 = 1 << 15;

/// How the stream's numbers and strings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `X\n`: XDR, big-endian (what `saveRDS` and `save` write by default).
    Xdr,
    /// `B\n`: the writer's native byte order; read little-endian, and big-endian when that fails.
    Binary { big_endian: bool },
    /// `A\n`: numbers as text words, strings with C escapes.
    Ascii,
}

/// The stream header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The workspace magic (`RDX3`, …) of a `save` file, `None` for a `saveRDS` stream.
    pub workspace: Option<String>,
    pub encoding: Encoding,
    /// Serialization version (2 or 3).
    pub version: i32,
    /// The writing R's version, packed as `major * 65536 + minor * 256 + patch`.
    pub writer: i32,
    pub min_reader: i32,
    /// Version 3: the writer's native encoding (`UTF-8`, …).
    pub native_encoding: Option<String>,
}

/// An R version packed the way serialize.c packs it, as `x.y.z`.
pub fn unpack_version(packed: i32) -> String {
    let major = packed.checked_div(65_536).unwrap_or(0);
    let rest = packed.checked_rem(65_536).unwrap_or(0);
    let minor = rest.checked_div(256).unwrap_or(0);
    let patch = rest.checked_rem(256).unwrap_or(0);
    format!("{major}.{minor}.{patch}")
}

/// What kind of code an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// A function (`CLOSXP`): runs when called.
    Closure,
    /// A promise (`PROMSXP`): its code runs the first time the value is used, unless `forced`
    /// (then the stored value is returned and the code never runs).
    Promise { forced: bool },
    /// An active binding: a variable of an environment frame whose value is a function R calls
    /// on every access.
    ActiveBinding,
    /// A call or formula (`LANGSXP`) held as data: runs when something evaluates it.
    Language,
    /// An expression vector (`EXPRSXP`).
    Expression,
    /// Byte code (`BCODESXP`) outside a closure.
    Bytecode,
    /// A reference to a primitive (`SPECIALSXP`/`BUILTINSXP`) by name.
    Primitive,
}

impl CodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Closure => "closure",
            CodeKind::Promise { forced: false } => "promise",
            CodeKind::Promise { forced: true } => "forced promise",
            CodeKind::ActiveBinding => "active binding",
            CodeKind::Language => "language object",
            CodeKind::Expression => "expression vector",
            CodeKind::Bytecode => "byte code",
            CodeKind::Primitive => "primitive",
        }
    }
}

/// Where a closure's free names are looked up first (its environment), as far as the stream shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvRef {
    /// An installed package's namespace (`NAMESPACESXP`): R loads it from the installation,
    /// nothing of it comes from the stream.
    Namespace(String),
    /// A serialized environment: an index into [`Stream::envs`].
    Serialized(usize),
    /// The global, base or empty environment, a package environment on the search path, or an
    /// environment not recorded: names found there are not provable from the stream.
    Other,
}

/// A serialized environment (`ENVSXP`): what its frame binds and where lookups go next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub enclosure: EnvRef,
    /// Variables its frame or hash table binds.
    pub bindings: BTreeSet<String>,
    /// False when not every binding was recorded (more than [`MAX_BINDINGS`], or a frame laid
    /// out in a way R does not write): then nothing is provably unbound in it.
    pub complete: bool,
}

/// One object that carries code, with the names its code refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeObject {
    pub kind: CodeKind,
    /// Byte offset (in the decompressed stream) where the object starts.
    pub offset: u64,
    /// Symbols the code refers to (function and variable names; argument names are not
    /// included), and the names of primitives it holds.
    pub symbols: BTreeSet<String>,
    /// Strings inside the code (`do.call("system", …)` names a function by string).
    pub strings: BTreeSet<String>,
    /// Whether the code holds byte code.
    pub bytecode: bool,
    /// Whether the code makes a call (a `LANGSXP` or byte code): a promise or active binding
    /// without one only yields a constant or looks up a variable.
    pub calls: bool,
    /// Whether more names than [`MAX_NAMES`] were seen.
    pub names_truncated: bool,
    /// The routines its native-interface calls name by symbol (`.Call(C_logit_link, mu)` names
    /// `C_logit_link`), in calls and in byte code of the shape `.Call(symbol, variables…)`.
    pub native_targets: BTreeSet<String>,
    /// A native-interface call whose routine is not a plain symbol (a string, a computed value,
    /// a named argument, no argument), or byte code that is not exactly the compiled
    /// `.Call(symbol, variables…)`: which routine runs cannot be told from the names.
    pub native_opaque: bool,
    /// A closure's argument names.
    pub formals: BTreeSet<String>,
    /// A closure's environment.
    pub env: Option<EnvRef>,
    /// A closure's canonical digest (lowercase hex SHA-256 of its formals and body as read,
    /// [`CLOSURE_DIGEST_VERSION`]; the environment and the closure's own attributes are not
    /// part of it): what `signatures/r.toml` lists R's own closures by. `None` when the
    /// closure holds anything whose meaning the stream alone does not fix (an environment,
    /// a promise, another closure, an external pointer, a reference to any of them), when its
    /// numbers are in text encoding, or when it is not the first cell its item starts with.
    pub digest: Option<String>,
}

/// Prefix of every closure digest: a new canonical encoding gets a new version, so digests of
/// the old one never match.
pub const CLOSURE_DIGEST_VERSION: &[u8] = b"modelgate-r-closure-v1\0";

/// What a stream holds, as far as it was read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stream {
    pub header: Option<Header>,
    pub code: Vec<CodeObject>,
    /// Code objects beyond [`MAX_CODE_OBJECTS`].
    pub code_dropped: u64,
    /// Namespaces R loads while reading (`NAMESPACESXP`, and ALTREP classes' packages).
    pub namespaces: BTreeSet<String>,
    /// Package environments R looks up (`PACKAGESXP`).
    pub packages: BTreeSet<String>,
    /// ALTREP classes as (class, package).
    pub altrep: BTreeSet<(String, String)>,
    /// Persistent references (`PERSISTSXP`): only a restore hook can read them.
    pub persistent: u64,
    /// Serialized environments, in reading order (the first [`MAX_ENVS`]).
    pub envs: Vec<Env>,
    /// Items read.
    pub items: u64,
}

impl Stream {
    /// The package namespace where R's lookup of variable `name` from `env` provably ends:
    /// every serialized environment on the way was recorded completely and does not bind it,
    /// and the chain reaches a namespace. `None` when the lookup could end anywhere else (the
    /// global environment, the search path, a frame that binds the name, a long chain).
    pub fn namespace_of<'a>(&'a self, env: &'a EnvRef, name: &str) -> Option<&'a str> {
        let mut at = env;
        for _ in 0..64 {
            match at {
                EnvRef::Namespace(p) => return Some(p),
                EnvRef::Serialized(i) => {
                    let e = self.envs.get(*i)?;
                    if !e.complete || e.bindings.contains(name) {
                        return None;
                    }
                    at = &e.enclosure;
                }
                EnvRef::Other => return None,
            }
        }
        None
    }
}

/// Why a stream could not be read to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdsError {
    #[error("the stream ends at byte {0} in the middle of an item")]
    Truncated(u64),
    #[error("not an R serialization stream (no X, B or A format line)")]
    NotSerialized,
    #[error("{0}: workspace version 1, which R reads with its pre-2.0 loader; not read")]
    OldWorkspace(String),
    #[error("the workspace says {magic} but the stream is {found:?}: R refuses it")]
    FormatMismatch { magic: String, found: Encoding },
    #[error("serialization version {0}: R reads only versions 2 and 3")]
    Version(i32),
    #[error("at byte {offset}: {what}")]
    Invalid { offset: u64, what: String },
    #[error("items are nested deeper than {MAX_DEPTH} levels; the rest was not read")]
    TooDeep,
    #[error("read error: {0}")]
    Io(String),
}

impl From<CursorError> for RdsError {
    fn from(e: CursorError) -> Self {
        match e {
            CursorError::Truncated(at) => RdsError::Truncated(at),
            CursorError::Io(e) => RdsError::Io(e),
        }
    }
}

/// The result of reading a stream: what was found, and why reading stopped early (if it did).
/// Findings before an error are kept: a truncated or corrupt stream still shows its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub stream: Stream,
    pub error: Option<RdsError>,
}

/// The item a read produced, as far as callers need it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Nil,
    Unbound,
    Sym(String),
    /// A `CHARSXP` (`None` is `NA_character_`).
    Char(Option<String>),
    /// A pairlist's first elements (for ALTREP class info).
    List(Vec<Item>),
    /// A string vector's first elements (namespace and package names).
    Strings(Vec<Option<String>>),
    Env(EnvRef),
    Other,
}

/// Whether `head` starts like an R stream or workspace (for sniffing).
pub fn looks_like_r(head: &[u8]) -> bool {
    const MAGICS: &[&[u8]] = &[
        b"RDX2\n", b"RDX3\n", b"RDB2\n", b"RDB3\n", b"RDA2\n", b"RDA3\n", b"RDX1\n", b"RDB1\n",
        b"RDA1\n",
    ];
    if MAGICS.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    match head {
        // Any small version: R reads the format line first and refuses other versions itself.
        [b'X', b'\n', 0, 0, 0, 1..=15, ..] => true,
        [b'B', b'\n', 1..=15, 0, 0, 0, ..] | [b'B', b'\n', 0, 0, 0, 1..=15, ..] => true,
        [b'A', b'\n', b'1'..=b'9', b'\n', ..] | [b'\n', b'A', b'\n', b'1'..=b'9', b'\n', ..] => {
            true
        }
        _ => false,
    }
}

/// Reads a stream of `len` bytes from `src`. A binary (`B\n`) stream that does not read as
/// little-endian is read again as big-endian, and the better reading is returned.
pub fn parse<R: BufRead + Seek>(mut src: R, len: u64) -> Parsed {
    let first = Reader::new(&mut src, len, false).run();
    let binary = matches!(
        first.stream.header.as_ref().map(|h| h.encoding),
        Some(Encoding::Binary { .. })
    );
    if !binary || first.error.is_none() {
        return first;
    }
    if src.seek(SeekFrom::Start(0)).is_err() {
        return first;
    }
    let second = Reader::new(&mut src, len, true).run();
    if second.error.is_none() || second.stream.items > first.stream.items {
        second
    } else {
        first
    }
}

/// Where symbols and strings go while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Plain data: names are not code.
    Data,
    /// Inside code object `n`.
    Code(usize),
}

#[derive(Debug, Clone)]
enum Ref {
    Sym(String),
    Env(EnvRef),
    Other,
}

/// Where the tags of the next pairlist go: a closure's formals or an environment's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagSink {
    Formals(usize),
    Env(usize),
}

struct Reader<'a, R> {
    cur: ByteCursor<'a, R>,
    enc: Encoding,
    big_endian_binary: bool,
    refs: Vec<Ref>,
    out: Stream,
    ctx: Ctx,
    depth: usize,
    /// The next closure is an active binding's function (read into the binding's object).
    binding_value: bool,
    /// The next pairlist's tags are names bound there (taken by the pairlist).
    tag_sink: Option<TagSink>,
    /// The closure whose formals and body are being read, and their digest so far.
    digest: Option<Digesting>,
}

/// A closure digest in progress ([`CodeObject::digest`]). Everything the reader consumes
/// between the start of the formals and the end of the body is fed in a form that does not
/// depend on the stream's encoding or on where in the stream the closure sits: integers as
/// their value, strings and symbol names as their bytes, numbers in big-endian, item flags
/// except those of references, and a reference to a symbol as the symbol itself.
struct Digesting {
    code: usize,
    hasher: crate::hash::Hasher,
    /// Something was read whose meaning the digest cannot fix: no digest.
    poisoned: bool,
    /// Feeding is paused (while a symbol's name is read; the name is fed as a whole).
    paused: bool,
}

type Res<T> = Result<T, RdsError>;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

impl<'a, R: BufRead + Seek> Reader<'a, R> {
    fn new(src: &'a mut R, len: u64, big_endian_binary: bool) -> Self {
        Self {
            cur: ByteCursor::new(src, len),
            enc: Encoding::Xdr,
            big_endian_binary,
            refs: Vec::new(),
            out: Stream::default(),
            ctx: Ctx::Data,
            depth: 0,
            binding_value: false,
            tag_sink: None,
            digest: None,
        }
    }

    fn run(mut self) -> Parsed {
        let error = self.read_all().err();
        Parsed {
            stream: self.out,
            error,
        }
    }

    fn read_all(&mut self) -> Res<()> {
        let workspace = self.magic()?;
        let enc = self.format()?;
        if let Some(m) = &workspace {
            let want = match m.as_bytes().get(2) {
                Some(b'A') => Encoding::Ascii,
                Some(b'B') => Encoding::Binary {
                    big_endian: self.big_endian_binary,
                },
                _ => Encoding::Xdr,
            };
            if want != enc {
                return Err(RdsError::FormatMismatch {
                    magic: m.clone(),
                    found: enc,
                });
            }
        }
        self.enc = enc;
        let version = self.int()?;
        let writer = self.int()?;
        let min_reader = self.int()?;
        let native_encoding = match version {
            2 => None,
            3 => {
                let n = self.int()?;
                if !(0..=CODESET_MAX).contains(&n) {
                    return Err(self.invalid("invalid length of encoding name"));
                }
                let (s, _) = self.string(usize::try_from(n).unwrap_or(0))?;
                Some(s)
            }
            v => return Err(RdsError::Version(v)),
        };
        self.out.header = Some(Header {
            workspace,
            encoding: enc,
            version,
            writer,
            min_reader,
            native_encoding,
        });
        self.item()?;
        Ok(())
    }

    // ---- bytes ----

    fn invalid(&self, what: impl Into<String>) -> RdsError {
        RdsError::Invalid {
            offset: self.cur.pos(),
            what: what.into(),
        }
    }

    fn byte(&mut self) -> Res<Option<u8>> {
        Ok(self.cur.byte()?)
    }

    fn need_byte(&mut self) -> Res<u8> {
        Ok(self.cur.need()?)
    }

    fn exact<const N: usize>(&mut self) -> Res<[u8; N]> {
        Ok(self.cur.exact()?)
    }

    /// Skips `n` bytes, failing when fewer are left.
    fn skip(&mut self, n: u64) -> Res<()> {
        Ok(self.cur.skip(n)?)
    }

    fn peek_is(&mut self, prefix: &[u8]) -> Res<bool> {
        Ok(self.cur.peek()?.starts_with(prefix))
    }

    /// The workspace magic line, if the stream has one (consumed).
    fn magic(&mut self) -> Res<Option<String>> {
        for v in [b'1', b'2', b'3'] {
            for f in [b'X', b'B', b'A'] {
                let m = [b'R', b'D', f, v, b'\n'];
                if self.peek_is(&m)? {
                    self.skip(5)?;
                    let name = String::from_utf8_lossy(m.get(..4).unwrap_or_default()).into_owned();
                    if v == b'1' {
                        return Err(RdsError::OldWorkspace(name));
                    }
                    return Ok(Some(name));
                }
            }
        }
        Ok(None)
    }

    /// `InFormat`.
    fn format(&mut self) -> Res<Encoding> {
        let [a, b] = self.exact::<2>().map_err(|_| RdsError::NotSerialized)?;
        match (a, b) {
            (b'A', _) => Ok(Encoding::Ascii),
            (b'B', _) => Ok(Encoding::Binary {
                big_endian: self.big_endian_binary,
            }),
            (b'X', _) => Ok(Encoding::Xdr),
            (b'\n', b'A') => {
                self.need_byte()?;
                Ok(Encoding::Ascii)
            }
            _ => Err(RdsError::NotSerialized),
        }
    }

    /// `InWord`: skips white space, then up to 127 non-space characters.
    fn word(&mut self) -> Res<String> {
        let mut c = self.need_byte()?;
        while is_space(c) {
            c = self.need_byte()?;
        }
        let mut w = Vec::new();
        loop {
            if is_space(c) {
                break;
            }
            if w.len() >= 127 {
                return Err(self.invalid("read error (a word longer than 127 characters)"));
            }
            w.push(c);
            match self.byte()? {
                Some(n) => c = n,
                None => break,
            }
        }
        Ok(String::from_utf8_lossy(&w).into_owned())
    }

    /// `InInteger`, fed to the closure digest in progress.
    fn int(&mut self) -> Res<i32> {
        let v = self.raw_int()?;
        self.feed(b'i', &v.to_be_bytes());
        Ok(v)
    }

    /// An item's flags: not fed (a reference's flags hold its position in the stream);
    /// [`Self::item_inner`] feeds them in canonical form.
    fn flags(&mut self) -> Res<i32> {
        self.raw_int()
    }

    /// `InInteger`.
    fn raw_int(&mut self) -> Res<i32> {
        match self.enc {
            Encoding::Xdr | Encoding::Binary { big_endian: true } => {
                Ok(i32::from_be_bytes(self.exact::<4>()?))
            }
            Encoding::Binary { big_endian: false } => Ok(i32::from_le_bytes(self.exact::<4>()?)),
            Encoding::Ascii => {
                let w = self.word()?;
                if w == "NA" {
                    return Ok(i32::MIN);
                }
                scan_int(&w).ok_or_else(|| self.invalid(format!("read error (integer {w:?})")))
            }
        }
    }

    /// `InString` of `length` characters: the first [`KEEP_STRING`] bytes kept, and whether it
    /// was cut.
    fn string(&mut self, length: usize) -> Res<(String, bool)> {
        let mut kept = Vec::new();
        // While a closure is digested, every byte is kept for the digest.
        let mut all = self.digesting().then(Vec::new);
        match self.enc {
            Encoding::Ascii => {
                if length > 0 {
                    let mut c = self.need_byte()?;
                    while is_space(c) {
                        c = self.need_byte()?;
                    }
                    let mut pending = Some(c);
                    for _ in 0..length {
                        let c = match pending.take() {
                            Some(c) => c,
                            None => self.need_byte()?,
                        };
                        let ch = if c == b'\\' {
                            let e = self.need_byte()?;
                            match e {
                                b'n' => b'\n',
                                b't' => b'\t',
                                b'v' => 0x0b,
                                b'b' => 0x08,
                                b'r' => b'\r',
                                b'f' => 0x0c,
                                b'a' => 0x07,
                                b'0'..=b'7' => {
                                    let mut d: u32 = 0;
                                    let mut e = e;
                                    let mut j: u32 = 0;
                                    loop {
                                        d = d
                                            .wrapping_mul(8)
                                            .wrapping_add(u32::from(e.wrapping_sub(b'0')));
                                        j = j.saturating_add(1);
                                        let n = self.need_byte()?;
                                        if j < 3 && (b'0'..b'8').contains(&n) {
                                            e = n;
                                        } else {
                                            pending = Some(n);
                                            break;
                                        }
                                    }
                                    u8::try_from(d & 0xff).unwrap_or(0)
                                }
                                other => other,
                            }
                        } else {
                            c
                        };
                        if kept.len() < KEEP_STRING {
                            kept.push(ch);
                        }
                        if let Some(a) = all.as_mut() {
                            a.push(ch);
                        }
                    }
                    // A character read ahead after a final octal escape is dropped, as R's
                    // string stream drops its pushed-back character.
                }
            }
            _ if all.is_some() => {
                if u64::try_from(length).unwrap_or(u64::MAX) > self.cur.remaining() {
                    return Err(RdsError::Truncated(self.cur.end()));
                }
                let mut a = Vec::with_capacity(length);
                for _ in 0..length {
                    a.push(self.need_byte()?);
                }
                kept.extend(a.iter().take(KEEP_STRING));
                all = Some(a);
            }
            _ => {
                let keep = length.min(KEEP_STRING);
                for _ in 0..keep {
                    kept.push(self.need_byte()?);
                }
                self.skip(u64::try_from(length.saturating_sub(keep)).unwrap_or(u64::MAX))?;
            }
        }
        if let Some(a) = all {
            self.feed(
                b's',
                &u64::try_from(a.len()).unwrap_or(u64::MAX).to_be_bytes(),
            );
            self.feed(b'b', &a);
        }
        Ok((
            String::from_utf8_lossy(&kept).into_owned(),
            length > KEEP_STRING,
        ))
    }

    /// `ReadLENGTH`.
    fn length(&mut self) -> Res<u64> {
        let len = self.int()?;
        if len < -1 {
            return Err(self.invalid("negative serialized length for vector"));
        }
        if len == -1 {
            let upper = u32::from_ne_bytes(self.int()?.to_ne_bytes());
            let lower = u32::from_ne_bytes(self.int()?.to_ne_bytes());
            if upper > 65536 {
                return Err(self.invalid("invalid upper part of serialized vector length"));
            }
            return Ok((u64::from(upper) << 32) | u64::from(lower));
        }
        Ok(u64::try_from(len).unwrap_or(0))
    }

    /// Skips `count` numbers of `width` bytes (binary) or `words_each` words (text); while a
    /// closure is digested, reads them instead and feeds each in big-endian (`part` bytes per
    /// number: a complex is two doubles; NaNs as R's NA or as one NaN). Doubles in text are fed
    /// as the value the word parses to: R writes them with 16 significant digits, so one that
    /// does not read back to the value the list was made from simply does not match. Raw bytes
    /// in text are not digested (the closure gets no digest).
    fn skip_numbers(&mut self, count: u64, width: u64, words_each: u64) -> Res<()> {
        if self.digesting() {
            match self.enc {
                // Integers and logicals read back exactly: fed as binary would feed them.
                Encoding::Ascii if width == 4 => return self.feed_words(count, false),
                Encoding::Ascii if width == 1 => self.poison(),
                Encoding::Ascii => {
                    return self.feed_words(count.saturating_mul(words_each), true);
                }
                _ => return self.feed_numbers(count, width),
            }
        }
        match self.enc {
            Encoding::Ascii => {
                let words = count.saturating_mul(words_each);
                // Every word takes at least two bytes (the word and a separator).
                if words > self.cur.remaining() {
                    return Err(RdsError::Truncated(self.cur.end()));
                }
                for _ in 0..words {
                    self.word()?;
                }
                Ok(())
            }
            _ => self.skip(
                count
                    .checked_mul(width)
                    .ok_or(RdsError::Truncated(self.cur.end()))?,
            ),
        }
    }

    /// Reads `count` numbers of `width` bytes into the digest, in big-endian.
    fn feed_numbers(&mut self, count: u64, width: u64) -> Res<()> {
        let bytes = count
            .checked_mul(width)
            .filter(|b| *b <= self.cur.remaining())
            .ok_or(RdsError::Truncated(self.cur.end()))?;
        let part = usize::try_from(width.min(8)).unwrap_or(8);
        let little = self.enc == (Encoding::Binary { big_endian: false });
        self.feed(b'n', &bytes.to_be_bytes());
        let mut buf = Vec::with_capacity(part);
        for _ in 0..bytes {
            buf.push(self.need_byte()?);
            if buf.len() == part {
                if little {
                    buf.reverse();
                }
                if let Ok(b) = <[u8; 8]>::try_from(buf.as_slice()) {
                    buf = canonical_double(u64::from_be_bytes(b)).to_vec();
                }
                self.feed(b'x', &buf);
                buf.clear();
            }
        }
        Ok(())
    }

    /// Reads `count` numbers written as text words into the digest, as
    /// [`Self::feed_numbers`] feeds them from a binary stream: integers (`InInteger`, exact) or
    /// doubles (`InReal`; a word Rust does not read as a number leaves the closure without a
    /// digest).
    fn feed_words(&mut self, count: u64, real: bool) -> Res<()> {
        if count > self.cur.remaining() {
            return Err(RdsError::Truncated(self.cur.end()));
        }
        let width: u64 = if real { 8 } else { 4 };
        self.feed(b'n', &count.saturating_mul(width).to_be_bytes());
        for _ in 0..count {
            if !real {
                let v = self.raw_int()?;
                self.feed(b'x', &v.to_be_bytes());
                continue;
            }
            let w = self.word()?;
            let v = match w.as_str() {
                "NA" => Some(R_NA_BITS),
                "NaN" => Some(f64::NAN.to_bits()),
                "Inf" => Some(f64::INFINITY.to_bits()),
                "-Inf" => Some(f64::NEG_INFINITY.to_bits()),
                _ => w.parse::<f64>().ok().map(f64::to_bits),
            };
            match v {
                Some(v) => self.feed(b'x', &canonical_double(v)),
                None => self.poison(),
            }
        }
        Ok(())
    }

    // ---- closure digests ----

    /// Whether a closure digest is being fed.
    fn digesting(&self) -> bool {
        self.digest
            .as_ref()
            .is_some_and(|d| !d.poisoned && !d.paused)
    }

    /// Feeds `bytes` (with a one-byte tag saying what they are) to the digest in progress.
    fn feed(&mut self, tag: u8, bytes: &[u8]) {
        if let Some(d) = self.digest.as_mut().filter(|d| !d.poisoned && !d.paused) {
            d.hasher.update(&[tag]);
            d.hasher.update(bytes);
        }
    }

    /// The closure being digested holds something the digest cannot fix: it gets none.
    fn poison(&mut self) {
        if let Some(d) = self.digest.as_mut() {
            d.poisoned = true;
        }
    }

    /// Starts digesting closure `code` (its formals come next), unless one is in progress:
    /// a closure inside a closure's body leaves both without a digest. Returns whether it
    /// started.
    fn start_digest(&mut self, code: usize) -> bool {
        if self.digest.is_some() {
            self.poison();
            return false;
        }
        let mut hasher = crate::hash::Algorithm::Sha256.hasher();
        hasher.update(CLOSURE_DIGEST_VERSION);
        self.digest = Some(Digesting {
            code,
            hasher,
            poisoned: false,
            paused: false,
        });
        true
    }

    /// Feeds a symbol by name (so a reference to it digests the same as the symbol itself).
    /// A name too long to have been kept whole leaves the closure without a digest.
    fn feed_symbol(&mut self, name: &str) {
        if name.len() >= KEEP_STRING {
            self.poison();
        }
        self.feed(
            b'y',
            &u64::try_from(name.len()).unwrap_or(u64::MAX).to_be_bytes(),
        );
        self.feed(b'b', name.as_bytes());
    }

    /// Pauses (or resumes) feeding; returns the previous state.
    fn pause_digest(&mut self, pause: bool) -> bool {
        self.digest
            .as_mut()
            .is_some_and(|d| std::mem::replace(&mut d.paused, pause))
    }

    /// Ends the digest in progress; a closure read to its end gets it.
    fn finish_digest(&mut self, complete: bool) {
        if let Some(d) = self.digest.take() {
            if complete && !d.poisoned {
                if let Some(c) = self.out.code.get_mut(d.code) {
                    c.digest = Some(hex::encode(d.hasher.finalize()));
                }
            }
        }
    }

    // ---- code bookkeeping ----

    fn note_symbol(&mut self, name: &str) {
        if let Ctx::Code(i) = self.ctx {
            if let Some(c) = self.out.code.get_mut(i) {
                if c.symbols.len() < MAX_NAMES {
                    c.symbols.insert(name.to_owned());
                } else if !c.symbols.contains(name) {
                    c.names_truncated = true;
                }
            }
        }
    }

    fn note_string(&mut self, s: &str) {
        if let Ctx::Code(i) = self.ctx {
            if let Some(c) = self.out.code.get_mut(i) {
                if c.strings.len() < MAX_NAMES {
                    c.strings.insert(s.to_owned());
                } else if !c.strings.contains(s) {
                    c.names_truncated = true;
                }
            }
        }
    }

    /// Starts a new code object and makes it the context; returns the previous context.
    fn open_code(&mut self, kind: CodeKind, offset: u64) -> Ctx {
        let prev = self.ctx;
        if self.out.code.len() >= MAX_CODE_OBJECTS {
            self.out.code_dropped = self.out.code_dropped.saturating_add(1);
            // Names still land somewhere: in the last recorded object.
            if let Some(last) = self.out.code.len().checked_sub(1) {
                self.ctx = Ctx::Code(last);
            }
            return prev;
        }
        self.out.code.push(CodeObject {
            kind,
            offset,
            symbols: BTreeSet::new(),
            strings: BTreeSet::new(),
            bytecode: false,
            calls: false,
            names_truncated: false,
            native_targets: BTreeSet::new(),
            native_opaque: false,
            formals: BTreeSet::new(),
            env: None,
            digest: None,
        });
        self.ctx = Ctx::Code(self.out.code.len().saturating_sub(1));
        prev
    }

    /// Runs `f` with names going nowhere (attributes, environments, tags).
    fn as_data<T>(&mut self, f: impl FnOnce(&mut Self) -> Res<T>) -> Res<T> {
        let prev = std::mem::replace(&mut self.ctx, Ctx::Data);
        let r = f(self);
        self.ctx = prev;
        r
    }

    /// Runs `f` inside a code object: the current one, or a new one of `kind` in data context.
    fn as_code<T>(
        &mut self,
        kind: CodeKind,
        offset: u64,
        f: impl FnOnce(&mut Self) -> Res<T>,
    ) -> Res<T> {
        let prev = match self.ctx {
            Ctx::Code(_) => self.ctx,
            Ctx::Data => self.open_code(kind, offset),
        };
        let r = f(self);
        self.ctx = prev;
        r
    }

    fn mark_bytecode(&mut self) {
        if let Ctx::Code(i) = self.ctx {
            if let Some(c) = self.out.code.get_mut(i) {
                c.bytecode = true;
                c.calls = true;
            }
        }
    }

    /// Records the routine of a native-interface call (`None`: not a plain symbol).
    fn note_native(&mut self, target: Option<&str>) {
        if let Ctx::Code(i) = self.ctx {
            if let Some(c) = self.out.code.get_mut(i) {
                match target {
                    Some(t) if c.native_targets.len() < MAX_NAMES => {
                        c.native_targets.insert(t.to_owned());
                    }
                    _ => c.native_opaque = true,
                }
            }
        }
    }

    /// Records a name bound by a closure's formals or an environment's frame.
    fn bind(&mut self, sink: TagSink, tag: &Item) {
        match sink {
            TagSink::Formals(i) => {
                if let (Some(c), Item::Sym(n)) = (self.out.code.get_mut(i), tag) {
                    c.formals.insert(n.clone());
                }
            }
            TagSink::Env(i) => {
                if let Some(e) = self.out.envs.get_mut(i) {
                    match tag {
                        Item::Sym(n) if e.bindings.len() < MAX_BINDINGS => {
                            e.bindings.insert(n.clone());
                        }
                        _ => e.complete = false,
                    }
                }
            }
        }
    }

    /// An environment's frame (`hashed`: its hash table): a pairlist, or a vector of
    /// pairlists, whose tags are the variables it binds. Anything else is read as data and
    /// leaves the environment's bindings unprovable.
    fn env_table(&mut self, env: Option<usize>, hashed: bool) -> Res<()> {
        let offset = self.cur.pos();
        let flags = self.flags()?;
        match (type_of(flags), hashed) {
            (NILVALUE_SXP, _) => {}
            (LISTSXP, _) => self.frame(env, flags, offset)?,
            (VECSXP, true) if flags & HAS_ATTR_BIT == 0 => {
                self.enter()?;
                let r = (|| -> Res<()> {
                    let n = self.length()?;
                    for _ in 0..n {
                        let offset = self.cur.pos();
                        let flags = self.flags()?;
                        match type_of(flags) {
                            NILVALUE_SXP => {}
                            LISTSXP => self.frame(env, flags, offset)?,
                            _ => {
                                self.unprovable(env);
                                self.item_with(flags, offset)?;
                            }
                        }
                    }
                    Ok(())
                })();
                self.depth = self.depth.saturating_sub(1);
                r?;
            }
            _ => {
                self.unprovable(env);
                self.item_with(flags, offset)?;
            }
        }
        Ok(())
    }

    /// A frame pairlist whose flags were read at `offset`: its tags are bindings of `env`.
    fn frame(&mut self, env: Option<usize>, flags: i32, offset: u64) -> Res<()> {
        self.tag_sink = env.map(TagSink::Env);
        let r = self.item_with(flags, offset);
        self.tag_sink = None;
        r.map(|_| ())
    }

    fn unprovable(&mut self, env: Option<usize>) {
        if let Some(e) = env.and_then(|i| self.out.envs.get_mut(i)) {
            e.complete = false;
        }
    }

    fn mark_call(&mut self) {
        if let Ctx::Code(i) = self.ctx {
            if let Some(c) = self.out.code.get_mut(i) {
                c.calls = true;
            }
        }
    }

    // ---- items ----

    /// `ReadItem`.
    fn item(&mut self) -> Res<Item> {
        let offset = self.cur.pos();
        let flags = self.flags()?;
        self.item_with(flags, offset)
    }

    fn enter(&mut self) -> Res<()> {
        self.depth = self.depth.saturating_add(1);
        self.out.items = self.out.items.saturating_add(1);
        if self.depth > MAX_DEPTH {
            return Err(RdsError::TooDeep);
        }
        Ok(())
    }

    /// `ReadItem_Recursive` for an item whose flags were read at `offset`.
    fn item_with(&mut self, flags: i32, offset: u64) -> Res<Item> {
        self.enter()?;
        let r = self.item_inner(flags, offset);
        self.depth = self.depth.saturating_sub(1);
        r
    }

    #[allow(clippy::too_many_lines)]
    fn item_inner(&mut self, flags: i32, offset: u64) -> Res<Item> {
        let ty = type_of(flags);
        // Only a pairlist read right here binds names; nothing nested in another item does.
        let sink = self.tag_sink.take().filter(|_| ty == LISTSXP);
        let has_attr = flags & HAS_ATTR_BIT != 0;
        match ty {
            // Fed in their own way below.
            REFSXP | SYMSXP => {}
            // What these mean depends on more than the stream (or on R's state): a closure
            // holding one gets no digest.
            ENVSXP | NAMESPACESXP | PACKAGESXP | PERSISTSXP | EXTPTRSXP | WEAKREFSXP
            | ALTREP_SXP | PROMSXP | DOTSXP => self.poison(),
            _ => self.feed(b'f', &flags.to_be_bytes()),
        }
        match ty {
            NILVALUE_SXP => return Ok(Item::Nil),
            EMPTYENV_SXP | BASEENV_SXP | GLOBALENV_SXP | MISSINGARG_SXP | BASENAMESPACE_SXP => {
                return Ok(Item::Other)
            }
            UNBOUNDVALUE_SXP => return Ok(Item::Unbound),
            REFSXP => {
                let i = flags >> 8;
                let i = if i == 0 { self.raw_int()? } else { i };
                let entry = usize::try_from(i)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| self.refs.get(i))
                    .cloned()
                    .ok_or_else(|| self.invalid(format!("reference index {i} out of range")))?;
                return Ok(match entry {
                    Ref::Sym(name) => {
                        self.feed_symbol(&name);
                        self.note_symbol(&name);
                        Item::Sym(name)
                    }
                    Ref::Env(e) => {
                        self.poison();
                        Item::Env(e)
                    }
                    Ref::Other => {
                        self.poison();
                        Item::Other
                    }
                });
            }
            PERSISTSXP => {
                self.string_vec()?;
                self.out.persistent = self.out.persistent.saturating_add(1);
                self.refs.push(Ref::Other);
                return Ok(Item::Other);
            }
            ALTREP_SXP => {
                let info = self.as_data(Self::item)?;
                if let Item::List(parts) = &info {
                    if let (Some(Item::Sym(class)), Some(Item::Sym(package))) =
                        (parts.first(), parts.get(1))
                    {
                        self.out.altrep.insert((class.clone(), package.clone()));
                    }
                }
                self.item()?; // state
                self.as_data(Self::item)?; // attributes
                return Ok(Item::Other);
            }
            SYMSXP => {
                let paused = self.pause_digest(true);
                let name = self.as_data(Self::item);
                self.pause_digest(paused);
                let name = match name? {
                    Item::Char(Some(s)) => s,
                    Item::Char(None) => "NA".to_owned(),
                    _ => return Err(self.invalid("a symbol whose name is not a string")),
                };
                self.feed_symbol(&name);
                self.refs.push(Ref::Sym(name.clone()));
                self.note_symbol(&name);
                return Ok(Item::Sym(name));
            }
            PACKAGESXP | NAMESPACESXP => {
                let names = self.string_vec()?;
                let first = names.first().cloned().flatten().unwrap_or_default();
                if ty == NAMESPACESXP {
                    self.out.namespaces.insert(first.clone());
                    let env = EnvRef::Namespace(first);
                    self.refs.push(Ref::Env(env.clone()));
                    return Ok(Item::Env(env));
                }
                // A package environment is on the search path: lookups go on to others.
                self.out.packages.insert(first);
                self.refs.push(Ref::Other);
                return Ok(Item::Other);
            }
            ENVSXP => {
                let _locked = self.int()?;
                let id = (self.out.envs.len() < MAX_ENVS).then(|| {
                    self.out.envs.push(Env {
                        enclosure: EnvRef::Other,
                        bindings: BTreeSet::new(),
                        complete: true,
                    });
                    self.out.envs.len().saturating_sub(1)
                });
                let env = id.map_or(EnvRef::Other, EnvRef::Serialized);
                self.refs.push(Ref::Env(env.clone()));
                self.as_data(|r| {
                    let enclosure = r.item()?;
                    if let (Some(e), Item::Env(enc)) =
                        (id.and_then(|i| r.out.envs.get_mut(i)), enclosure)
                    {
                        e.enclosure = enc;
                    }
                    r.env_table(id, false)?; // frame
                    r.env_table(id, true)?; // hash table
                    r.item() // attributes
                })?;
                return Ok(Item::Env(env));
            }
            LISTSXP | LANGSXP | CLOSXP | PROMSXP | DOTSXP => {
                return self.pairlist(flags, offset, sink)
            }
            _ => {}
        }
        let item = match ty {
            EXTPTRSXP => {
                self.refs.push(Ref::Other);
                self.as_data(|r| {
                    r.item()?;
                    r.item()
                })?;
                Item::Other
            }
            WEAKREFSXP => {
                self.refs.push(Ref::Other);
                Item::Other
            }
            SPECIALSXP | BUILTINSXP => {
                let n = self.int()?;
                if n < 0 {
                    return Err(self.invalid("invalid length"));
                }
                let (name, _) = self.string(usize::try_from(n).unwrap_or(0))?;
                self.as_code(CodeKind::Primitive, offset, |r| {
                    r.note_symbol(&name);
                    Ok(())
                })?;
                Item::Other
            }
            CHARSXP => {
                let n = self.int()?;
                if n < -1 {
                    return Err(self.invalid("invalid length"));
                }
                if n == -1 {
                    Item::Char(None)
                } else {
                    let (s, _) = self.string(usize::try_from(n).unwrap_or(0))?;
                    self.note_string(&s);
                    Item::Char(Some(s))
                }
            }
            LGLSXP | INTSXP => {
                let n = self.length()?;
                self.skip_numbers(n, 4, 1)?;
                Item::Other
            }
            REALSXP => {
                let n = self.length()?;
                self.skip_numbers(n, 8, 1)?;
                Item::Other
            }
            CPLXSXP => {
                let n = self.length()?;
                self.skip_numbers(n, 16, 2)?;
                Item::Other
            }
            RAWSXP => {
                let n = self.length()?;
                self.skip_numbers(n, 1, 1)?;
                Item::Other
            }
            STRSXP => {
                let n = self.length()?;
                let mut first = Vec::new();
                for i in 0..n {
                    let it = self.item()?;
                    if i < 4 {
                        first.push(match it {
                            Item::Char(s) => s,
                            _ => None,
                        });
                    }
                }
                Item::Strings(first)
            }
            VECSXP => {
                let n = self.length()?;
                for _ in 0..n {
                    self.item()?;
                }
                Item::Other
            }
            EXPRSXP => {
                let n = self.length()?;
                self.as_code(CodeKind::Expression, offset, |r| {
                    for _ in 0..n {
                        r.item()?;
                    }
                    Ok(())
                })?;
                Item::Other
            }
            BCODESXP => {
                self.as_code(CodeKind::Bytecode, offset, |r| {
                    r.mark_bytecode();
                    r.bytecode()
                })?;
                Item::Other
            }
            OBJSXP => Item::Other,
            CLASSREFSXP => {
                return Err(self.invalid("this version of R cannot read class references"))
            }
            GENERICREFSXP => {
                return Err(
                    self.invalid("this version of R cannot read generic function references")
                )
            }
            other => {
                return Err(self.invalid(format!(
                    "unknown type {other}, perhaps written by a later version of R"
                )))
            }
        };
        if has_attr {
            self.as_data(Self::item)?;
        }
        Ok(item)
    }

    /// `InStringVec`: a zero, a length, then that many `CHARSXP` items.
    fn string_vec(&mut self) -> Res<Vec<Option<String>>> {
        if self.int()? != 0 {
            return Err(self.invalid("names in persistent strings are not supported yet"));
        }
        let n = self.int()?;
        if n < 0 {
            return Err(self.invalid("negative string vector length"));
        }
        let mut v = Vec::new();
        self.as_data(|r| {
            for i in 0..n {
                let it = r.item()?;
                if i < 4 {
                    v.push(match it {
                        Item::Char(s) => s,
                        _ => None,
                    });
                }
            }
            Ok(())
        })?;
        Ok(v)
    }

    /// `ReadItem_Iterative`: a chain of pairlist-like cells, then the final CDR.
    fn pairlist(&mut self, mut flags: i32, mut offset: u64, sink: Option<TagSink>) -> Res<Item> {
        let outer = self.ctx;
        let mut cars = Vec::new();
        // The previous cell was a call of a native-interface function: this one is its routine.
        let mut routine_next = false;
        // Whether this chain started a closure digest (its first cell is the closure).
        let mut digest_started = false;
        let mut first = true;
        let result = (|| -> Res<()> {
            loop {
                let ty = type_of(flags);
                if !matches!(ty, LISTSXP | LANGSXP | CLOSXP | PROMSXP | DOTSXP) {
                    break;
                }
                let levels = flags >> 12;
                let mut closure = None;
                // A closure or promise owns the rest of the chain (its body or code); a call
                // held as data starts a language object.
                match (ty, self.ctx) {
                    // The function of an active binding is the binding's code.
                    (CLOSXP, _) if std::mem::take(&mut self.binding_value) => {
                        self.poison();
                        self.mark_call();
                    }
                    (CLOSXP, _) => {
                        if self.out.code.len() < MAX_CODE_OBJECTS {
                            closure = Some(self.out.code.len());
                        }
                        self.open_code(CodeKind::Closure, offset);
                    }
                    (PROMSXP, _) => {
                        self.poison();
                        self.open_code(CodeKind::Promise { forced: true }, offset);
                    }
                    (LANGSXP, Ctx::Data) => {
                        self.open_code(CodeKind::Language, offset);
                    }
                    _ => {}
                }
                if ty == LANGSXP {
                    self.mark_call();
                }
                let promise_at = match (ty, self.ctx) {
                    (PROMSXP, Ctx::Code(i)) => Some(i),
                    _ => None,
                };
                if flags & HAS_ATTR_BIT != 0 {
                    self.as_data(Self::item)?;
                }
                let mut tagged = false;
                if flags & HAS_TAG_BIT != 0 {
                    // Argument names, variable names and a closure's or promise's environment.
                    let tag = self.as_data(Self::item)?;
                    tagged = true;
                    if let Some(s) = sink {
                        self.bind(s, &tag);
                    }
                    if let Some(c) = closure.and_then(|i| self.out.code.get_mut(i)) {
                        c.env = Some(match tag {
                            Item::Env(e) => e,
                            _ => EnvRef::Other,
                        });
                    }
                }
                if let Some(i) = closure {
                    // The car is the formals: a pairlist whose tags are the argument names.
                    self.tag_sink = Some(TagSink::Formals(i));
                    // The digest covers the formals and the body, not the environment.
                    if first {
                        digest_started = self.start_digest(i);
                    } else {
                        self.poison();
                    }
                } else if ty == CLOSXP {
                    self.poison();
                }
                first = false;
                let car_offset = self.cur.pos();
                let car = if ty == LISTSXP && levels & ACTIVE_BINDING != 0 {
                    // An active binding: the value is the function R calls on access.
                    self.poison();
                    let prev = self.open_code(CodeKind::ActiveBinding, car_offset);
                    self.binding_value = true;
                    let r = self.item();
                    self.binding_value = false;
                    self.ctx = prev;
                    r?
                } else {
                    self.item()?
                };
                self.tag_sink = None;
                if std::mem::take(&mut routine_next) {
                    match &car {
                        Item::Sym(s) if !tagged => self.note_native(Some(s)),
                        _ => self.note_native(None),
                    }
                }
                if ty == LANGSXP {
                    routine_next =
                        matches!(&car, Item::Sym(s) if NATIVE_INTERFACE.contains(&s.as_str()));
                }
                if let Some(i) = promise_at {
                    if car == Item::Unbound {
                        if let Some(c) = self.out.code.get_mut(i) {
                            c.kind = CodeKind::Promise { forced: false };
                        }
                    }
                }
                if cars.len() < 4 {
                    cars.push(car);
                }
                offset = self.cur.pos();
                flags = self.flags()?;
                if matches!(
                    type_of(flags),
                    LISTSXP | LANGSXP | CLOSXP | PROMSXP | DOTSXP
                ) {
                    // The next cell of the chain (not read through `item_inner`).
                    if type_of(flags) == DOTSXP {
                        self.poison();
                    }
                    self.feed(b'f', &flags.to_be_bytes());
                }
                self.enter()?;
            }
            if routine_next {
                // A native-interface call without arguments.
                self.note_native(None);
            }
            self.item_with(flags, offset)?;
            Ok(())
        })();
        self.ctx = outer;
        if digest_started {
            self.finish_digest(result.is_ok());
        }
        result?;
        Ok(Item::List(cars))
    }

    // ---- byte code ----

    /// `ReadBC`: the repeat table length, then one `ReadBC1`.
    fn bytecode(&mut self) -> Res<()> {
        let reps = self.int()?;
        if reps < 0 {
            return Err(self.invalid("negative byte code repeat table length"));
        }
        self.bc1()
    }

    /// `ReadBC1`: the code vector, then the constant pool. Byte code that is exactly a compiled
    /// `.Call(symbol, variables…)` records its routine; any other byte code makes the routine of
    /// the code object's native calls unknowable ([`CodeObject::native_opaque`]).
    fn bc1(&mut self) -> Res<()> {
        self.enter()?;
        let r = (|| -> Res<()> {
            let code = self.bc_code()?;
            let n = self.int()?;
            if n < 0 {
                return Err(self.invalid("negative byte code constant pool length"));
            }
            let mut pool: Vec<Option<String>> = Vec::new();
            for _ in 0..n {
                let ty = self.int()?;
                let symbol = match u32::try_from(ty).unwrap_or(u32::MAX) {
                    BCODESXP => {
                        self.bc1()?;
                        None
                    }
                    LANGSXP | LISTSXP | BCREPDEF | BCREPREF | ATTRLANGSXP | ATTRLISTSXP => {
                        self.bc_lang(ty)?;
                        None
                    }
                    _ => match self.item()? {
                        Item::Sym(s) => Some(s),
                        _ => None,
                    },
                };
                if pool.len() < MAX_BC_CODE as usize {
                    pool.push(symbol);
                }
            }
            let target = code.as_deref().and_then(|c| dotcall_routine(c, &pool));
            self.note_native(target);
            Ok(())
        })();
        self.depth = self.depth.saturating_sub(1);
        r
    }

    /// The instruction stream of byte code (an integer vector), kept when it is short.
    fn bc_code(&mut self) -> Res<Option<Vec<i32>>> {
        let offset = self.cur.pos();
        let flags = self.flags()?;
        if type_of(flags) != INTSXP || flags & HAS_ATTR_BIT != 0 {
            self.as_data(|r| r.item_with(flags, offset))?;
            return Ok(None);
        }
        self.enter()?;
        let r = (|| -> Res<Option<Vec<i32>>> {
            let n = self.length()?;
            if n > MAX_BC_CODE {
                self.skip_numbers(n, 4, 1)?;
                return Ok(None);
            }
            let mut code = Vec::new();
            for _ in 0..n {
                code.push(self.int()?);
            }
            Ok(Some(code))
        })();
        self.depth = self.depth.saturating_sub(1);
        r
    }

    /// `ReadBCLang`.
    fn bc_lang(&mut self, ty: i32) -> Res<()> {
        self.enter()?;
        let r = (|| -> Res<()> {
            let ty = u32::try_from(ty).unwrap_or(u32::MAX);
            match ty {
                BCREPREF => {
                    self.int()?;
                }
                BCREPDEF | LANGSXP | LISTSXP | ATTRLANGSXP | ATTRLISTSXP => {
                    let ty = if ty == BCREPDEF {
                        self.int()?; // position
                        u32::try_from(self.int()?).unwrap_or(u32::MAX)
                    } else {
                        ty
                    };
                    if ty == ATTRLANGSXP || ty == ATTRLISTSXP {
                        self.as_data(Self::item)?;
                    }
                    self.as_data(Self::item)?; // tag
                    let car = self.int()?;
                    self.bc_lang(car)?;
                    let cdr = self.int()?;
                    self.bc_lang(cdr)?;
                }
                _ => {
                    self.item()?;
                }
            }
            Ok(())
        })();
        self.depth = self.depth.saturating_sub(1);
        r
    }
}

/// `sscanf("%d")` of a word: optional sign, at least one digit, anything after ignored;
/// `None` for no digits or a value that does not fit.
fn scan_int(w: &str) -> Option<i32> {
    let b = w.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, b.get(1..)?),
        Some(b'+') => (false, b.get(1..)?),
        _ => (false, b),
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let text = std::str::from_utf8(digits.get(..n)?).ok()?;
    let v: i64 = text.parse().ok()?;
    i32::try_from(if neg { v.checked_neg()? } else { v }).ok()
}

/// The routine of byte code that is exactly a compiled `.Call(routine, variables…)`: version
/// [`BC_VERSION`], `GETVAR` of the routine's symbol, a `GETVAR` per argument, `DOTCALL` with
/// that many arguments, `RETURN`. `pool` holds the constant pool's symbols by index.
fn dotcall_routine<'p>(code: &[i32], pool: &'p [Option<String>]) -> Option<&'p str> {
    let (&version, mut rest) = code.split_first()?;
    if version != BC_VERSION {
        return None;
    }
    let mut vars = Vec::new();
    while let [OP_GETVAR, k, tail @ ..] = rest {
        let name = usize::try_from(*k)
            .ok()
            .and_then(|k| pool.get(k))?
            .as_deref()?;
        vars.push(name);
        rest = tail;
    }
    let [OP_DOTCALL, _call, nargs, OP_RETURN] = rest else {
        return None;
    };
    let (routine, args) = vars.split_first()?;
    (usize::try_from(*nargs).ok()? == args.len()).then_some(*routine)
}

/// R's `NA_real_`: a NaN whose low word is 1954.
const R_NA_BITS: u64 = 0x7FF0_0000_0000_07A2;

/// A double's bits for the closure digest, big-endian: every NaN is R's NA (low word 1954,
/// what `R_IsNA` tests) or one NaN, whatever payload or sign the writer's arithmetic left.
fn canonical_double(bits: u64) -> [u8; 8] {
    let canonical = if f64::from_bits(bits).is_nan() {
        if bits & 0xFFFF_FFFF == 1954 {
            R_NA_BITS
        } else {
            f64::NAN.to_bits()
        }
    } else {
        bits
    };
    canonical.to_be_bytes()
}

/// `DECODE_TYPE`: the low eight bits of an item's flags.
fn type_of(flags: i32) -> u32 {
    u32::try_from(flags & 255).unwrap_or(0)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A tiny XDR writer for tests.
    struct W(Vec<u8>);
    impl W {
        fn new() -> Self {
            let mut w = W(b"X\n".to_vec());
            for v in [3, 0x0004_0202, 0x0003_0500, 5] {
                w.int(v);
            }
            w.0.extend_from_slice(b"UTF-8");
            w
        }
        fn int(&mut self, v: i32) -> &mut Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn chars(&mut self, s: &str) -> &mut Self {
            self.int(9 | (64 << 12)).int(s.len() as i32);
            self.0.extend_from_slice(s.as_bytes());
            self
        }
        fn sym(&mut self, s: &str) -> &mut Self {
            self.int(1).chars(s)
        }
    }

    fn read(bytes: &[u8]) -> Parsed {
        parse(Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn an_unforced_promise_calling_system_is_recorded() {
        let mut w = W::new();
        // PROMSXP with an environment tag (global env), value unbound, code system("true").
        w.int(5 | HAS_TAG_BIT).int(253).int(252);
        w.int(6).sym("system");
        w.int(2).int(16).int(1).chars("true").int(254);
        let p = read(&w.0);
        assert_eq!(p.error, None);
        let c = &p.stream.code;
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, CodeKind::Promise { forced: false });
        assert!(c[0].symbols.contains("system"));
        assert!(c[0].strings.contains("true"));
        assert_eq!(p.stream.header.unwrap().writer, 0x0004_0202);
    }

    #[test]
    fn references_resolve_to_symbols_read_as_data() {
        let mut w = W::new();
        // list(system = quote(system())): the tag reads the symbol as data (ref 1), the call
        // refers back to it.
        w.int(2 | HAS_TAG_BIT).sym("system");
        w.int(6).int((1 << 8) | 255).int(254);
        w.int(254);
        let p = read(&w.0);
        assert_eq!(p.error, None);
        assert_eq!(p.stream.code.len(), 1);
        assert_eq!(p.stream.code[0].kind, CodeKind::Language);
        assert!(p.stream.code[0].symbols.contains("system"));
    }

    #[test]
    fn numbers_are_skipped_and_truncation_is_an_error() {
        let mut w = W::new();
        w.int(14).int(3);
        w.0.extend_from_slice(&[0; 24]);
        assert_eq!(read(&w.0).error, None);
        let cut = &w.0[..w.0.len() - 1];
        assert!(matches!(read(cut).error, Some(RdsError::Truncated(_))));
        let mut w = W::new();
        w.int(14).int(-1).int(70_000).int(0);
        assert!(matches!(read(&w.0).error, Some(RdsError::Invalid { .. })));
    }

    #[test]
    fn ascii_streams_read_like_xdr() {
        let text = b"A\n3\n263170\n197888\n5\nUTF-8\n6\n1\n262153\n6\nsystem\n2\n16\n1\n262153\n4\ntrue\n254\n";
        let p = read(text);
        assert_eq!(p.error, None, "{p:?}");
        assert_eq!(p.stream.header.as_ref().unwrap().encoding, Encoding::Ascii);
        assert!(p.stream.code[0].symbols.contains("system"));
    }

    #[test]
    fn namespaces_and_workspaces_are_read() {
        let mut w = W::new();
        w.0.splice(0..0, b"RDX3\n".iter().copied());
        w.int(249).int(0).int(2).chars("stats").chars("4.2.2");
        let p = read(&w.0);
        assert_eq!(p.error, None);
        assert!(p.stream.namespaces.contains("stats"));
        assert_eq!(p.stream.header.unwrap().workspace.as_deref(), Some("RDX3"));
        let mut bad = b"RDA3\n".to_vec();
        bad.extend_from_slice(&W::new().0);
        assert!(matches!(
            read(&bad).error,
            Some(RdsError::FormatMismatch { .. })
        ));
    }

    #[test]
    fn deep_nesting_stops() {
        let mut w = W::new();
        for _ in 0..(MAX_DEPTH + 10) {
            w.int(19).int(1);
        }
        w.int(254);
        let error = std::thread::Builder::new()
            .stack_size(READ_STACK)
            .spawn(move || read(&w.0).error)
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(error, Some(RdsError::TooDeep));
    }

    #[test]
    fn sniffing_samples() {
        assert!(looks_like_r(b"X\n\x00\x00\x00\x03\x00\x04"));
        assert!(looks_like_r(b"RDX3\nX\n"));
        assert!(looks_like_r(b"A\n3\n263170\n"));
        assert!(looks_like_r(b"B\n\x03\x00\x00\x00"));
        assert!(!looks_like_r(b"X\nhello"));
    }

    #[test]
    fn only_compiled_dotcall_of_variables_names_its_routine() {
        let pool: Vec<Option<String>> = [None, Some("C_r"), Some("y"), Some("mu"), None]
            .into_iter()
            .map(|s| s.map(str::to_owned))
            .collect();
        let ok = [12, 20, 1, 20, 2, 20, 3, 119, 0, 2, 1];
        assert_eq!(dotcall_routine(&ok, &pool), Some("C_r"));
        // Another version, an argument count that does not match, a SETVAR first, a constant
        // (not a symbol) as the routine, something after RETURN, no routine at all.
        for bad in [
            &[11, 20, 1, 20, 2, 20, 3, 119, 0, 2, 1][..],
            &[12, 20, 1, 20, 2, 20, 3, 119, 0, 3, 1],
            &[12, 20, 2, 22, 1, 20, 1, 20, 2, 119, 0, 1, 1],
            &[12, 20, 4, 20, 2, 119, 0, 1, 1],
            &[12, 20, 1, 20, 2, 119, 0, 1, 1, 1],
            &[12, 119, 0, 0, 1],
        ] {
            assert_eq!(dotcall_routine(bad, &pool), None, "{bad:?}");
        }
    }

    #[test]
    fn lookups_end_in_a_namespace_only_through_unbound_recorded_frames() {
        let env = |enclosure, bindings: &[&str], complete| Env {
            enclosure,
            bindings: bindings.iter().map(|s| (*s).to_owned()).collect(),
            complete,
        };
        let s = Stream {
            envs: vec![
                env(EnvRef::Namespace("stats".into()), &["link"], true),
                env(EnvRef::Serialized(0), &["C_x"], true),
                env(EnvRef::Namespace("stats".into()), &[], false),
                env(EnvRef::Other, &[], true),
                env(EnvRef::Serialized(4), &[], true),
            ],
            ..Stream::default()
        };
        assert_eq!(s.namespace_of(&EnvRef::Serialized(0), "C_x"), Some("stats"));
        assert_eq!(s.namespace_of(&EnvRef::Serialized(1), "C_x"), None);
        assert_eq!(s.namespace_of(&EnvRef::Serialized(1), "C_y"), Some("stats"));
        assert_eq!(s.namespace_of(&EnvRef::Serialized(2), "C_x"), None);
        assert_eq!(s.namespace_of(&EnvRef::Serialized(3), "C_x"), None);
        assert_eq!(
            s.namespace_of(&EnvRef::Serialized(4), "C_x"),
            None,
            "a cycle"
        );
        assert_eq!(s.namespace_of(&EnvRef::Serialized(9), "C_x"), None);
    }

    /// Closures `function(x) f(x, n)`: the digest is the same whether the symbols are written
    /// afresh or as references, changes with a number in the body, and is absent when the body
    /// holds an environment.
    #[test]
    fn closure_digests_resolve_references_and_see_every_constant() {
        fn closure(w: &mut W, fresh: bool, body: &dyn Fn(&mut W)) {
            w.int(3 | (1 << 10)).int(253); // closure, environment: the global one
            w.int(2 | (1 << 10)); // formals: x = <missing>
            if fresh {
                w.sym("x");
            } else {
                w.int(255 | (1 << 8));
            }
            w.int(251).int(254);
            w.int(6); // f(x, …)
            if fresh {
                w.sym("f");
            } else {
                w.int(255 | (2 << 8));
            }
            w.int(2).int(255 | (1 << 8)).int(2);
            body(w);
            w.int(254);
        }
        let number = |v: f64| {
            move |w: &mut W| {
                w.int(14).int(1);
                w.0.extend_from_slice(&v.to_be_bytes());
            }
        };
        let mut w = W::new();
        w.int(19).int(4);
        closure(&mut w, true, &number(1.5));
        closure(&mut w, false, &number(1.5));
        closure(&mut w, false, &number(2.5));
        closure(&mut w, false, &|w: &mut W| {
            w.int(4).int(0).int(253).int(254).int(254).int(254);
        });
        let p = read(&w.0);
        assert_eq!(p.error, None);
        let d: Vec<_> = p.stream.code.iter().map(|c| c.digest.clone()).collect();
        assert_eq!(d.len(), 4, "{:?}", p.stream.code);
        assert!(d[0].is_some(), "{d:?}");
        assert_eq!(d[0], d[1], "references digest as the symbols they name");
        assert!(d[2].is_some() && d[2] != d[0], "{d:?}");
        assert_eq!(d[3], None, "an environment in the body");
    }

    #[test]
    fn scan_int_is_sscanf() {
        assert_eq!(scan_int("12abc"), Some(12));
        assert_eq!(scan_int("-7"), Some(-7));
        assert_eq!(scan_int("x"), None);
        assert_eq!(scan_int("99999999999"), None);
    }
}

//! Errors of segment creation, attachment and the typed accessors.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    #[error("invalid segment name {name:?}: expected 1-{max} characters from [A-Za-z0-9_.-]", max = crate::layout::MAX_NAME_LEN)]
    InvalidName { name: String },
    #[error("invalid segment config: {0}")]
    InvalidConfig(String),
    #[error("dataplane not running? no segment at {}", path.display())]
    NotFound { path: PathBuf },
    #[error("refusing segment {}: {reason}", path.display())]
    Untrusted { path: PathBuf, reason: String },
    #[error("cannot create segment {}: {reason}", path.display())]
    NameTaken { path: PathBuf, reason: String },
    #[error("no such group {name:?}")]
    NoSuchGroup { name: String },
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("segment {} is still being created by the dataplane; retry shortly", path.display())]
    NotReady { path: PathBuf },
    #[error("{} is not a tollgate segment (magic {found:#018x}, expected {expected:#018x})", path.display())]
    BadMagic {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("segment {} has layout version {found}, this build expects {expected}: restart both from the same release", path.display())]
    VersionMismatch {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("segment {} has counter schema {found:#018x}, this build expects {expected:#018x}: restart both from the same release", path.display())]
    SchemaMismatch {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("segment {} is corrupt: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("worker {index} does not exist: the segment has {count} workers")]
    NoSuchWorker { index: usize, count: usize },
    #[error("the {what} of this segment is already held by another handle in this process")]
    HandleTaken { what: String },
    #[error("another process holds the control side of segment {}: is a second tollgate-control running?", path.display())]
    ControlRoleTaken { path: PathBuf },
    #[error("{what} kept changing for {waited_ms} ms: its writer may have died mid-update")]
    Busy { what: &'static str, waited_ms: u64 },
    #[error("{what}: {count} entries exceed the shared-memory maximum of {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{what} {name:?} is {bytes} bytes; shared memory keeps at most {max}")]
    TooLong {
        what: &'static str,
        name: String,
        bytes: usize,
        max: usize,
    },
}

pub type Result<T, E = ShmError> = std::result::Result<T, E>;

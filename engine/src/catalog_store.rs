//! The data directory: the catalog (every source and view, its SQL, and what a source needs to
//! read the same records again) kept in `catalog.json`, rewritten whole after each DDL, and
//! a lock so two servers never share one directory.
//!
//! Each write goes to a temporary file that is flushed to disk and then renamed over the old
//! one, so a crash at any moment leaves either the old catalog or the new one, never half.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

const CATALOG: &str = "catalog.json";
const LOCK: &str = "LOCK";
/// Written into the file; a file from a future format is refused rather than misread.
const FORMAT_VERSION: u32 = 1;

/// One object as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    pub kind: StoredKind,
    pub name: String,
    /// Never reused within a data directory: tells a checkpoint's state of a dropped object
    /// from a new object of the same name.
    #[serde(default)]
    pub id: u64,
    /// The statement that created it, as the user wrote it.
    pub sql: String,
    /// When it was created: datagen sources derive their events from it.
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// A log source's first offset per partition: where reading starts again after a
    /// restart, so its views are rebuilt from the same records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_offsets: Option<BTreeMap<i32, i64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredKind {
    Source,
    MaterializedView,
}

#[derive(Serialize, Deserialize)]
struct CatalogFile {
    format_version: u32,
    objects: Vec<StoredObject>,
}

/// An open data directory, locked for this process until dropped.
pub struct CatalogStore {
    dir: PathBuf,
    /// Holds the advisory lock; the OS releases it when the process dies, even by SIGKILL.
    _lock: File,
}

impl CatalogStore {
    /// Opens (creating if needed) `dir` and locks it. Fails when another process holds it.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "cannot create", e))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_error(&lock_path, "cannot open", e))?;
        // std's File::try_lock would do, but it needs Rust 1.89 and says nothing of NFS;
        // flock is what every Unix database uses here.
        // SAFETY: flock on a file descriptor this function owns; no memory is shared.
        let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            return Err(EngineError::Storage(format!(
                "data directory {} is in use by another palisade process",
                dir.display()
            )));
        }
        Ok(CatalogStore {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stored objects in creation order; empty for a new directory.
    pub fn load(&self) -> Result<Vec<StoredObject>> {
        let path = self.dir.join(CATALOG);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io_error(&path, "cannot read", e)),
        };
        let file: CatalogFile = serde_json::from_str(&text).map_err(|e| {
            EngineError::Storage(format!(
                "{} is damaged ({e}); it was written whole or not at all, so something else \
                 changed it: restore it from a backup or move it away to start empty",
                path.display()
            ))
        })?;
        if file.format_version != FORMAT_VERSION {
            return Err(EngineError::Storage(format!(
                "{} has format version {}, this palisade reads version {FORMAT_VERSION}",
                path.display(),
                file.format_version
            )));
        }
        Ok(file.objects)
    }

    /// Replaces the stored catalog with `objects`, atomically and durably.
    pub fn save(&self, objects: &[StoredObject]) -> Result<()> {
        let path = self.dir.join(CATALOG);
        let temporary = self.dir.join(format!("{CATALOG}.tmp"));
        let file = CatalogFile {
            format_version: FORMAT_VERSION,
            objects: objects.to_vec(),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|e| EngineError::Internal(format!("serialising the catalog: {e}")))?;
        let write = || -> std::io::Result<()> {
            let mut out = File::create(&temporary)?;
            out.write_all(text.as_bytes())?;
            out.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            // The rename itself is durable only once the directory is.
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| io_error(&path, "cannot write", e))
    }
}

/// Timestamps as RFC 3339 text, so the file reads well (chrono's own serde support would
/// need a chrono feature that rebuilds Arrow and DataFusion).
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> EngineError {
    EngineError::Storage(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("palisade-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn objects() -> Vec<StoredObject> {
        vec![
            StoredObject {
                kind: StoredKind::Source,
                name: "logs".into(),
                id: 1,
                sql: "CREATE SOURCE logs (a INT) WITH (connector = 'kafka', ...)".into(),
                created_at: Utc.with_ymd_and_hms(2024, 1, 25, 12, 0, 0).unwrap(),
                start_offsets: Some(BTreeMap::from([(0, 5), (1, 0)])),
            },
            StoredObject {
                kind: StoredKind::MaterializedView,
                name: "v".into(),
                id: 2,
                sql: "CREATE MATERIALIZED VIEW v AS SELECT COUNT(*) AS n FROM logs".into(),
                created_at: Utc.with_ymd_and_hms(2024, 1, 25, 12, 0, 1).unwrap(),
                start_offsets: None,
            },
        ]
    }

    #[test]
    fn saves_and_loads_the_same_objects() {
        let dir = temp_dir("catalog-roundtrip");
        let store = CatalogStore::open(&dir).expect("opens");
        assert_eq!(store.load().expect("loads"), vec![]);
        store.save(&objects()).expect("saves");
        drop(store);
        let store = CatalogStore::open(&dir).expect("reopens");
        assert_eq!(store.load().expect("loads"), objects());
        assert!(!dir.join("catalog.json.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_second_open_is_refused_while_the_first_holds_the_lock() {
        let dir = temp_dir("catalog-lock");
        let first = CatalogStore::open(&dir).expect("opens");
        let second = CatalogStore::open(&dir).err().expect("refused");
        assert!(second.to_string().contains("in use"), "{second}");
        drop(first);
        CatalogStore::open(&dir).expect("free again");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_catalog_is_named_and_refused() {
        let dir = temp_dir("catalog-damaged");
        let store = CatalogStore::open(&dir).expect("opens");
        store.save(&objects()).expect("saves");
        let path = dir.join("catalog.json");
        let text = std::fs::read_to_string(&path).expect("reads");
        std::fs::write(&path, &text[..text.len() / 2]).expect("truncates");
        let err = store.load().err().expect("refused");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

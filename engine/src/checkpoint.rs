//! Checkpoints: every view's state and every source's position, captured together under the
//! dataflow lock, so restoring both and resuming each source at its position counts every
//! event exactly once.
//!
//! Files: `DIR/checkpoints/checkpoint-<sequence>.bin`, each written to a temporary name,
//! flushed, then renamed, and ending in a CRC-32 of its contents; the newest two are kept.
//! On open the newest file whose checksum holds is used; a damaged one is named in the log
//! and the previous one taken, so a server never starts with half a state.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use palisade_connectors::Offsets;

use crate::dataflow::{Dataflow, StoredDeadLetter};
use crate::error::{EngineError, Result};
use crate::state::{StateReader, StateWriter};
use crate::watermark::WatermarkState;

const DIR: &str = "checkpoints";
const PREFIX: &str = "checkpoint-";
const SUFFIX: &str = ".bin";
/// 2 added each source's event time; version 1 files still load (no watermark state).
const FORMAT_VERSION: u64 = 2;
/// Checkpoints kept on disk: the newest, and one to fall back on.
const KEEP: usize = 2;

/// Where a source was when the checkpoint was taken, and its counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcePosition {
    /// The source's catalog id: a position applies only to the same source.
    pub id: u64,
    /// Rows delivered to the views: datagen's next row.
    pub delivered: u64,
    /// A log source's next offset per partition.
    pub offsets: Option<Offsets>,
    pub dead_lettered: u64,
    pub coerced: u64,
    /// The kept dead letters: their records are never read again, so they survive only here.
    pub dead_letters: Vec<StoredDeadLetter>,
    /// Event time and late events, for a source with a WATERMARK.
    pub watermark: Option<WatermarkState>,
}

/// A checkpoint as read back.
#[derive(Debug, Default)]
pub struct Checkpoint {
    pub sequence: u64,
    pub sources: BTreeMap<String, SourcePosition>,
    /// Each view's catalog id and state, as [`load_view`] reads it.
    pub views: BTreeMap<String, (u64, Vec<u8>)>,
}

/// A checkpoint taken under the dataflow lock, not yet encoded: positions and operator
/// state as bytes, each view's rows as shared batches (an O(windows) copy of pointers).
/// Encoding the rows, usually the larger part once windows close, happens in
/// [`Captured::encode`] after the lock is released, so ingest waits less.
pub struct Captured {
    head: Vec<u8>,
    views: Vec<CapturedView>,
}

struct CapturedView {
    name: String,
    id: u64,
    operators: Vec<u8>,
    rows: crate::view_table::Partitions,
}

/// Captures every source's position and every view's state. Called with the dataflow
/// locked, so no batch is half-applied.
pub fn capture(flow: &Dataflow, sequence: u64) -> Result<Captured> {
    let mut out = StateWriter::default();
    out.tag("palisade-checkpoint");
    out.u64(FORMAT_VERSION);
    out.u64(sequence);
    out.len(flow.sources.len());
    for (name, source) in &flow.sources {
        out.bytes(name.as_bytes());
        out.u64(source.id);
        out.u64(source.progress.borrow().delivered);
        out.bool(source.log.is_some());
        if let Some(log) = &source.log {
            out.len(log.offsets.len());
            for (partition, offset) in &log.offsets {
                out.i64(i64::from(*partition));
                out.i64(*offset);
            }
            out.u64(log.dead_lettered);
            out.u64(log.coerced);
            out.len(log.dead_letters.len());
            for d in &log.dead_letters {
                out.i64(i64::from(d.letter.partition));
                out.i64(d.letter.offset);
                out.bytes(d.letter.error.as_bytes());
                out.bytes(d.letter.payload.as_bytes());
                out.u64(d.letter.payload_bytes as u64);
                out.i64(d.received_at.timestamp_micros());
            }
        }
        out.bool(source.watermark.is_some());
        if let Some(w) = &source.watermark {
            w.state.save(&mut out);
        }
    }
    out.len(flow.views.len());
    let mut views = Vec::with_capacity(flow.views.len());
    for (name, view) in &flow.views {
        let mut state = StateWriter::default();
        state.len(view.operators.len());
        for op in &view.operators {
            op.save(&mut state)?;
        }
        views.push(CapturedView {
            name: name.clone(),
            id: view.id,
            operators: state.into_bytes(),
            rows: view.table.partitions_shared(),
        });
    }
    Ok(Captured {
        head: out.into_bytes(),
        views,
    })
}

impl Captured {
    /// The checkpoint file's contents (without the checksum [`CheckpointFiles::write`] adds).
    pub fn encode(self) -> Result<Vec<u8>> {
        let mut out = StateWriter::from_bytes(self.head);
        for view in self.views {
            let mut state = StateWriter::from_bytes(view.operators);
            crate::view_table::ViewTable::save_rows(&view.rows, &mut state)?;
            out.bytes(view.name.as_bytes());
            out.u64(view.id);
            out.bytes(&state.into_bytes());
        }
        Ok(out.into_bytes())
    }
}

fn parse(bytes: &[u8]) -> Result<Checkpoint> {
    let mut input = StateReader::new(bytes);
    input.tag("palisade-checkpoint")?;
    let version = input.u64()?;
    if version != FORMAT_VERSION && version != 1 {
        return Err(EngineError::Storage(format!(
            "checkpoint format version {version}, this palisade reads {FORMAT_VERSION}"
        )));
    }
    let mut checkpoint = Checkpoint {
        sequence: input.u64()?,
        ..Checkpoint::default()
    };
    for _ in 0..input.len()? {
        let name = text(input.bytes()?)?;
        let mut position = SourcePosition {
            id: input.u64()?,
            delivered: input.u64()?,
            ..SourcePosition::default()
        };
        if input.bool()? {
            let mut offsets = Offsets::new();
            for _ in 0..input.len()? {
                let partition = i32::try_from(input.i64()?)
                    .map_err(|_| EngineError::Storage("checkpoint: a bad partition".into()))?;
                offsets.insert(partition, input.i64()?);
            }
            position.offsets = Some(offsets);
            position.dead_lettered = input.u64()?;
            position.coerced = input.u64()?;
            for _ in 0..input.len()? {
                let partition = i32::try_from(input.i64()?)
                    .map_err(|_| EngineError::Storage("checkpoint: a bad partition".into()))?;
                let offset = input.i64()?;
                let error = text(input.bytes()?)?;
                let payload = text(input.bytes()?)?;
                let payload_bytes = input.u64()? as usize;
                let received_at = chrono::DateTime::from_timestamp_micros(input.i64()?)
                    .ok_or_else(|| EngineError::Storage("checkpoint: a bad time".into()))?;
                position.dead_letters.push(StoredDeadLetter {
                    letter: palisade_connectors::DeadLetter {
                        partition,
                        offset,
                        error,
                        payload,
                        payload_bytes,
                    },
                    received_at,
                });
            }
        }
        if version >= 2 && input.bool()? {
            position.watermark = Some(WatermarkState::load(&mut input)?);
        }
        checkpoint.sources.insert(name, position);
    }
    for _ in 0..input.len()? {
        let name = text(input.bytes()?)?;
        let id = input.u64()?;
        checkpoint.views.insert(name, (id, input.bytes()?.to_vec()));
    }
    if !input.is_done() {
        return Err(EngineError::Storage(
            "checkpoint: bytes after the last view".into(),
        ));
    }
    Ok(checkpoint)
}

fn text(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| EngineError::Storage("checkpoint: a name is not UTF-8".into()))
}

/// Loads one view's state (from [`Checkpoint::views`]) into its freshly planned pipeline.
pub fn load_view(
    state: &[u8],
    operators: &mut [Box<dyn crate::operators::Operator>],
    table: &crate::view_table::ViewTable,
) -> Result<()> {
    let mut input = StateReader::new(state);
    let n = input.len()?;
    if n != operators.len() {
        return Err(EngineError::Storage(format!(
            "checkpoint: the view had {n} stages, its plan now has {}",
            operators.len()
        )));
    }
    for op in operators.iter_mut() {
        op.load(&mut input)?;
    }
    table.load(&mut input)?;
    if !input.is_done() {
        return Err(EngineError::Storage(
            "checkpoint: bytes after a view's state".into(),
        ));
    }
    Ok(())
}

/// The checkpoint files of one data directory.
pub struct CheckpointFiles {
    dir: PathBuf,
}

impl CheckpointFiles {
    pub fn new(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, "cannot create", e))?;
        Ok(CheckpointFiles { dir })
    }

    fn path(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{sequence:020}{SUFFIX}"))
    }

    /// Sequences of the files present, newest first.
    fn sequences(&self) -> Result<Vec<u64>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io(&self.dir, "cannot list", e))?;
        let mut found: Vec<u64> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix(PREFIX)?
                    .strip_suffix(SUFFIX)?
                    .parse()
                    .ok()
            })
            .collect();
        found.sort_unstable_by(|a, b| b.cmp(a));
        Ok(found)
    }

    /// Writes checkpoint `bytes` as `sequence` durably, then removes all but the newest
    /// [`KEEP`] files.
    pub fn write(&self, sequence: u64, bytes: &[u8]) -> Result<()> {
        let path = self.path(sequence);
        let temporary = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut out = File::create(&temporary)?;
            out.write_all(bytes)?;
            out.write_all(&crc32fast::hash(bytes).to_le_bytes())?;
            out.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| io(&path, "cannot write", e))?;
        for old in self.sequences()?.into_iter().skip(KEEP) {
            let _ = std::fs::remove_file(self.path(old));
        }
        Ok(())
    }

    /// The newest checkpoint whose checksum holds, passing over damaged ones with a warning
    /// naming them; None when there is none.
    pub fn latest(&self) -> Result<Option<Checkpoint>> {
        for sequence in self.sequences()? {
            let path = self.path(sequence);
            let read = std::fs::read(&path)
                .map_err(|e| io(&path, "cannot read", e))
                .and_then(|bytes| verified(&bytes).and_then(parse));
            match read {
                Ok(c) => return Ok(Some(c)),
                Err(e) => tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "skipping a damaged checkpoint; trying the one before"
                ),
            }
        }
        Ok(None)
    }
}

/// The contents of a checkpoint file whose trailing CRC-32 matches.
fn verified(file: &[u8]) -> Result<&[u8]> {
    let Some(split) = file.len().checked_sub(4) else {
        return Err(EngineError::Storage("checkpoint file too short".into()));
    };
    let (bytes, crc) = file.split_at(split);
    let expected = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(bytes) != expected {
        return Err(EngineError::Storage(
            "checkpoint checksum does not match (a torn or damaged file)".into(),
        ));
    }
    Ok(bytes)
}

fn io(path: &Path, what: &str, e: std::io::Error) -> EngineError {
    EngineError::Storage(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("palisade-ckpt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_newest_good_file_wins_and_only_two_are_kept() {
        let d = dir("newest");
        let files = CheckpointFiles::new(&d).unwrap();
        let flow = Dataflow::default();
        for sequence in 1..=3 {
            files
                .write(
                    sequence,
                    &capture(&flow, sequence).unwrap().encode().unwrap(),
                )
                .unwrap();
        }
        assert_eq!(files.sequences().unwrap(), vec![3, 2]);
        assert_eq!(files.latest().unwrap().unwrap().sequence, 3);

        // A torn newest file: the one before is used.
        let newest = files.path(3);
        let bytes = std::fs::read(&newest).unwrap();
        std::fs::write(&newest, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(files.latest().unwrap().unwrap().sequence, 2);
        let _ = std::fs::remove_dir_all(&d);
    }
}

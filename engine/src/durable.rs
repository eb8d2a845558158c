//! The data directory side of [`Database`]: opening one (catalog restore, checkpoint load),
//! saving the catalog after DDL, and writing checkpoints on a timer and on demand.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use palisade_sql::{Statement, parse_statements};

use crate::catalog_store::{CatalogStore, StoredKind, StoredObject};
use crate::checkpoint::{Checkpoint, CheckpointFiles, SourcePosition};
use crate::database::{Catalog, Database, DatabaseOptions};
use crate::error::{EngineError, Result};

/// What a restored object keeps from its first creation, and from the checkpoint.
pub(crate) struct Restore {
    pub(crate) id: u64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) start_offsets: palisade_connectors::Offsets,
    /// A source's position in the checkpoint; None: it starts again from its start.
    pub(crate) position: Option<SourcePosition>,
    /// A view's state in the checkpoint; None: it is rebuilt from its upstream.
    pub(crate) view_state: Option<Vec<u8>>,
}

impl Database {
    /// Opens the database `options.data_dir` holds, creating the directory when new, and
    /// brings back every source and view it stores; without a data directory, the same as
    /// [`Database::new`].
    ///
    /// Sources start again from where they first started (a Kafka source from its first
    /// offsets, datagen from its first row), so every view is rebuilt from the same events:
    /// nothing is lost or counted twice, at the cost of reading them again.
    pub async fn open(options: DatabaseOptions) -> Result<Self> {
        let Some(dir) = options.data_dir.clone() else {
            return Ok(Self::new(options));
        };
        let store = CatalogStore::open(&dir)?;
        let objects = store.load()?;
        let files = CheckpointFiles::new(&dir)?;
        let mut checkpoint = files.latest()?.unwrap_or_default();
        let every = options.checkpoint_interval;
        let db = Self::with_files(
            options,
            Some(store),
            Some(files),
            checkpoint.sequence,
            objects.len(),
        );
        for object in &objects {
            db.restore(object, &mut checkpoint).await.map_err(|e| {
                EngineError::Storage(format!(
                    "{}: cannot restore {} \"{}\": {e}",
                    dir.display(),
                    match object.kind {
                        StoredKind::Source => "source",
                        StoredKind::MaterializedView => "materialized view",
                    },
                    object.name
                ))
            })?;
        }
        if !objects.is_empty() {
            tracing::info!(
                objects = objects.len(),
                checkpoint = checkpoint.sequence,
                data_dir = %dir.display(),
                "restored the catalog"
            );
        }
        if !every.is_zero() {
            start_checkpointer(&db, every);
        }
        Ok(db)
    }

    /// Writes a checkpoint now (when the database has a data directory); returns its
    /// sequence number.
    pub fn checkpoint(&self) -> Result<Option<u64>> {
        let Some(files) = &self.inner.checkpoints else {
            return Ok(None);
        };
        let _one = self
            .inner
            .checkpointing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let sequence = self
            .inner
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let captured = {
            let flow = self.dataflow();
            crate::checkpoint::capture(&flow, sequence)?
        };
        let bytes = captured.encode()?;
        files.write(sequence, &bytes)?;
        Ok(Some(sequence))
    }

    /// How many sources and views [`Database::open`] brought back (0 for a new directory).
    pub fn restored_objects(&self) -> usize {
        self.inner.restored
    }

    async fn restore(&self, object: &StoredObject, checkpoint: &mut Checkpoint) -> Result<()> {
        let mut statements = parse_statements(&object.sql)?;
        let (Some(located), true) = (statements.pop(), statements.is_empty()) else {
            return Err(EngineError::Internal(
                "a stored object's SQL is not one statement".into(),
            ));
        };
        let restore = Restore {
            id: object.id,
            created_at: object.created_at,
            start_offsets: object.start_offsets.clone().unwrap_or_default(),
            // State saved for a dropped object of the same name is not this object's.
            position: match object.kind {
                StoredKind::Source => checkpoint
                    .sources
                    .remove(&object.name)
                    .filter(|p| p.id == object.id),
                StoredKind::MaterializedView => None,
            },
            view_state: match object.kind {
                StoredKind::Source => None,
                StoredKind::MaterializedView => checkpoint
                    .views
                    .remove(&object.name)
                    .filter(|(id, _)| *id == object.id)
                    .map(|(_, state)| state),
            },
        };
        match located.statement {
            Statement::CreateSource(s) => {
                self.create_source(s, &located.text, Some(restore)).await?;
            }
            Statement::CreateMaterializedView(v) => {
                let fallback = Restore {
                    id: restore.id,
                    created_at: restore.created_at,
                    start_offsets: restore.start_offsets.clone(),
                    position: None,
                    view_state: None,
                };
                let had_state = restore.view_state.is_some();
                match self
                    .create_view(v.clone(), &located.text, Some(restore))
                    .await
                {
                    Ok(_) => {}
                    // State this plan cannot load (saved by another version, say): the view
                    // is rebuilt from its upstream instead.
                    Err(e @ EngineError::Storage(_)) if had_state => {
                        tracing::warn!(
                            view = %object.name,
                            error = %e,
                            "the checkpoint's state does not fit the view; rebuilding it"
                        );
                        self.create_view(v, &located.text, Some(fallback)).await?;
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => {
                return Err(EngineError::Internal(format!(
                    "a stored object's SQL is not a CREATE: {}",
                    object.sql
                )));
            }
        }
        Ok(())
    }

    /// Writes the catalog to the data directory, if there is one. Called with the catalog
    /// locked, right after a change, so the file follows the changes in order.
    pub(crate) fn persist(&self, catalog: &Catalog) -> Result<()> {
        let Some(store) = &self.inner.store else {
            return Ok(());
        };
        let flow = self.dataflow();
        let objects: Vec<StoredObject> = catalog
            .order
            .iter()
            .filter_map(|name| {
                if let Some(s) = catalog.sources.get(name) {
                    Some(StoredObject {
                        kind: StoredKind::Source,
                        name: name.clone(),
                        id: s.id,
                        sql: s.sql.clone(),
                        created_at: s.created_at,
                        start_offsets: flow
                            .sources
                            .get(name)
                            .and_then(|f| f.log.as_ref())
                            .map(|l| l.start.clone()),
                    })
                } else {
                    catalog.views.get(name).map(|v| StoredObject {
                        kind: StoredKind::MaterializedView,
                        name: name.clone(),
                        id: v.id,
                        sql: v.sql.clone(),
                        created_at: v.created_at,
                        start_offsets: None,
                    })
                }
            })
            .collect();
        drop(flow);
        store.save(&objects).map_err(|e| {
            EngineError::Storage(format!(
                "the change is made but could not be saved, so it will be gone after a \
                 restart: {e}"
            ))
        })
    }
}

/// Writes a checkpoint every `every` while the database lives.
fn start_checkpointer(db: &Database, every: std::time::Duration) {
    let weak = Arc::downgrade(&db.inner);
    let spawned = std::thread::Builder::new()
        .name("checkpointer".into())
        .spawn(move || {
            let mut failing = false;
            loop {
                std::thread::sleep(every);
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                match (Database { inner }).checkpoint() {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("checkpoints are written again");
                    }
                    Ok(_) => {}
                    // Logged once per run of failures, not every interval.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(error = %e, "cannot write a checkpoint; retrying");
                    }
                    Err(_) => {}
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the checkpoint thread");
    }
}

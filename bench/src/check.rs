//! What a run's views hold: compared with the batch oracle (`--check`), written out as JSON
//! lines for `bench/compare_views.py` (`--dump`), and summed up for the report.

use std::collections::BTreeMap;
use std::path::Path;

use palisade_engine::Database;

/// Every view against DataFusion running the view's SQL in batch over every event the run
/// ingested (the database must record its inputs).
pub async fn oracle(db: &Database) -> Result<(), String> {
    palisade_tests::oracle::check_all(db).await
}

/// Each view's rows as `DIR/<view>.jsonl`, one JSON object per row (Arrow's JSON writer:
/// NULL fields left out, timestamps as `YYYY-MM-DDTHH:MM:SS`).
pub async fn dump(db: &Database, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for view in db.definitions().await.views {
        let batches = db
            .query_batches(&format!("SELECT * FROM \"{}\"", view.name))
            .await
            .map_err(|e| format!("reading {}: {e}", view.name))?;
        let path = dir.join(format!("{}.jsonl", view.name));
        let file = std::fs::File::create(&path)
            .map_err(|e| format!("creating {}: {e}", path.display()))?;
        let mut writer = arrow_json::LineDelimitedWriter::new(std::io::BufWriter::new(file));
        for batch in &batches {
            writer
                .write(batch)
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        writer
            .finish()
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Rows per view, the views' total state (aggregate state and rows) and their query
/// caches, in bytes.
pub fn sizes(db: &Database) -> Result<(BTreeMap<String, u64>, u64, u64), String> {
    let sizes = db.view_sizes().map_err(|e| e.to_string())?;
    let bytes = sizes.iter().map(|s| s.state_bytes + s.row_bytes).sum();
    let cache = sizes.iter().map(|s| s.cache_bytes).sum();
    Ok((
        sizes.into_iter().map(|s| (s.name, s.rows)).collect(),
        bytes,
        cache,
    ))
}

//! Functions Palisade adds to DataFusion's, registered in every session.

pub mod percentile;

use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::SessionContext;

/// Registers Palisade's functions, replacing DataFusion's where PostgreSQL semantics differ.
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::from(percentile::Percentile::cont()));
    ctx.register_udaf(AggregateUDF::from(percentile::Percentile::disc()));
}

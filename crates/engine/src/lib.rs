//! freshet's feature engine: the single implementation of the semantics contract.
//!
//! Every path that produces a feature value (streaming updates, online reads, backfills, point-in-time
//! training sets, the oracle comparison in tests) drives this crate, so online and offline values are
//! identical by construction. To keep that promise testable, the crate is pure: it performs no I/O, spawns
//! no threads and depends on no async runtime, storage client or network crate. Callers hand it values and
//! ask it questions; how those values arrived is not its business.
//!
//! The pieces, from the bottom up:
//! - [`types`], [`value`]: column types and the dynamically typed [`Value`].
//! - [`expr`]: compiled, type-checked expressions (filters and derived columns), evaluated per event.
//! - [`aggregation`]: the closed set of aggregations and their typing rules.
//! - [`view`]: a feature view as the engine sees it ([`ViewDef`]) and the preparation of a source row into
//!   an event (keys, times, derived columns, filter).
//! - `accumulate`: each aggregation as a sequential fold in canonical order (the only arithmetic).
//! - [`entity`]: one entity's events, the as-of query `f(e, t, k)`, TTL, statuses and eviction.
//! - [`state`]: all entities of a view; the incremental entry point ([`ViewState::ingest`]).
//! - `query`, `values`: the as-of query, generic over where an entity's values live.
//! - `placed`: what one query has found (window starts, newest values), shared by its features.
//! - `answer`: the batch entry point ([`answer_batch`], [`answer_batch_each`]): many as-of queries
//!   over a whole set of prepared events, through the same query code; and [`EntityAnswerer`], the
//!   same for events that arrive already grouped by entity, one entity at a time.
//! - [`run`]: preparing a run of rows at once from a columnar reader's typed columns.
//! - [`in_place`]: answering an entity from values left in a columnar reader's rows, for views whose
//!   features pick one value each.
//! - [`snapshot`]: deterministic, versioned, checksummed bytes of a [`ViewState`].
//!
//! Times are microseconds since the Unix epoch in UTC throughout.

#![forbid(unsafe_code)]

mod accumulate;
pub mod aggregation;
mod answer;
pub mod batch;
mod column;
pub mod entity;
pub mod expr;
pub mod in_place;
pub mod key;
mod placed;
mod query;
pub mod record;
pub mod run;
pub mod snapshot;
pub mod state;
pub mod types;
pub mod value;
mod values;
pub mod view;

pub use accumulate::FeatureValue;
pub use aggregation::Aggregation;
pub use answer::{EntityAnswerer, answer_batch, answer_batch_each};
pub use batch::EventBatch;
pub use entity::{FeatureStatus, InsertOutcome, QueryError, ViewRow};
pub use expr::Expr;
pub use key::{EntityKey, KeyPart};
pub use record::{RecordError, RecordReader, record_version};
pub use state::{IngestOutcome, Query, ViewState};
pub use types::{DataType, FeatureType, Timestamp};
pub use value::{Cell, Value};
pub use view::{EventError, EventOrder, FeatureDef, PreparedEvent, Preparer, ViewDef};

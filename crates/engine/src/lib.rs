//! freshet's feature engine: the single implementation of the semantics contract.
//!
//! Every path that produces a feature value (streaming updates, online reads, backfills, point-in-time
//! training sets, the oracle comparison in tests) drives this crate, so online and offline values are
//! identical by construction. To keep that promise testable, the crate is pure: it performs no I/O, spawns
//! no threads and depends on no async runtime, storage client or network crate. Callers hand it values and
//! ask it questions; how those values arrived is not its business.
//!
//! What lives here today:
//! - [`types`]: the column types a source schema may declare and the types a feature produces.
//! - [`value`]: the dynamically typed [`Value`] that flows through expressions and aggregations.
//! - [`expr`]: compiled, type-checked expressions (filters and derived columns). The project crate parses
//!   SQL text into this form once; every path evaluates the same compiled tree.
//! - [`aggregation`]: the closed set of aggregations and their typing rules.

#![forbid(unsafe_code)]

pub mod aggregation;
pub mod expr;
pub mod types;
pub mod value;

pub use aggregation::Aggregation;
pub use expr::Expr;
pub use types::{DataType, FeatureType, Timestamp};
pub use value::Value;

//! Entity keys: the join-key values that identify one entity, e.g. `driver_id = 1001`.
//!
//! Join keys are `int64` or `string` (the project validator enforces it), so a key is hashable and totally
//! ordered; the order makes snapshots deterministic. A single key, by far the common case, avoids any
//! allocation beyond a shared string.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// One join-key value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyPart {
    /// An integer key.
    Int(i64),
    /// A string key.
    Str(Arc<str>),
}

/// The full key of an entity: one value per join key, in the entity's join-key order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityKey {
    /// A single join key.
    Single(KeyPart),
    /// Several join keys (composite entities or views over several entities).
    Composite(Arc<[KeyPart]>),
}

impl EntityKey {
    /// A key from its parts; one part gives [`EntityKey::Single`].
    pub fn from_parts(mut parts: Vec<KeyPart>) -> EntityKey {
        if parts.len() == 1
            && let Some(part) = parts.pop()
        {
            return EntityKey::Single(part);
        }
        EntityKey::Composite(parts.into())
    }

    /// An integer single key.
    pub fn int(i: i64) -> EntityKey {
        EntityKey::Single(KeyPart::Int(i))
    }

    /// A string single key.
    pub fn str(s: &str) -> EntityKey {
        EntityKey::Single(KeyPart::Str(Arc::from(s)))
    }

    /// The parts, in join-key order.
    pub fn parts(&self) -> &[KeyPart] {
        match self {
            EntityKey::Single(p) => std::slice::from_ref(p),
            EntityKey::Composite(ps) => ps,
        }
    }
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPart::Int(i) => write!(f, "{i}"),
            KeyPart::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.parts().iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(", "))
    }
}

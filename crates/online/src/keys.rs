//! How a (view, entity) pair becomes a store key. Nothing here does I/O.
//!
//! Redis keys are `fr:{<project>:<entity>}:<view>`. The part in braces is Redis Cluster's hash tag, so
//! every view of one entity lives in one slot (one node): a lookup of one entity across a service's views
//! goes to one node. The entity is encoded without ambiguity, so two different keys never meet:
//! each part is `i<decimal>` for an integer or `s<byte length>:<bytes>` for a string, joined by `,`.
//!
//! The embedded store keys its one table by `<view>` `0x00` `<entity>`, with the same entity encoding.
//! Cost per entity and view: the key (about 20 to 40 bytes) plus the record (a 28-byte header and the
//! entity's retained events: 24 bytes per event plus 9 per numeric feature input; docs/serving.md).

use freshet_engine::{EntityKey, KeyPart};

/// An embedded-store key held in memory by the write-behind: keys are short (a view name and an
/// entity, 10 to 30 bytes), so inline bytes spare each offered record an allocation, and each probe
/// of the held map (up to a million keys) a pointer chase to compare keys.
pub(crate) type InlineKey = smallvec::SmallVec<[u8; 24]>;

/// The unambiguous text of an entity key.
pub fn encode_entity(key: &EntityKey, out: &mut impl Extend<u8>) {
    // Numbers are formatted in place: a stream writes a key per touched entity, and a `String` per
    // number was an allocation each.
    let mut digits = itoa::Buffer::new();
    for (i, part) in key.parts().iter().enumerate() {
        if i > 0 {
            out.extend([b',']);
        }
        match part {
            KeyPart::Int(n) => {
                out.extend([b'i']);
                out.extend(digits.format(*n).as_bytes().iter().copied());
            }
            KeyPart::Str(s) => {
                out.extend([b's']);
                out.extend(digits.format(s.len()).as_bytes().iter().copied());
                out.extend([b':']);
                out.extend(s.as_bytes().iter().copied());
            }
        }
    }
}

/// The Redis key of `entity` in `view` of `project`.
pub fn redis_key(project: &str, view: &str, entity: &EntityKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + project.len() + view.len());
    out.extend_from_slice(b"fr:{");
    out.extend_from_slice(project.as_bytes());
    out.push(b':');
    encode_entity(entity, &mut out);
    out.extend_from_slice(b"}:");
    out.extend_from_slice(view.as_bytes());
    out
}

/// The embedded store's key of `entity` in `view`.
pub fn embedded_key(view: &str, entity: &EntityKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + view.len());
    embedded_key_into(view, entity, &mut out);
    out
}

/// [`embedded_key`], written into `out`.
pub(crate) fn embedded_key_into(view: &str, entity: &EntityKey, out: &mut impl Extend<u8>) {
    out.extend(view.as_bytes().iter().copied());
    out.extend([0]);
    encode_entity(entity, out);
}

/// Keyed records in the order of their keys' bytes, as redb keeps them.
///
/// A drained batch holds up to a million keys, and all of one view's keys begin with the same view
/// name: a comparison sort calling `memcmp` about twenty times per key, each scanning that shared
/// name first, was a tenth of the drainer's time in B2k. Here the batch's common prefix is found
/// once, each key carries the next eight bytes as a big-endian integer, and the sort compares those
/// integers, comparing whole keys only where they tie: 865,000 B2k keys sort in 65 ms instead of
/// 170.
pub(crate) fn in_key_order<'k, V>(
    records: impl Iterator<Item = (&'k [u8], V)>,
) -> impl Iterator<Item = (&'k [u8], V)> {
    let mut keyed: Vec<(u64, &[u8], V)> = records.map(|(key, value)| (0, key, value)).collect();
    if let Some(((_, first, _), rest)) = keyed.split_first() {
        let shared = rest.iter().fold(first.len(), |shared, (_, key, _)| {
            common_prefix_len(first.get(..shared).unwrap_or_default(), key)
        });
        for (next, key, _) in &mut keyed {
            *next = next_eight(key, shared);
        }
    }
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    keyed.into_iter().map(|(_, key, value)| (key, value))
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The eight bytes of `key` from `from` as a big-endian integer, zero-padded: integers order as
/// the bytes do, and where the padding ties a shorter key with a longer one, the whole keys are
/// compared.
fn next_eight(key: &[u8], from: usize) -> u64 {
    let mut bytes = [0u8; 8];
    let tail = key.get(from..).unwrap_or_default();
    for (slot, byte) in bytes.iter_mut().zip(tail) {
        *slot = *byte;
    }
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn part() -> impl Strategy<Value = KeyPart> {
        prop_oneof![
            any::<i64>().prop_map(KeyPart::Int),
            ".{0,6}".prop_map(|s| KeyPart::Str(s.as_str().into())),
        ]
    }

    proptest! {
        #[test]
        fn records_sort_as_their_key_bytes_do(keys in proptest::collection::btree_set(proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0u8), Just(255u8)], 0..14), 0..60), shift in 0usize..60) {
            // Keys of several lengths sharing prefixes, shuffled; each record carries its key's rank.
            let mut sorted: Vec<Vec<u8>> = keys.into_iter().collect();
            sorted.sort();
            let mut records: Vec<(&[u8], usize)> = sorted.iter().enumerate().map(|(i, k)| (k.as_slice(), i)).collect();
            if !records.is_empty() {
                let by = shift % records.len();
                records.rotate_left(by);
                records.reverse();
            }
            let ranks: Vec<usize> = in_key_order(records.into_iter()).map(|r| r.1).collect();
            prop_assert_eq!(ranks, (0..sorted.len()).collect::<Vec<_>>());
        }

        #[test]
        fn different_entities_never_share_a_key(a in proptest::collection::vec(part(), 1..3), b in proptest::collection::vec(part(), 1..3)) {
            let (a, b) = (EntityKey::from_parts(a), EntityKey::from_parts(b));
            prop_assert_eq!(a == b, redis_key("p", "v", &a) == redis_key("p", "v", &b));
            prop_assert_eq!(a == b, embedded_key("v", &a) == embedded_key("v", &b));
        }
    }

    #[test]
    fn a_batch_of_view_keys_sorts_past_the_shared_view_name() {
        let keys: Vec<Vec<u8>> = [1001, 7, 100_000_000, 42, 1000]
            .into_iter()
            .map(|id| embedded_key("driver_stats", &EntityKey::int(id)))
            .chain([embedded_key("a_view", &EntityKey::int(5))])
            .collect();
        let records = keys.iter().map(|k| (k.as_slice(), ()));
        let mut expected: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        expected.sort();
        assert_eq!(
            in_key_order(records).map(|r| r.0).collect::<Vec<_>>(),
            expected
        );
    }

    #[test]
    fn views_of_one_entity_share_a_hash_tag() {
        let key = EntityKey::str("a}b");
        let tag = |k: &[u8]| {
            let open = k.iter().position(|&c| c == b'{').unwrap();
            let close = open + k[open..].iter().position(|&c| c == b'}').unwrap();
            k[open..close].to_vec()
        };
        assert_eq!(
            tag(&redis_key("p", "view_one", &key)),
            tag(&redis_key("p", "view_two", &key))
        );
        assert_eq!(
            redis_key("p", "v", &EntityKey::int(1001)),
            b"fr:{p:i1001}:v"
        );
        // The layout is stored (in redb files and Redis): pinned for negative and text parts too.
        let composite = EntityKey::from_parts(vec![KeyPart::Int(-7), KeyPart::Str("ab".into())]);
        assert_eq!(redis_key("p", "v", &composite), b"fr:{p:i-7,s2:ab}:v");
        assert_eq!(embedded_key("v", &composite), b"v\0i-7,s2:ab");
    }
}

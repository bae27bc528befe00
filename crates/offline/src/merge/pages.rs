//! Where one thread's keys are in a file sorted by key, from the file's page index alone: the key
//! column's pages, each with its rows and its least and greatest key. Cutting the key space at page
//! boundaries lets each thread skip the pages of the others without decoding them.

use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;

/// The keys one thread merges: from `low` (none: unbounded) up to but excluding `high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KeyRange {
    pub(super) low: Option<i64>,
    pub(super) high: Option<i64>,
}

impl KeyRange {
    pub(super) fn holds(&self, key: i64) -> bool {
        self.low.is_none_or(|low| key >= low) && self.high.is_none_or(|high| key < high)
    }
}

/// The ranges between consecutive `cuts` (ascending), covering every key.
pub(super) fn key_ranges(cuts: &[i64]) -> Vec<KeyRange> {
    let mut bounds: Vec<Option<i64>> = vec![None];
    bounds.extend(cuts.iter().copied().map(Some));
    bounds.push(None);
    bounds
        .windows(2)
        .map(|w| KeyRange {
            low: w[0],
            high: w[1],
        })
        .collect()
}

/// One page of the key column: its rows (counted across row groups) and its least and greatest keys
/// (`None`: unknown, or a page of nulls).
pub(super) struct KeyPage {
    pub(super) rows: std::ops::Range<u64>,
    pub(super) min: Option<i64>,
    pub(super) max: Option<i64>,
}

/// The pages of column `key` in `metadata`'s page index; empty when the file has none.
pub(super) fn key_pages(metadata: &ParquetMetaData, key: &str) -> Vec<KeyPage> {
    let schema = metadata.file_metadata().schema_descr();
    let Some(leaf) = schema.columns().iter().position(|c| c.name() == key) else {
        return Vec::new();
    };
    let (Some(column_index), Some(offset_index)) =
        (metadata.column_index(), metadata.offset_index())
    else {
        return Vec::new();
    };
    let mut pages = Vec::new();
    let mut base = 0u64;
    for (group, (columns, offsets)) in column_index.iter().zip(offset_index).enumerate() {
        let group_rows = metadata.row_group(group).num_rows().max(0) as u64;
        let (Some(ColumnIndexMetaData::INT64(index)), Some(offsets)) =
            (columns.get(leaf), offsets.get(leaf))
        else {
            return Vec::new();
        };
        let locations = offsets.page_locations();
        for (p, location) in locations.iter().enumerate() {
            let start = location.first_row_index.max(0) as u64;
            let end = locations
                .get(p + 1)
                .map_or(group_rows, |next| next.first_row_index.max(0) as u64);
            pages.push(KeyPage {
                rows: base + start..base + end,
                min: index.min_value(p).copied(),
                max: index.max_value(p).copied(),
            });
        }
        base += group_rows;
    }
    pages
}

/// The rows of a file sorted by `key` that can hold keys of `range`: whole pages, from its page
/// index; every row when it has none.
pub(super) fn selection(
    metadata: &ParquetMetaData,
    key: &str,
    range: KeyRange,
) -> Option<RowSelection> {
    let pages = key_pages(metadata, key);
    if pages.is_empty() {
        return None;
    }
    Some(RowSelection::from(selectors(&pages, range)))
}

/// Per page, whether a reader of `range` selects or skips its rows.
fn selectors(pages: &[KeyPage], range: KeyRange) -> Vec<RowSelector> {
    let wanted = |page: &KeyPage| match (page.min, page.max) {
        (Some(min), Some(max)) => {
            range.high.is_none_or(|high| min < high) && range.low.is_none_or(|low| max >= low)
        }
        // Unknown bounds or nulls: read it, the cursor skips what is not in range.
        _ => true,
    };
    pages
        .iter()
        .map(|page| {
            let rows = (page.rows.end - page.rows.start) as usize;
            if wanted(page) {
                RowSelector::select(rows)
            } else {
                RowSelector::skip(rows)
            }
        })
        .collect()
}

/// Keys cutting pages (each its least key and its rows) into at most `parts` ranges about equal in
/// rows: ascending, distinct, at most `parts - 1` of them.
pub(super) fn cuts(mut pages: Vec<(i64, u64)>, parts: usize) -> Vec<i64> {
    pages.sort_unstable();
    let total: u64 = pages.iter().map(|p| p.1).sum();
    let mut cuts = Vec::with_capacity(parts.saturating_sub(1));
    let mut seen = 0u64;
    // A cut at the least key, or at the previous cut, would leave a range with no key.
    let mut last = pages.first().map(|p| p.0);
    for (min, rows) in pages {
        let share = total as u128 * (cuts.len() as u128 + 1) / parts.max(1) as u128;
        if cuts.len() + 1 < parts && seen as u128 >= share && last.is_some_and(|l| min > l) {
            cuts.push(min);
            last = Some(min);
        }
        seen += rows;
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Sorted `keys` cut into pages of `sizes` (cycled), as a page index describes them.
    fn pages_of(keys: &[i64], sizes: &[usize]) -> Vec<KeyPage> {
        let mut pages = Vec::new();
        let mut start = 0;
        for &size in sizes.iter().cycle() {
            if start >= keys.len() {
                break;
            }
            let end = (start + size).min(keys.len());
            pages.push(KeyPage {
                rows: start as u64..end as u64,
                min: Some(keys[start]),
                max: Some(keys[end - 1]),
            });
            start = end;
        }
        pages
    }

    #[test]
    fn ranges_between_cuts_cover_every_key() {
        assert_eq!(
            key_ranges(&[]),
            [KeyRange {
                low: None,
                high: None
            }]
        );
        let ranges = key_ranges(&[10, 20]);
        assert_eq!(ranges.len(), 3);
        assert!(ranges[0].holds(i64::MIN) && ranges[0].holds(9) && !ranges[0].holds(10));
        assert!(ranges[1].holds(10) && ranges[1].holds(19) && !ranges[1].holds(20));
        assert!(ranges[2].holds(20) && ranges[2].holds(i64::MAX));
    }

    #[test]
    fn cuts_balance_rows_at_distinct_page_starts() {
        let pages = vec![(0, 100), (50, 100), (100, 100), (150, 100)];
        assert_eq!(cuts(pages.clone(), 2), [100]);
        assert_eq!(cuts(pages.clone(), 1), Vec::<i64>::new());
        assert_eq!(cuts(pages, 4), [50, 100, 150]);
        // One key everywhere: no cut can split it.
        assert!(cuts(vec![(7, 10), (7, 10), (7, 10)], 2).is_empty());
        assert!(cuts(Vec::new(), 2).is_empty());
    }

    proptest! {
        #[test]
        fn every_key_lands_in_one_range_and_its_page_is_selected(
            mut keys in proptest::collection::vec(-50i64..50, 1..300),
            sizes in proptest::collection::vec(1usize..40, 1..5),
            parts in 1usize..5,
        ) {
            keys.sort_unstable();
            let pages = pages_of(&keys, &sizes);
            let found = cuts(pages.iter().map(|p| (p.min.unwrap_or(0), p.rows.end - p.rows.start)).collect(), parts);
            prop_assert!(found.len() < parts);
            prop_assert!(found.windows(2).all(|w| w[0] < w[1]));
            let ranges = key_ranges(&found);
            for (row, &key) in keys.iter().enumerate() {
                let holding: Vec<&KeyRange> = ranges.iter().filter(|r| r.holds(key)).collect();
                prop_assert_eq!(holding.len(), 1);
                // The reader of that range selects the row's page.
                let mut at = 0usize;
                let mut selected = false;
                for selector in selectors(&pages, *holding[0]) {
                    if (at..at + selector.row_count).contains(&row) {
                        selected = !selector.skip;
                    }
                    at += selector.row_count;
                }
                prop_assert!(selected, "row {} (key {}) skipped", row, key);
            }
        }
    }
}

//! Where one thread's keys are in a file sorted by key, from the file's page index alone: the key
//! column's pages, each with its rows and its least and greatest key. Cutting the key space at page
//! boundaries lets each thread skip the pages of the others without decoding them.

use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;

/// A join key in the order the merge and compaction share: integers by value, text by its bytes
/// (which is how both Rust and Arrow order strings). Page bounds of text may be cut short and are not
/// always valid UTF-8, hence bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MergeKey {
    /// An integer key.
    Int(i64),
    /// A text key's bytes.
    Text(Box<[u8]>),
}

impl std::fmt::Display for MergeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeKey::Int(x) => write!(f, "{x}"),
            MergeKey::Text(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
        }
    }
}

/// The keys one thread merges: from `low` (none: unbounded) up to but excluding `high`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyRange {
    pub(super) low: Option<MergeKey>,
    pub(super) high: Option<MergeKey>,
}

impl KeyRange {
    pub(super) fn holds(&self, key: &MergeKey) -> bool {
        self.low.as_ref().is_none_or(|low| key >= low)
            && self.high.as_ref().is_none_or(|high| key < high)
    }
}

/// The ranges between consecutive `cuts` (ascending), covering every key.
pub(super) fn key_ranges(cuts: &[MergeKey]) -> Vec<KeyRange> {
    let mut bounds: Vec<Option<MergeKey>> = vec![None];
    bounds.extend(cuts.iter().cloned().map(Some));
    bounds.push(None);
    bounds
        .windows(2)
        .map(|w| KeyRange {
            low: w[0].clone(),
            high: w[1].clone(),
        })
        .collect()
}

/// One page of the key column: its rows (counted across row groups) and its least and greatest keys
/// (`None`: unknown, or a page of nulls).
pub(super) struct KeyPage {
    pub(super) rows: std::ops::Range<u64>,
    pub(super) min: Option<MergeKey>,
    pub(super) max: Option<MergeKey>,
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
        let (Some(index), Some(offsets)) = (columns.get(leaf), offsets.get(leaf)) else {
            return Vec::new();
        };
        // Text bounds may be truncated: a shortened least key is still no greater than the page's
        // keys, and the writer rounds a shortened greatest key up.
        let bound = |p: usize, least: bool| match index {
            ColumnIndexMetaData::INT64(i) => {
                let v = if least {
                    i.min_value(p)
                } else {
                    i.max_value(p)
                };
                v.map(|&x| MergeKey::Int(x))
            }
            ColumnIndexMetaData::BYTE_ARRAY(i) => {
                let v = if least {
                    i.min_value(p)
                } else {
                    i.max_value(p)
                };
                v.map(|b| MergeKey::Text(b.into()))
            }
            _ => None,
        };
        if !matches!(
            index,
            ColumnIndexMetaData::INT64(_) | ColumnIndexMetaData::BYTE_ARRAY(_)
        ) {
            return Vec::new();
        }
        let locations = offsets.page_locations();
        for (p, location) in locations.iter().enumerate() {
            let start = location.first_row_index.max(0) as u64;
            let end = locations
                .get(p + 1)
                .map_or(group_rows, |next| next.first_row_index.max(0) as u64);
            pages.push(KeyPage {
                rows: base + start..base + end,
                min: bound(p, true),
                max: bound(p, false),
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
    range: &KeyRange,
) -> Option<RowSelection> {
    let pages = key_pages(metadata, key);
    if pages.is_empty() {
        return None;
    }
    Some(RowSelection::from(selectors(&pages, range)))
}

/// Per page, whether a reader of `range` selects or skips its rows.
fn selectors(pages: &[KeyPage], range: &KeyRange) -> Vec<RowSelector> {
    let wanted = |page: &KeyPage| match (&page.min, &page.max) {
        (Some(min), Some(max)) => {
            range.high.as_ref().is_none_or(|high| min < high)
                && range.low.as_ref().is_none_or(|low| max >= low)
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
pub(super) fn cuts(mut pages: Vec<(MergeKey, u64)>, parts: usize) -> Vec<MergeKey> {
    pages.sort_unstable();
    let total: u64 = pages.iter().map(|p| p.1).sum();
    let mut cuts: Vec<MergeKey> = Vec::with_capacity(parts.saturating_sub(1));
    let mut seen = 0u64;
    // A cut at the least key, or at the previous cut, would leave a range with no key.
    let mut last = pages.first().map(|p| p.0.clone());
    for (min, rows) in pages {
        let share = total as u128 * (cuts.len() as u128 + 1) / parts.max(1) as u128;
        if cuts.len() + 1 < parts
            && seen as u128 >= share
            && last.as_ref().is_some_and(|l| &min > l)
        {
            last = Some(min.clone());
            cuts.push(min);
        }
        seen += rows;
    }
    cuts
}

/// Integer keys cutting pages (each its least and greatest key and its rows) into at most `parts`
/// ranges equal in rows to within a few: each page's rows are taken as spread evenly over its keys,
/// so a cut can fall inside pages. [`cuts`] balances only to within a page per file, and the merge
/// threads finished up to a tenth of a second apart. Ascending, distinct, at most `parts - 1`.
pub(super) fn int_cuts(pages: &[(i64, i64, u64)], parts: usize) -> Vec<i64> {
    let total: u64 = pages.iter().map(|p| p.2).sum();
    let (Some(least), Some(greatest)) = (
        pages.iter().map(|p| p.0).min(),
        pages.iter().map(|p| p.1).max(),
    ) else {
        return Vec::new();
    };
    // Rows estimated to have a key below `k`.
    let below = |k: i64| -> f64 {
        pages
            .iter()
            .map(|&(min, max, rows)| {
                let spread = (i128::from(k) - i128::from(min)) as f64
                    / (i128::from(max) - i128::from(min) + 1) as f64;
                rows as f64 * spread.clamp(0.0, 1.0)
            })
            .sum()
    };
    let mut cuts: Vec<i64> = Vec::new();
    for part in 1..parts.max(1) {
        let target = total as f64 * part as f64 / parts as f64;
        // The least key above the least of all (so no range is empty) with enough rows below it.
        let (mut low, mut high) = (i128::from(least) + 1, i128::from(greatest));
        if low > high {
            break;
        }
        while low < high {
            let middle = (low + high).div_euclid(2);
            // `middle` lies between two i64 keys, so it is one.
            if below(middle as i64) >= target {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        let cut = low as i64;
        if cuts.last().is_none_or(|&last| cut > last) {
            cuts.push(cut);
        }
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn int(x: i64) -> MergeKey {
        MergeKey::Int(x)
    }

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
                min: Some(MergeKey::Int(keys[start])),
                max: Some(MergeKey::Int(keys[end - 1])),
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
        let ranges = key_ranges(&[int(10), int(20)]);
        assert_eq!(ranges.len(), 3);
        assert!(
            ranges[0].holds(&int(i64::MIN))
                && ranges[0].holds(&int(9))
                && !ranges[0].holds(&int(10))
        );
        assert!(
            ranges[1].holds(&int(10)) && ranges[1].holds(&int(19)) && !ranges[1].holds(&int(20))
        );
        assert!(ranges[2].holds(&int(20)) && ranges[2].holds(&int(i64::MAX)));
    }

    #[test]
    fn cuts_balance_rows_at_distinct_page_starts() {
        let pages = vec![
            (int(0), 100),
            (int(50), 100),
            (int(100), 100),
            (int(150), 100),
        ];
        assert_eq!(cuts(pages.clone(), 2), [int(100)]);
        assert_eq!(cuts(pages.clone(), 1), Vec::<MergeKey>::new());
        assert_eq!(cuts(pages, 4), [int(50), int(100), int(150)]);
        // One key everywhere: no cut can split it.
        assert!(cuts(vec![(int(7), 10), (int(7), 10), (int(7), 10)], 2).is_empty());
        assert!(cuts(Vec::new(), 2).is_empty());
        // Text orders by bytes: "d10" before "d2".
        let text = |s: &str| MergeKey::Text(s.as_bytes().into());
        assert_eq!(
            cuts(vec![(text("d2"), 10), (text("d10"), 10)], 2),
            [text("d2")]
        );
    }

    #[test]
    fn integer_cuts_fall_inside_pages_to_balance_rows() {
        // Two files over the same keys, pages of 100 rows each spanning 100 keys: the page-start cut
        // would count the second file's first page wholly on the left.
        let pages = [(0, 99, 100), (100, 199, 100), (0, 99, 100), (100, 199, 100)];
        assert_eq!(int_cuts(&pages, 2), [100]);
        let pages = [(0, 199, 200), (50, 149, 100)];
        // Half of 300 rows: 100 keys of the first page (100 rows) and 50 of the second (50 rows).
        assert_eq!(int_cuts(&pages, 2), [100]);
        assert_eq!(int_cuts(&[(7, 7, 10), (7, 7, 10)], 2), Vec::<i64>::new());
        assert!(int_cuts(&[], 3).is_empty());
        assert_eq!(int_cuts(&[(i64::MIN, i64::MAX, 10)], 2).len(), 1);
    }

    /// Checks `found` cuts `parts` ways, ascending, and that every row of `keys` (sorted, in `pages`)
    /// lands in exactly one range whose reader selects the row's page.
    fn check_cuts(
        keys: &[i64],
        pages: &[KeyPage],
        found: &[MergeKey],
        parts: usize,
    ) -> Result<(), TestCaseError> {
        prop_assert!(found.len() < parts);
        prop_assert!(found.windows(2).all(|w| w[0] < w[1]));
        let ranges = key_ranges(found);
        for (row, &key) in keys.iter().enumerate() {
            let holding: Vec<&KeyRange> = ranges.iter().filter(|r| r.holds(&int(key))).collect();
            prop_assert_eq!(holding.len(), 1);
            // The reader of that range selects the row's page.
            let mut at = 0usize;
            let mut selected = false;
            for selector in selectors(pages, holding[0]) {
                if (at..at + selector.row_count).contains(&row) {
                    selected = !selector.skip;
                }
                at += selector.row_count;
            }
            prop_assert!(selected, "row {} (key {}) skipped", row, key);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn integer_cuts_land_every_key_in_one_range_with_its_page_selected(
            mut keys in proptest::collection::vec(-50i64..50, 1..300),
            sizes in proptest::collection::vec(1usize..40, 1..5),
            parts in 1usize..5,
        ) {
            keys.sort_unstable();
            let pages = pages_of(&keys, &sizes);
            let bounds: Vec<(i64, i64, u64)> = pages.iter().map(|p| match (&p.min, &p.max) {
                (Some(MergeKey::Int(min)), Some(MergeKey::Int(max))) => (*min, *max, p.rows.end - p.rows.start),
                _ => unreachable!("integer pages"),
            }).collect();
            let found: Vec<MergeKey> = int_cuts(&bounds, parts).into_iter().map(int).collect();
            check_cuts(&keys, &pages, &found, parts)?;
        }

        #[test]
        fn every_key_lands_in_one_range_and_its_page_is_selected(
            mut keys in proptest::collection::vec(-50i64..50, 1..300),
            sizes in proptest::collection::vec(1usize..40, 1..5),
            parts in 1usize..5,
        ) {
            keys.sort_unstable();
            let pages = pages_of(&keys, &sizes);
            let found = cuts(pages.iter().map(|p| (p.min.clone().unwrap_or(int(0)), p.rows.end - p.rows.start)).collect(), parts);
            check_cuts(&keys, &pages, &found, parts)?;
        }
    }
}

//! Text a reader hands over as a dictionary (each row a key into a few distinct values), taken in as
//! the column's own codes without looking each row's text up.
//!
//! A categorical column (a status, a country) is stored in Parquet as keys into each file's
//! dictionary. Taken row by row, each value was first written out as text by the reader and then
//! hashed back into a code by the column: about 17 ns a value, a tenth of a training set's time for
//! one such column. Here each dictionary is translated into the column's codes once (a lookup per
//! distinct value) and a run of rows becomes a run of table reads.

use super::{Data, InputColumn, Words};
use crate::run::CellColumn;
use crate::value::Cell;
use std::collections::HashMap;

/// The translation of each dictionary a column took runs from, by the id its reader gave it: entry
/// `j` is the column's code for the dictionary's value `j`, or [`UNSEEN`] until a row uses it.
#[derive(Default)]
pub(super) struct Translations(HashMap<u64, Vec<u32>, foldhash::fast::RandomState>);

/// A dictionary value no row has used yet. Values are numbered only when first used, so a column's
/// words come in the order its rows first hold them, exactly as when taken cell by cell.
const UNSEEN: u32 = u32::MAX;

impl Translations {
    /// Dictionaries remembered before all are forgotten: a merge meets one per file it reads.
    const LIMIT: usize = 256;

    /// Appends the code of each key's value of dictionary `id` (values from `values`) to `codes`,
    /// numbering values in `words` as rows first use them; `false` (with `codes` as it was) if a key
    /// is negative, a value not a text, or `words` has no room for one.
    fn extend(
        &mut self,
        id: u64,
        keys: &[i32],
        values: &dyn CellColumn,
        words: &mut Words,
        codes: &mut Vec<u32>,
    ) -> bool {
        if self.0.len() >= Self::LIMIT && !self.0.contains_key(&id) {
            self.0.clear();
        }
        let table = self.0.entry(id).or_default();
        let before = codes.len();
        codes.reserve(keys.len());
        for &key in keys {
            let Ok(k) = usize::try_from(key) else {
                codes.truncate(before);
                return false;
            };
            if k >= table.len() {
                table.resize(k + 1, UNSEEN);
            }
            // `table` was just made longer than `k`.
            let mut code = table[k];
            if code == UNSEEN {
                let number = match values.cell(k) {
                    Cell::Str(text) => words.code(text),
                    _ => None,
                };
                let Some(number) = number else {
                    codes.truncate(before);
                    return false;
                };
                table[k] = number;
                code = number;
            }
            codes.push(code);
        }
        true
    }
}

// Not part of a column's value: two columns holding the same values are equal and print alike,
// whatever dictionaries they met on the way, and a copy starts with none.
impl Clone for Translations {
    fn clone(&self) -> Self {
        Translations::default()
    }
}

impl PartialEq for Translations {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Translations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Translations")
    }
}

impl InputColumn {
    /// Appends one value per key, value `values.cell(key)` of dictionary `id`, if the column holds
    /// words and can number every value the keys reach; `false` (nothing appended) otherwise.
    pub(crate) fn extend_dictionary(
        &mut self,
        keys: &[i32],
        values: &dyn CellColumn,
        id: u64,
    ) -> bool {
        let Data::Words { codes, words } = &mut self.data else {
            return false;
        };
        if !self.translations.extend(id, keys, values, words, codes) {
            return false;
        }
        if !self.nulls.is_empty() {
            self.nulls.resize(self.nulls.len() + keys.len(), false);
        }
        true
    }
}

//! The allocator freshet's binaries run on, and the two settings they give it.
//!
//! Engine state is many small per-entity vectors, and mimalloc serves them faster than the system
//! allocator (B2 as-of-now reads: p50 1.4 us -> 0.95 us, docs/benchmarks.md). Library crates stay
//! allocator-neutral: only the binaries (`freshet`, `freshet-bench`) declare
//! `#[global_allocator] static A: freshet_alloc::MiMalloc = freshet_alloc::MiMalloc;` and call
//! [`tune_process`] first thing in `main`, so benchmarks measure what users run.
//!
//! This is the workspace's one crate allowed `unsafe` (denied by default here, allowed at a single
//! documented call), so that every other crate can keep `unsafe_code = "forbid"`.

pub use mimalloc::MiMalloc;

/// Applies both settings, each unless its environment variable says otherwise.
pub fn tune_process() {
    without_huge_pages();
    keep_freed_memory();
}

/// Turns transparent huge pages off for this process unless `MIMALLOC_ALLOW_THP` is set (then
/// mimalloc decides, as it documents).
///
/// mimalloc asks the kernel for huge pages on its regions, and on hosts whose THP setting is
/// `madvise` the kernel then compacts memory and zeroes a whole 2 MiB page at the first touch of any
/// byte in it. freshet's hot paths allocate and free large buffers continuously (decoded Parquet
/// pages, store batches, checkpoint buffers), so that zeroing was the single largest cost measured:
/// with huge pages off, B2k went from 177,000-190,000 to 220,000 events per CPU-second, B3 over a
/// compacted log from 1.96-2.05 s to 1.79-1.86 s, and run-to-run variance fell (docs/benchmarks.md,
/// session 16). The engine alone (B2, a million entities in place) is about 4 % slower without them.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // Only an old kernel refuses the call, and then freshet runs as it did before.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

/// How long freed memory stays with the allocator before it goes back to the system: long enough
/// that the next round's buffers reuse it instead of faulting in freshly zeroed pages.
pub const PURGE_DELAY_MS: i32 = 10_000;

/// mimalloc's `mi_option_purge_delay` in its `mi_option_t` enum (`mimalloc.h` of the vendored v3
/// sources); a test checks it against the option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for [`PURGE_DELAY_MS`] instead of mimalloc's 1 s, unless
/// `MIMALLOC_PURGE_DELAY` is set (mimalloc then reads it, as it documents).
///
/// A stream's rounds free and allocate tens of megabytes each (decoded records, store batches, log
/// buffers, redb's pages). Returned to the system after a second, they come back as fresh pages
/// the kernel zeroes at first touch: `clear_page_erms` was 11 % of B2k's samples. With 10 s, B2k
/// went from 252,525-262,467 to 272,109-286,944 events per CPU-second for a peak 0.1 GiB higher
/// (docs/benchmarks.md, session 20); short commands (B3) are unchanged.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; it takes no pointers,
    // is thread-safe, and may be called at any time (mimalloc reads the option on every purge).
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: as in `keep_freed_memory`; reading an option is as harmless as setting it.
        let read = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // mimalloc v3 documents a purge delay of 1,000 ms: a different value here means the
            // enum moved and the constant names another option.
            assert_eq!(read(), 1_000);
        }
        keep_freed_memory();
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(read(), i64::from(PURGE_DELAY_MS));
        }
    }
}

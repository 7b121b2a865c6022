//! The input-size bound: a global allocator that counts live heap bytes, and
//! [`measure`], the peak of live bytes above the start while a closure runs.
//!
//! Each target asserts `peak <= factor * input_len + constant` around the call
//! of the parser under test (not around its own checks), so a parser that
//! allocates by a length it read from the input, instead of by the input's
//! size, fails at once. Allocations made inside aws-lc (C) are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts every Rust heap allocation of the process.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed).wrapping_add(bytes);
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call goes to `System` unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the peak of live heap bytes above
/// the level at the start (what `f` allocated at most at one time, its
/// result included).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    let result = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(start);
    (result, peak)
}

/// A bound on the heap a parser may use for an input of `len` bytes.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// Bytes allowed per input byte.
    pub per_byte: usize,
    /// Bytes allowed whatever the input (fixed tables, runtime, messages).
    pub constant: usize,
}

impl Bound {
    /// Panics (a fuzzer finding) when `peak` is over the bound for `len`.
    pub fn check(self, what: &str, len: usize, peak: usize) {
        let limit = self
            .per_byte
            .saturating_mul(len)
            .saturating_add(self.constant);
        assert!(
            peak <= limit,
            "{what}: {peak} heap bytes at peak for a {len}-byte input, over the bound {limit} \
             ({} per byte + {})",
            self.per_byte,
            self.constant
        );
    }
}

/// Runs `f`, then checks its peak heap against `bound` for an input of `len` bytes.
pub fn bounded<R>(what: &str, len: usize, bound: Bound, f: impl FnOnce() -> R) -> R {
    let (result, peak) = measure(f);
    bound.check(what, len, peak);
    result
}

//! A fixed-length array in its own anonymous mapping, on transparent huge
//! pages where the kernel gives them.
//!
//! The flow table is read at random: on 4 KiB pages a million flows span
//! 20k pages, far more than the TLB holds, so most lookups also miss the
//! TLB. An array of at least one huge page is mapped 2 MiB aligned and
//! marked `MADV_HUGEPAGE` (THP in `madvise` mode serves only such regions);
//! where the kernel refuses, it keeps 4 KiB pages and works the same.
//! Every element is written at construction, so all pages are faulted in
//! then and never on the packet path.

use std::ffi::c_void;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The x86-64 (and common arm64) transparent huge page size.
pub(crate) const HUGE_PAGE: usize = 2 << 20;
/// Mapping granularity below one huge page (never larger than the real
/// page size matters: `mmap` rounds lengths up itself).
const SMALL_PAGE: usize = 4096;

/// The flow table's memory could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableAllocError {
    #[error("flow table array of {elements} elements of {element_bytes} bytes exceeds the address space")]
    TooLarge {
        elements: usize,
        element_bytes: usize,
    },
    #[error("cannot map {bytes} bytes for the flow table: {}", std::io::Error::from_raw_os_error(*errno))]
    Map { bytes: usize, errno: i32 },
}

/// `len` elements of `T` in a private anonymous mapping, unmapped on drop.
pub(crate) struct HugeArray<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    /// Bytes mapped at `ptr` (whole pages, whole huge pages from one up).
    map_len: usize,
}

// SAFETY: the array owns its mapping exclusively (like a `Box<[T]>`), so
// moving it to another thread is as safe as moving the `T`s.
unsafe impl<T: Copy + Send> Send for HugeArray<T> {}
// SAFETY: shared access only hands out `&[T]`, as `Box<[T]>` does.
unsafe impl<T: Copy + Sync> Sync for HugeArray<T> {}

impl<T: Copy> HugeArray<T> {
    /// `len` copies of `fill`, every page written.
    pub fn new(len: usize, fill: T) -> Result<Self, TableAllocError> {
        const { assert!(std::mem::align_of::<T>() <= SMALL_PAGE) };
        let element_bytes = std::mem::size_of::<T>();
        let too_large = TableAllocError::TooLarge {
            elements: len,
            element_bytes,
        };
        let bytes = len
            .checked_mul(element_bytes)
            .filter(|&b| b <= isize::MAX as usize - 2 * HUGE_PAGE)
            .ok_or(too_large)?
            .max(1);
        let (base, map_len) = if bytes >= HUGE_PAGE {
            let map_len = bytes.next_multiple_of(HUGE_PAGE);
            let base = map_aligned(map_len)?;
            // SAFETY: `base..base + map_len` is the mapping just made;
            // madvise only changes how its pages are backed. Failure (THP
            // off or unsupported) leaves 4 KiB pages, which work the same.
            unsafe { libc::madvise(base, map_len, libc::MADV_HUGEPAGE) };
            (base, map_len)
        } else {
            let map_len = bytes.next_multiple_of(SMALL_PAGE);
            (map_anonymous(map_len)?, map_len)
        };
        let ptr = base.cast::<T>();
        for i in 0..len {
            // SAFETY: `ptr` is page aligned (so aligned for `T`, checked
            // above) and the mapping holds `len` elements; writing never
            // reads or drops the old (zero) bytes.
            unsafe { ptr.add(i).write(fill) };
        }
        Ok(HugeArray {
            // SAFETY: mmap never returns a null mapping on success.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            len,
            map_len,
        })
    }

    /// Bytes mapped (the array rounded up to whole pages).
    pub fn mapped_bytes(&self) -> usize {
        self.map_len
    }
}

impl<T: Copy> Deref for HugeArray<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points at `len` initialised elements owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> DerefMut for HugeArray<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeArray<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr..ptr + map_len` is exactly the mapping `new` made;
        // no borrow of it outlives `self`. `T: Copy` has nothing to drop.
        // munmap of a valid mapping cannot fail.
        unsafe { libc::munmap(self.ptr.as_ptr().cast::<c_void>(), self.map_len) };
    }
}

fn map_anonymous(len: usize) -> Result<*mut c_void, TableAllocError> {
    // SAFETY: a fresh private anonymous mapping aliases nothing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(TableAllocError::Map {
            bytes: len,
            errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        });
    }
    Ok(p)
}

/// A mapping of `len` bytes (a multiple of [`HUGE_PAGE`]) starting on a
/// huge page boundary: map one huge page more, then unmap the unaligned
/// head and the surplus tail.
fn map_aligned(len: usize) -> Result<*mut c_void, TableAllocError> {
    let reserved = len + HUGE_PAGE;
    let raw = map_anonymous(reserved)?;
    let head = (raw as usize).next_multiple_of(HUGE_PAGE) - raw as usize;
    let tail = reserved - head - len;
    // SAFETY: `head < HUGE_PAGE`, so `raw + head` is inside the mapping.
    let base = unsafe { raw.cast::<u8>().add(head) };
    // SAFETY: both ranges lie inside the mapping just made and outside
    // `base..base + len`; nothing refers to them. Each is page aligned
    // (raw and base are) and a whole number of pages long.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap(base.add(len).cast::<c_void>(), tail);
        }
    }
    Ok(base.cast::<c_void>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of `a` not resident in memory (mincore).
    fn missing_pages<T: Copy>(a: &HugeArray<T>) -> usize {
        let pages = a.map_len.div_ceil(SMALL_PAGE);
        let mut resident = vec![0u8; pages];
        // SAFETY: the range is the array's own mapping, `resident` has
        // one byte per 4 KiB page of it.
        let rc = unsafe {
            libc::mincore(
                a.ptr.as_ptr().cast::<c_void>(),
                a.map_len,
                resident.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
        resident.iter().filter(|&&r| r & 1 == 0).count()
    }

    /// AnonHugePages (kB) of the mapping holding `addr`, from smaps.
    fn anon_huge_kb(addr: usize) -> Option<u64> {
        smaps_field(addr, "AnonHugePages:")?
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// The text after `field` in the smaps entry of the mapping holding `addr`.
    fn smaps_field(addr: usize, field: &str) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = (lo..hi).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(value) = line.strip_prefix(field) {
                    return Some(value.trim().to_string());
                }
            }
        }
        None
    }

    fn thp_mode_selected(file: &str) -> Option<String> {
        let text = std::fs::read_to_string(file).ok()?;
        let start = text.find('[')? + 1;
        let end = text[start..].find(']')? + start;
        Some(text[start..end].to_string())
    }

    #[test]
    fn small_array_is_filled_resident_and_writable() {
        let mut a = HugeArray::new(1000, 0xdead_beef_u32).unwrap();
        assert_eq!(a.len(), 1000);
        assert!(a.iter().all(|&x| x == 0xdead_beef));
        assert_eq!(a.mapped_bytes(), 4096);
        assert_eq!(missing_pages(&a), 0);
        a[999] = 7;
        a[0] = 8;
        assert_eq!((a[0], a[1], a[999]), (8, 0xdead_beef, 7));
    }

    #[test]
    fn large_array_is_huge_page_aligned_resident_and_filled() {
        // 2.5 huge pages: one partial huge page at the end.
        let len = (HUGE_PAGE * 5 / 2) / 8;
        let a = HugeArray::new(len, u64::MAX).unwrap();
        assert_eq!(a.ptr.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(a.mapped_bytes(), 3 * HUGE_PAGE);
        assert!(a.iter().all(|&x| x == u64::MAX));
        assert_eq!(missing_pages(&a), 0, "every page faulted at construction");
        let mode = thp_mode_selected("/sys/kernel/mm/transparent_hugepage/enabled");
        let defrag = thp_mode_selected("/sys/kernel/mm/transparent_hugepage/defrag");
        let kb = anon_huge_kb(a.ptr.as_ptr() as usize);
        eprintln!("THP {mode:?}, defrag {defrag:?}: AnonHugePages {kb:?} kB");
        // Where THP is on, the mapping is marked for huge pages ("hg").
        // Whether the kernel found free huge pages for it depends on the
        // machine's fragmentation, so AnonHugePages is only printed.
        if matches!(mode.as_deref(), Some("always" | "madvise")) {
            let flags = smaps_field(a.ptr.as_ptr() as usize, "VmFlags:").unwrap_or_default();
            assert!(
                flags.split_whitespace().any(|f| f == "hg"),
                "VmFlags: {flags}"
            );
        }
    }

    #[test]
    fn arrays_too_large_for_the_address_space_are_an_error() {
        let err = HugeArray::new(usize::MAX / 8, [0u64; 2]).err();
        assert_eq!(
            err,
            Some(TableAllocError::TooLarge {
                elements: usize::MAX / 8,
                element_bytes: 16
            })
        );
        assert!(err
            .unwrap()
            .to_string()
            .contains("exceeds the address space"));
    }

    #[test]
    fn empty_array_maps_one_page() {
        let a = HugeArray::new(0, 1u8).unwrap();
        assert!(a.is_empty());
        assert_eq!(a.mapped_bytes(), 4096);
    }
}

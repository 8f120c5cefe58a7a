//! The base write: a file of a squashfs image (`LiveOS/rootfs.img`) decompressed onto a thin
//! LV on all cores, skipping all-zero blocks.
//!
//! Each worker takes the next batch of consecutive pieces of the file (squashfs blocks, about
//! [`BATCH`] bytes), decompresses them straight into its one page-aligned batch buffer, and
//! writes the batch's non-zero runs from it at their offsets, so decompression and writing
//! overlap without a reorder buffer, no byte is copied between decompressor and disk, and
//! memory stays at one batch buffer per worker whatever the image size. A fresh thin LV reads
//! as zeros, so a zero block need not be written; skipping it also keeps the pool from
//! allocating it. Sparse blocks are skipped without being read.
//!
//! Writes bypass the page cache (O_DIRECT) where the target allows it: the installer runs from
//! RAM, often with the downloaded image in RAM too, and gigabytes of dirty pages would compete
//! with both; on a loop device they would be cached twice. One fsync at the end flushes the
//! device's own cache.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::ground::units::Bytes;
use crate::image::squash::{Decoder, SquashFile};

/// Zero-detection granularity = the thin pool's chunk size: a partly written chunk is
/// allocated whole, so finer detection would not save pool space.
const GRAIN: usize = 64 << 10;
/// A worker's unit of work, in bytes of the file: large enough that a direct write is not
/// dominated by its latency, small enough to keep every worker busy to the end.
const BATCH: usize = 1 << 20;
/// How often the caller hears of progress (it may cancel then).
const TICK: Duration = Duration::from_millis(100);

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    pub size: Bytes,
    pub written: Bytes,
    pub skipped_zero: Bytes,
}

/// Workers for a copy: one per core, plus one so that a core is not idle while a worker
/// waits for the disk.
pub fn default_workers() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get()) + 1
}

fn is_zero(block: &[u8]) -> bool {
    // SAFETY: every bit pattern is a valid u64, and align_to leaves unaligned ends as bytes.
    let (head, words, tail) = unsafe { block.align_to::<u64>() };
    head.iter().all(|&b| b == 0) && words.iter().all(|&w| w == 0) && tail.iter().all(|&b| b == 0)
}

/// O_DIRECT needs buffers, offsets and lengths aligned to the device's logical block size;
/// a page covers every block size in use.
const DIRECT_ALIGN: usize = 4096;

/// A page-aligned buffer, written from with O_DIRECT.
struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl AlignedBuf {
    fn layout(len: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(len.max(DIRECT_ALIGN), DIRECT_ALIGN)
            .expect("a block-sized layout is valid")
    }
    fn new(len: usize) -> AlignedBuf {
        // SAFETY: the layout has a non-zero size; a null result is handled.
        let raw = unsafe { std::alloc::alloc_zeroed(Self::layout(len)) };
        let ptr = std::ptr::NonNull::new(raw)
            .unwrap_or_else(|| std::alloc::handle_alloc_error(Self::layout(len)));
        AlignedBuf { ptr, len }
    }
    /// The first `len` bytes (as the last use left them).
    fn slice_mut(&mut self, len: usize) -> &mut [u8] {
        assert!(len <= self.len);
        // SAFETY: the allocation holds `self.len` bytes, owned by this buffer alone and
        // initialized when it was made.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this same layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.len)) }
    }
}

// SAFETY: the buffer is plain memory owned by one worker at a time.
unsafe impl Send for AlignedBuf {}

/// The target, opened for direct writes when it allows them, and for ordinary ones (a run
/// that is not block-aligned: the tail of an odd-sized image; a filesystem without O_DIRECT).
struct Target<'a> {
    path: &'a Path,
    direct: Option<File>,
    buffered: File,
}

impl<'a> Target<'a> {
    fn open(path: &'a Path) -> Result<Target<'a>> {
        use std::os::unix::fs::OpenOptionsExt;
        let open = |flags| {
            OpenOptions::new()
                .write(true)
                .custom_flags(flags)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))
        };
        Ok(Target {
            path,
            direct: open(nix::libc::O_DIRECT).ok(),
            buffered: open(0)?,
        })
    }

    fn write_at(&self, data: &[u8], at: u64) -> Result<()> {
        let aligned = (data.as_ptr() as usize).is_multiple_of(DIRECT_ALIGN)
            && data.len().is_multiple_of(DIRECT_ALIGN)
            && at.is_multiple_of(DIRECT_ALIGN as u64);
        let result = match &self.direct {
            Some(f) if aligned => f.write_all_at(data, at),
            _ => self.buffered.write_all_at(data, at),
        };
        result.with_context(|| format!("writing {} at offset {at}", self.path.display()))
    }

    fn sync(&self) -> Result<()> {
        self.buffered
            .sync_all()
            .with_context(|| format!("flushing {}", self.path.display()))
    }
}

/// Write the non-zero grains of `buf` at `offset`, one write per run of them. Returns the
/// bytes written. Runs start at multiples of [`GRAIN`] in `buf`: from an aligned buffer, every
/// run but the file's tail is written directly.
fn write_nonzero(target: &Target, buf: &[u8], offset: u64) -> Result<u64> {
    let mut written = 0u64;
    let mut i = 0;
    while i < buf.len() {
        let end = (i + GRAIN).min(buf.len());
        if is_zero(&buf[i..end]) {
            i = end;
            continue;
        }
        let mut run_end = end;
        while run_end < buf.len() {
            let next = (run_end + GRAIN).min(buf.len());
            if is_zero(&buf[run_end..next]) {
                break;
            }
            run_end = next;
        }
        target.write_at(&buf[i..run_end], offset + i as u64)?;
        written += (run_end - i) as u64;
        i = run_end;
    }
    Ok(written)
}

/// Copy `src` onto `dst` (a device at least as large) with [`default_workers`] workers.
/// `progress(done, total)` is called every [`TICK`] and at the end; an error from it stops
/// the copy and is returned.
pub fn copy_squash_file(
    src: &SquashFile,
    dst: &Path,
    progress: &mut dyn FnMut(Bytes, Bytes) -> Result<()>,
) -> Result<CopyStats> {
    copy_with_workers(src, dst, default_workers(), progress)
}

pub fn copy_with_workers(
    src: &SquashFile,
    dst: &Path,
    workers: usize,
    progress: &mut dyn FnMut(Bytes, Bytes) -> Result<()>,
) -> Result<CopyStats> {
    let size = src.size();
    let target = Target::open(dst)?;
    let dst_size = crate::storage::blockdev::size_of(dst)?;
    if dst_size.0 < size {
        bail!(
            "{} ({}) is smaller than the image's file system ({})",
            dst.display(),
            dst_size,
            Bytes(size)
        );
    }

    let per_batch = (BATCH / src.block_size() as usize).max(1);
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let written = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let work = || -> Result<()> {
        let mut decoder = Decoder::default();
        let mut buf = AlignedBuf::new(per_batch * src.block_size() as usize);
        while !stop.load(Ordering::Relaxed) {
            let pieces = src.pieces();
            let first = next.fetch_add(per_batch, Ordering::Relaxed);
            if first >= pieces.len() {
                break;
            }
            let batch = &pieces[first..(first + per_batch).min(pieces.len())];
            // Pieces are consecutive: the batch is one range of the file, each piece at its
            // place in the buffer.
            let len = batch.iter().map(|p| p.len as usize).sum();
            let data = buf.slice_mut(len);
            let mut at = 0;
            for piece in batch {
                let end = at + piece.len as usize;
                src.read_into(piece, &mut decoder, &mut data[at..end])?;
                at = end;
            }
            let n = write_nonzero(&target, data, batch[0].offset)?;
            written.fetch_add(n, Ordering::Relaxed);
            done.fetch_add(len as u64, Ordering::Relaxed);
        }
        Ok(())
    };
    let mut first: Option<anyhow::Error> = None;
    thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..workers.max(1) {
            let tx = tx.clone();
            let work = &work;
            let stop = &stop;
            s.spawn(move || {
                let r = work();
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                // The receiver outlives the workers; a failed send cannot happen.
                let _ = tx.send(r);
            });
        }
        drop(tx);
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Err(e)) if first.is_none() => first = Some(e),
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if first.is_none() {
                if let Err(e) = progress(Bytes(done.load(Ordering::Relaxed)), Bytes(size)) {
                    stop.store(true, Ordering::Relaxed);
                    first = Some(e);
                }
            }
        }
    });
    if let Some(e) = first {
        return Err(e);
    }
    target.sync()?;
    progress(Bytes(size), Bytes(size))?;
    let written = written.into_inner();
    Ok(CopyStats {
        size: Bytes(size),
        written: Bytes(written),
        skipped_zero: Bytes(size - written),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ground::runner::{Cmd, Runner, SystemRunner};
    use crate::image::squash::Stored;
    use std::path::PathBuf;

    /// A squashfs image made by the real mksquashfs holding `LiveOS/rootfs.img` = `data`.
    pub(crate) fn squashfs_of(dir: &Path, data: &[u8], options: &[&str]) -> PathBuf {
        let tree = dir.join("tree");
        std::fs::create_dir_all(tree.join("LiveOS")).unwrap();
        std::fs::write(tree.join("LiveOS/rootfs.img"), data).unwrap();
        let image = dir.join("image.squashfs.img");
        let _ = std::fs::remove_file(&image);
        SystemRunner
            .run(
                &Cmd::new("mksquashfs")
                    .arg(&tree)
                    .arg(&image)
                    .args(["-quiet", "-no-progress"])
                    .args(options),
            )
            .unwrap();
        image
    }

    /// Data with every kind of piece: random-ish blocks, zero blocks (stored sparse), a block
    /// that is zero only in part, and a tail shorter than a block.
    pub(crate) fn sample(blocks: usize, block: usize) -> Vec<u8> {
        let mut data = vec![0u8; blocks * block + block / 3 + 17];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for (i, b) in data.iter_mut().enumerate() {
            let blk = i / block;
            if blk % 3 == 1 || (blk % 5 == 2 && i % block >= block / 2) {
                continue;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Compressible like a real filesystem: runs of a few values.
            *b = (x % 7) as u8 + 1;
        }
        data
    }

    fn copy(image: &Path, dst_len: u64, workers: usize) -> (Vec<u8>, CopyStats) {
        let dst = image.with_extension("dst");
        let f = File::create(&dst).unwrap();
        f.set_len(dst_len).unwrap();
        let src = SquashFile::open(image, "LiveOS/rootfs.img").unwrap();
        let mut last = Bytes(0);
        let stats = copy_with_workers(&src, &dst, workers, &mut |done, total| {
            assert!(done <= total && done >= last);
            last = done;
            Ok(())
        })
        .unwrap();
        assert_eq!(last.0, src.size());
        (std::fs::read(&dst).unwrap(), stats)
    }

    #[test]
    fn copy_is_exact_for_every_compressor_and_skips_zero_blocks() {
        let block = 128 << 10;
        let data = sample(24, block);
        let dir = tempfile::tempdir().unwrap();
        // -noD: data blocks and the fragment stored uncompressed, read straight into place.
        let codecs = [
            ["xz", ""],
            ["zstd", ""],
            ["gzip", ""],
            ["lz4", ""],
            ["lzo", ""],
            ["zstd", "-noD"],
        ];
        for [comp, store] in codecs {
            for frag in [&[][..], &["-no-fragments"][..]] {
                let mut options = vec!["-comp", comp];
                options.extend(Some(store).filter(|s| !s.is_empty()));
                options.extend_from_slice(frag);
                let image = squashfs_of(dir.path(), &data, &options);
                let (out, stats) = copy(&image, data.len() as u64 + 4096, 3);
                assert!(
                    out[..data.len()] == data[..],
                    "{comp} {store} {frag:?}: copy differs"
                );
                assert_eq!(stats.size.0, data.len() as u64);
                let zeros: usize = data
                    .chunks(GRAIN)
                    .filter(|g| is_zero(g))
                    .map(|g| g.len())
                    .sum();
                assert_eq!(
                    stats.skipped_zero.0, zeros as u64,
                    "{comp} {store} {frag:?}: {stats:?}"
                );
            }
        }
    }

    #[test]
    fn copy_is_exact_for_small_and_large_blocks_on_any_number_of_workers() {
        let dir = tempfile::tempdir().unwrap();
        for (block, workers) in [(4096usize, 1usize), (1 << 20, 2), (64 << 10, 7)] {
            let data = sample(9, block);
            let image = squashfs_of(
                dir.path(),
                &data,
                &["-comp", "zstd", "-b", &block.to_string()],
            );
            let (out, _) = copy(&image, data.len() as u64, workers);
            assert!(
                out == data,
                "block {block}, {workers} workers: copy differs"
            );
        }
    }

    #[test]
    fn garbage_where_the_image_has_data_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample(6, 128 << 10);
        let image = squashfs_of(dir.path(), &data, &[]);
        let dst = image.with_extension("dst");
        std::fs::write(&dst, vec![0xa5u8; data.len()]).unwrap();
        let src = SquashFile::open(&image, "LiveOS/rootfs.img").unwrap();
        copy_squash_file(&src, &dst, &mut |_, _| Ok(())).unwrap();
        let out = std::fs::read(&dst).unwrap();
        for (i, (o, d)) in out.iter().zip(&data).enumerate() {
            // Zero grains are skipped: a fresh thin LV reads zeros there, this file does not.
            if !is_zero(&data[i / GRAIN * GRAIN..((i / GRAIN + 1) * GRAIN).min(data.len())]) {
                assert_eq!(o, d, "byte {i}");
            }
        }
    }

    #[test]
    fn progress_error_stops_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample(200, 128 << 10);
        let image = squashfs_of(dir.path(), &data, &["-comp", "xz"]);
        let dst = image.with_extension("dst");
        File::create(&dst)
            .unwrap()
            .set_len(data.len() as u64)
            .unwrap();
        let src = SquashFile::open(&image, "LiveOS/rootfs.img").unwrap();
        let err = copy_squash_file(&src, &dst, &mut |_, _| {
            Err(crate::ground::error::cancelled())
        })
        .unwrap_err();
        assert_eq!(
            crate::ground::error::kind_of(&err),
            crate::ground::error::Kind::Cancelled
        );
    }

    #[test]
    fn too_small_target_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let image = squashfs_of(dir.path(), &sample(2, 4096), &[]);
        let dst = dir.path().join("dst.img");
        File::create(&dst).unwrap().set_len(4096).unwrap();
        let src = SquashFile::open(&image, "LiveOS/rootfs.img").unwrap();
        let err = copy_squash_file(&src, &dst, &mut |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("is smaller than"), "{err:#}");
    }

    #[test]
    fn a_damaged_block_is_named_and_stops_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample(12, 128 << 10);
        let image = squashfs_of(dir.path(), &data, &["-comp", "zstd"]);
        let src = SquashFile::open(&image, "LiveOS/rootfs.img").unwrap();
        let pos = src
            .pieces()
            .iter()
            .find_map(|p| match p.stored {
                // The frame header: squashfs keeps no checksum of its blocks, so damage
                // elsewhere may decompress to wrong bytes (the image's sha256 catches that).
                Stored::Block { pos, .. } => Some(pos),
                _ => None,
            })
            .unwrap();
        let f = OpenOptions::new().write(true).open(&image).unwrap();
        f.write_all_at(&[0xff; 64], pos).unwrap();
        let dst = image.with_extension("dst");
        File::create(&dst)
            .unwrap()
            .set_len(data.len() as u64)
            .unwrap();
        let err = copy_squash_file(&src, &dst, &mut |_, _| Ok(())).unwrap_err();
        assert_eq!(
            crate::ground::error::id_of(&err),
            "image.corrupt",
            "{err:#}"
        );
        assert!(err.to_string().contains("does not decompress"), "{err:#}");
    }
}

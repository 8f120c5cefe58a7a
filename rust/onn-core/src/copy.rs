//! Block copy of a filesystem image onto a thin LV, skipping all-zero blocks.
//!
//! A fresh thin LV reads as zeros, so a block that is all zero need not be written; skipping
//! it also keeps the pool from allocating it. Reading and writing overlap: a reader thread
//! fills buffers from a bounded pool while this thread writes, so memory stays constant.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use anyhow::{bail, Context, Result};

use crate::units::Bytes;

/// Read size: large and aligned.
const BUF: usize = 4 << 20;
/// Zero-detection granularity = the thin pool's chunk size: a partly written chunk is
/// allocated whole, so finer detection would not save pool space.
const GRAIN: usize = 64 << 10;
/// Buffers in flight between reader and writer (bounded memory: BUFFERS × BUF).
const BUFFERS: usize = 4;

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    pub size: Bytes,
    pub written: Bytes,
    pub skipped_zero: Bytes,
}

fn is_zero(block: &[u8]) -> bool {
    // SAFETY-free fast path: compare as u64 words where aligned.
    let (head, words, tail) = unsafe { block.align_to::<u64>() };
    head.iter().all(|&b| b == 0) && words.iter().all(|&w| w == 0) && tail.iter().all(|&b| b == 0)
}

/// Copy `src` (a file) onto `dst` (a device at least as large), skipping zero blocks.
/// `progress(done, total)` is called after each buffer; an error from it stops the copy.
pub fn copy_skipping_zeros(
    src: &Path,
    dst: &Path,
    progress: &mut dyn FnMut(Bytes, Bytes) -> Result<()>,
) -> Result<CopyStats> {
    let input = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let size = input
        .metadata()
        .with_context(|| format!("reading {}", src.display()))?
        .len();
    let output = OpenOptions::new()
        .write(true)
        .open(dst)
        .with_context(|| format!("opening {}", dst.display()))?;
    let dst_size = crate::blockdev::size_of(dst)?;
    if dst_size.0 < size {
        bail!(
            "{} ({}) is smaller than {} ({})",
            dst.display(),
            dst_size,
            src.display(),
            Bytes(size)
        );
    }

    let src_name = src.display().to_string();
    let mut stats = CopyStats {
        size: Bytes(size),
        ..Default::default()
    };
    thread::scope(|s| -> Result<()> {
        // The channel ends live inside this closure: when it returns early (an error, a
        // cancel), they are dropped before the scope joins the reader, which then stops
        // instead of waiting forever on a full channel.
        let (full_tx, full_rx) = mpsc::sync_channel::<Result<(u64, Vec<u8>)>>(BUFFERS);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
        for _ in 0..BUFFERS {
            empty_tx.send(vec![0u8; BUF]).expect("channel has room");
        }
        let input = &input;
        s.spawn(move || {
            let mut offset = 0u64;
            while offset < size {
                let Ok(mut buf) = empty_rx.recv() else { return };
                let want = (size - offset).min(BUF as u64) as usize;
                buf.resize(want, 0);
                let res = input
                    .read_exact_at(&mut buf, offset)
                    .with_context(|| format!("reading {src_name} at offset {offset}"))
                    .map(|()| (offset, buf));
                let failed = res.is_err();
                if full_tx.send(res).is_err() || failed {
                    return;
                }
                offset += want as u64;
            }
        });
        let mut done = 0u64;
        while done < size {
            let (offset, buf) = full_rx.recv().context("the reader stopped early")??;
            let mut i = 0;
            while i < buf.len() {
                let end = (i + GRAIN).min(buf.len());
                if is_zero(&buf[i..end]) {
                    stats.skipped_zero.0 += (end - i) as u64;
                    i = end;
                    continue;
                }
                // Extend over following non-zero grains: one write per data run.
                let mut run_end = end;
                while run_end < buf.len() {
                    let next = (run_end + GRAIN).min(buf.len());
                    if is_zero(&buf[run_end..next]) {
                        break;
                    }
                    run_end = next;
                }
                output
                    .write_all_at(&buf[i..run_end], offset + i as u64)
                    .with_context(|| {
                        format!("writing {} at offset {}", dst.display(), offset + i as u64)
                    })?;
                stats.written.0 += (run_end - i) as u64;
                i = run_end;
            }
            done = offset + buf.len() as u64;
            // The reader may already be gone after the last buffer.
            let _ = empty_tx.send(buf);
            progress(Bytes(done), Bytes(size))?;
        }
        Ok(())
    })?;
    output
        .sync_all()
        .with_context(|| format!("flushing {}", dst.display()))?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn copy_is_exact_and_skips_zero_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.img");
        let dst = dir.path().join("dst.img");
        let mut data = vec![0u8; 10 * BUF + 12345];
        for (i, b) in data.iter_mut().enumerate().skip(BUF + 7).take(3 * GRAIN) {
            *b = (i % 251) as u8 + 1;
        }
        let n = data.len();
        data[n - 1] = 9;
        File::create(&src).unwrap().write_all(&data).unwrap();
        // The destination starts with garbage where the source has data, zeros elsewhere
        // (as a fresh thin LV would read).
        let f = File::create(&dst).unwrap();
        f.set_len(n as u64 + 4096).unwrap();
        let mut calls = 0;
        let stats = copy_skipping_zeros(&src, &dst, &mut |done, total| {
            calls += 1;
            assert!(done <= total);
            Ok(())
        })
        .unwrap();
        let out = std::fs::read(&dst).unwrap();
        assert_eq!(&out[..n], &data[..]);
        assert_eq!(calls, 11);
        assert_eq!(stats.written.0 + stats.skipped_zero.0, n as u64);
        // 3 grains of data straddle 4 grains, plus the last partial grain.
        assert!(stats.written.0 <= (5 * GRAIN) as u64, "{stats:?}");
    }

    #[test]
    fn progress_error_stops_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.img");
        let dst = dir.path().join("dst.img");
        // More buffers than the pool holds: the reader is blocked on a full channel when the
        // copy stops, and must not hang the join.
        std::fs::write(&src, vec![1u8; 4 * BUFFERS * BUF]).unwrap();
        File::create(&dst)
            .unwrap()
            .set_len((4 * BUFFERS * BUF) as u64)
            .unwrap();
        let err = copy_skipping_zeros(&src, &dst, &mut |_, _| Err(crate::error::cancelled()))
            .unwrap_err();
        assert_eq!(crate::error::kind_of(&err), crate::error::Kind::Cancelled);
    }

    #[test]
    fn too_small_target_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.img");
        let dst = dir.path().join("dst.img");
        std::fs::write(&src, vec![1u8; 8192]).unwrap();
        File::create(&dst).unwrap().set_len(4096).unwrap();
        assert!(copy_skipping_zeros(&src, &dst, &mut |_, _| Ok(())).is_err());
    }
}

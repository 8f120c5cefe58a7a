//! One file of a squashfs image, read in userspace as independent blocks.
//!
//! The kernel's squashfs decompresses a file on one core, which makes it the bottleneck of a
//! base write (bench/README.md). Here the image's metadata is parsed once (by `backhand`) into
//! the file's block list; each block can then be read and decompressed on its own, so
//! [`crate::image::copy`] spreads them over all cores. A sparse block (stored with size 0) is known to
//! be zeros without reading anything.

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use backhand::compression::{CompressionAction, Compressor, DefaultCompressor};
use backhand::{FilesystemReader, InnerNode};

use crate::ground::error::precondition;

/// `frag_index` of a file whose tail is not in a fragment block.
const NO_FRAGMENT: u32 = 0xffff_ffff;

/// Where one piece of the file's data is stored in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// All zeros; nothing stored.
    Sparse,
    /// `len` bytes at `pos`, compressed or not.
    Block {
        pos: u64,
        len: u32,
        compressed: bool,
    },
    /// The file's tail: `offset..offset + len of the piece` of a fragment block stored like a
    /// data block.
    Fragment {
        pos: u64,
        len: u32,
        compressed: bool,
        offset: u32,
    },
}

/// A piece of the file: `len` bytes at `offset` in the file, stored as `stored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub offset: u64,
    pub len: u32,
    pub stored: Stored,
}

/// A regular file inside a squashfs image, ready to be read piece by piece from any thread.
pub struct SquashFile {
    image: File,
    image_path: PathBuf,
    compressor: Compressor,
    block_size: u32,
    size: u64,
    pieces: Vec<Piece>,
}

fn corrupt(image: &Path, what: impl std::fmt::Display) -> anyhow::Error {
    precondition(
        "image.corrupt",
        format!(
            "{} is damaged ({what}); download the image again and check its sha256",
            image.display()
        ),
    )
}

impl SquashFile {
    /// Parse `image`'s metadata and find the regular file at `inner` (a path relative to the
    /// image's root, e.g. `LiveOS/rootfs.img`).
    pub fn open(image: &Path, inner: &str) -> Result<SquashFile> {
        let file = File::open(image).with_context(|| format!("opening {}", image.display()))?;
        let reader = BufReader::new(
            file.try_clone()
                .with_context(|| format!("opening {}", image.display()))?,
        );
        let fs = FilesystemReader::from_reader(reader).map_err(|e| corrupt(image, e))?;
        let compressor = fs
            .compressor
            .ok_or_else(|| corrupt(image, "no compressor recorded"))?
            .into();
        let want = Path::new("/").join(inner);
        let node = fs
            .files()
            .find(|n| n.fullpath == want)
            .with_context(|| format!("{} has no {inner}", image.display()))?;
        let InnerNode::File(f) = &node.inner else {
            return Err(precondition(
                "image.no-rootfs",
                format!("{inner} in {} is not a regular file", image.display()),
            ));
        };
        let size = f.file_len() as u64;
        let block_size = fs.block_size;
        let mut pieces = Vec::with_capacity(f.block_sizes().len() + 1);
        let mut pos = f.blocks_start();
        let mut offset = 0u64;
        for b in f.block_sizes() {
            let len = (size - offset).min(u64::from(block_size)) as u32;
            if len == 0 || b.size() > block_size {
                return Err(corrupt(image, format!("bad block list of {inner}")));
            }
            let stored = if b.size() == 0 {
                Stored::Sparse
            } else {
                let s = Stored::Block {
                    pos,
                    len: b.size(),
                    compressed: !b.uncompressed(),
                };
                pos += u64::from(b.size());
                s
            };
            pieces.push(Piece {
                offset,
                len,
                stored,
            });
            offset += u64::from(len);
        }
        if offset < size {
            let index = f.frag_index() as u32;
            let frag = (index != NO_FRAGMENT)
                .then(|| fs.fragments.as_ref()?.get(index as usize))
                .flatten()
                .ok_or_else(|| corrupt(image, format!("the tail of {inner} is missing")))?;
            pieces.push(Piece {
                offset,
                len: (size - offset) as u32,
                stored: Stored::Fragment {
                    pos: frag.start,
                    len: frag.size.size(),
                    compressed: !frag.size.uncompressed(),
                    offset: f.block_offset(),
                },
            });
        }
        Ok(SquashFile {
            image: file,
            image_path: image.to_path_buf(),
            compressor,
            block_size,
            size,
            pieces,
        })
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The largest piece, for sizing buffers.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Read a piece's data into `out`, which holds exactly the piece's `len` bytes: a data
    /// block is decompressed (or read) straight into it; a fragment block, which holds other
    /// files' tails too, through `decoder`'s own buffer. A sparse piece gives zeros.
    pub fn read_into(&self, piece: &Piece, decoder: &mut Decoder, out: &mut [u8]) -> Result<()> {
        debug_assert_eq!(out.len(), piece.len as usize);
        let (pos, len, compressed, fragment) = match piece.stored {
            Stored::Sparse => {
                out.fill(0);
                return Ok(());
            }
            Stored::Block {
                pos,
                len,
                compressed,
            } => (pos, len, compressed, None),
            Stored::Fragment {
                pos,
                len,
                compressed,
                offset,
            } => (pos, len, compressed, Some(offset as usize)),
        };
        let read = |buf: &mut [u8]| {
            self.image.read_exact_at(buf, pos).with_context(|| {
                format!(
                    "reading {} at offset {pos} (is the image truncated?)",
                    self.image_path.display()
                )
            })
        };
        let Decoder {
            zstd,
            stored,
            whole,
        } = decoder;
        let bad_size = |got: usize, want: usize| {
            corrupt(
                &self.image_path,
                format!("block at offset {pos} holds {got} bytes, {want} expected"),
            )
        };
        match fragment {
            // An uncompressed data block is the piece itself.
            None if !compressed => {
                if len as usize != out.len() {
                    return Err(bad_size(len as usize, out.len()));
                }
                read(out)
            }
            None => {
                stored.resize(len as usize, 0);
                read(stored)?;
                let n = self.decompress(zstd, stored, whole, out, pos)?;
                if n != out.len() {
                    return Err(bad_size(n, out.len()));
                }
                Ok(())
            }
            Some(start) => {
                let end = start + out.len();
                if compressed {
                    stored.resize(len as usize, 0);
                    read(stored)?;
                    self.decompress_whole(stored, whole, pos)?;
                } else {
                    whole.resize(len as usize, 0);
                    read(whole)?;
                }
                let tail = whole
                    .get(start..end)
                    .ok_or_else(|| bad_size(whole.len(), end))?;
                out.copy_from_slice(tail);
                Ok(())
            }
        }
    }

    /// Decompress a data block into `out`, returning its length: zstd in the worker's own
    /// context (a one-shot call makes a context per block, thousands per GiB), the others
    /// through backhand into `spill` and copied.
    fn decompress(
        &self,
        zstd: &mut Option<zstd::bulk::Decompressor<'static>>,
        stored: &[u8],
        spill: &mut Vec<u8>,
        out: &mut [u8],
        pos: u64,
    ) -> Result<usize> {
        if self.compressor == Compressor::Zstd {
            let ctx = match zstd {
                Some(ctx) => ctx,
                None => zstd.insert(
                    zstd::bulk::Decompressor::new().context("creating a zstd decompressor")?,
                ),
            };
            return ctx
                .decompress_to_buffer(stored, out)
                .map_err(|e| self.undecompressable(pos, e));
        }
        self.decompress_whole(stored, spill, pos)?;
        let n = spill.len().min(out.len());
        out[..n].copy_from_slice(&spill[..n]);
        Ok(spill.len())
    }

    fn undecompressable(&self, pos: u64, e: impl std::fmt::Display) -> anyhow::Error {
        corrupt(
            &self.image_path,
            format!("block at offset {pos} does not decompress: {e}"),
        )
    }

    /// Decompress a block through backhand into `whole` (cleared first).
    fn decompress_whole(&self, stored: &[u8], whole: &mut Vec<u8>, pos: u64) -> Result<()> {
        whole.clear();
        whole.reserve(self.block_size as usize);
        DefaultCompressor
            .decompress(stored, whole, self.compressor)
            .map_err(|e| self.undecompressable(pos, e))
    }
}

/// A worker's state for reading pieces: its zstd context, made at its first zstd block and kept,
/// and buffers for a block's stored bytes and for a whole decompressed block (fragments, codecs
/// that decompress into a `Vec`). One per worker thread.
#[derive(Default)]
pub struct Decoder {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    stored: Vec<u8>,
    whole: Vec<u8>,
}

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

    /// Read a piece's data into `out` (cleared first), using `scratch` for the stored bytes.
    /// A sparse piece gives `len` zeros; callers that can skip zeros check for it first.
    pub fn read(&self, piece: &Piece, scratch: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let (pos, len, compressed, start) = match piece.stored {
            Stored::Sparse => {
                out.resize(piece.len as usize, 0);
                return Ok(());
            }
            Stored::Block {
                pos,
                len,
                compressed,
            } => (pos, len, compressed, 0),
            Stored::Fragment {
                pos,
                len,
                compressed,
                offset,
            } => (pos, len, compressed, offset as usize),
        };
        scratch.resize(len as usize, 0);
        self.image.read_exact_at(scratch, pos).with_context(|| {
            format!(
                "reading {} at offset {pos} (is the image truncated?)",
                self.image_path.display()
            )
        })?;
        if compressed {
            // Decompressors write into the spare capacity of `out`.
            out.reserve(self.block_size as usize);
            DefaultCompressor
                .decompress(scratch, out, self.compressor)
                .map_err(|e| {
                    corrupt(
                        &self.image_path,
                        format!("block at offset {pos} does not decompress: {e}"),
                    )
                })?;
        } else {
            out.extend_from_slice(scratch);
        }
        let end = start + piece.len as usize;
        // A block holds exactly its piece; a fragment block holds other files' tails too.
        let fits = match piece.stored {
            Stored::Fragment { .. } => out.len() >= end,
            _ => out.len() == end,
        };
        if !fits {
            return Err(corrupt(
                &self.image_path,
                format!(
                    "block at offset {pos} holds {} bytes, {end} expected",
                    out.len()
                ),
            ));
        }
        if start > 0 || out.len() > end {
            out.truncate(end);
            out.drain(..start);
        }
        Ok(())
    }
}

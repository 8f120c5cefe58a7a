//! The engine's base write on its own, for `bench/run.py`: write `LiveOS/rootfs.img` of a
//! squashfs image onto a block device the way `onn` writes a base (decompressed on all cores,
//! zero blocks skipped, one fsync), and print the copy's statistics as JSON.
//!
//!     cargo run --release -p onn-core --example copy_bench -- IMAGE DEVICE [WORKERS]

use std::path::Path;

use onn_core::image::{copy, squash::SquashFile};
use onn_core::names;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (image, dst, workers) = match args.as_slice() {
        [image, dst] => (image, dst, copy::default_workers()),
        [image, dst, n] => (image, dst, n.parse()?),
        _ => anyhow::bail!("usage: copy_bench IMAGE DEVICE [WORKERS]"),
    };
    let src = SquashFile::open(Path::new(image), names::ROOTFS_IMG)?;
    let stats = copy::copy_with_workers(&src, Path::new(dst), workers, &mut |_, _| Ok(()))?;
    println!("{}", serde_json::to_string(&stats)?);
    Ok(())
}

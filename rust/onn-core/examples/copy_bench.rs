//! The engine's base write on its own, for `bench/run.py`: copy a filesystem image onto a
//! block device the way `onn` writes a base (zero blocks skipped, reads and writes
//! overlapped, one fsync), and print the copy's statistics as JSON.
//!
//!     cargo run --release -p onn-core --example copy_bench -- SRC DEVICE

use std::path::Path;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst] = args.as_slice() else {
        anyhow::bail!("usage: copy_bench SRC DEVICE");
    };
    let stats =
        onn_core::copy::copy_skipping_zeros(Path::new(src), Path::new(dst), &mut |_, _| Ok(()))?;
    println!("{}", serde_json::to_string(&stats)?);
    Ok(())
}

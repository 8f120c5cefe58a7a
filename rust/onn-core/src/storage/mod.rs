//! Storage: LVM's commands and reports, what a block device holds, filesystems on LVs, and
//! the guards of the mounts onn makes.

pub mod blockdev;
pub mod fs;
pub(crate) mod guard;
pub mod lvm;

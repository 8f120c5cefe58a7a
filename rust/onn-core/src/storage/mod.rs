//! Storage: LVM's commands and reports, what a block device holds, filesystems on LVs, the
//! guards of the mounts onn makes, and the SELinux labels of what onn writes on them.

pub mod blockdev;
pub mod fs;
pub(crate) mod guard;
pub(crate) mod labels;
pub mod lvm;

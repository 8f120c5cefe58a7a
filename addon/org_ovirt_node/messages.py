"""onn's stable error and warning ids, as the addon shows them (translated); onn's own English
text where an id has none here."""

from __future__ import annotations

from .i18n import N_, _

ERROR_MESSAGES = {
    "sha256.mismatch": N_("The image's SHA-256 checksum does not match the one given."),
    "sha256.malformed": N_("The SHA-256 checksum must be 64 hexadecimal digits."),
    "image.missing": N_("The image file does not exist."),
    "image.not-file": N_("The image is not a regular file."),
    "image.not-squashfs": N_("The file is not a squashfs image."),
    "image.no-rootfs": N_("The image holds neither LiveOS/rootfs.img nor a root file system."),
    "image.no-nvr": N_("The image does not say its name, version and release (NVR)."),
    "image.no-kernel": N_("The image contains no kernel with an initramfs; it cannot boot."),
    "root.not-thin": N_("/ must be a thin logical volume in the installation destination."),
    "root.other-vg": N_("The volume group or thin pool named in the kickstart is not the one of /."),
    "var.not-separate": N_("/var must be a logical volume of its own (named var) in the same volume group."),
    "boot.required": N_("/boot must be a partition of its own."),
    "boot.too-small": N_("/boot must be at least 1 GiB: imgbased keeps a kernel per layer there."),
    "boot.on-lvm": N_("/boot must be a partition outside LVM: the bootloader reads the layers' kernels from it."),
    "var.too-small": N_("/var must be at least 5 GiB: every layer shares it."),
    "pool.too-small": N_("The thin pool is too small for the image; make it larger."),
    "pool.metadata-no-room": N_(
        "The volume group has no free space to grow the pool's metadata to 1 GiB: give the thin pool "
        "--metadatasize=1024 in the kickstart, or leave free space in the volume group."
    ),
    "pool.not-thin": N_("The pool named is not a thin pool."),
    "root-size.too-small": N_("root-size is smaller than the image's file system."),
    "image.required": N_("No Node image was given."),
    "image.truncated": N_("The image file is shorter than its squashfs: the download or copy was cut; get it again."),
    "image.squashfs-unsupported": N_("The image is not squashfs 4.0 or uses a compressor onn cannot read."),
    "image.corrupt": N_("A block of the image does not decompress: the image is damaged; get it again."),
    "image.rootfs-symlink": N_("LiveOS/rootfs.img in the image is a symbolic link; an image holds the file itself."),
    "image.rootfs-truncated": N_("LiveOS/rootfs.img is shorter than its file system: the image is damaged."),
    "image.fs-unsupported": N_("The image's file system is neither ext4 nor xfs."),
    "fs.mismatch": N_("The file system asked for is not the image's."),
    "fs.sector-size": N_(
        "The disks' sectors are larger than the image's file system can be read in (4Kn disks); it would not mount."
    ),
    "nvr.invalid": N_("The image's NVR is not name-version-release."),
    "nvr.too-long": N_("The image's NVR is too long for imgbased's LV names."),
    "nvr.different-names": N_("Bases of different names cannot be ordered; name the base."),
    "name.invalid": N_("A volume group or volume name has characters LVM does not allow."),
    "name.too-long": N_("A volume name is longer than imgbased allows (55 characters)."),
    "name.dm-too-long": N_("The volume group and volume names together are too long for device-mapper."),
    "name.reserved": N_("A volume name is one LVM keeps for itself; choose another."),
    "kernel-arg.invalid": N_("A kernel argument is not one word, or holds a character /etc/default/grub cannot carry."),
    "device.missing": N_("A disk of the installation destination does not exist."),
    "device.not-block": N_("A disk of the installation destination is not a block device."),
    "disk.too-small": N_(
        "The disks cannot hold the thin pool as LVM places it (its metadata and their spare each on one disk); "
        "use larger disks."
    ),
    "pv.required": N_("No disk was given for the volume group."),
    "pv.duplicate": N_("A disk is named twice."),
    "pv.in-use": N_("A disk is in use (mounted, swap, or part of another device)."),
    "pv.mounted": N_("A disk or one of its partitions is mounted."),
    "pv.other-vg": N_("A disk belongs to another volume group."),
    "pv.partitioned": N_("A disk has a partition table; onn does not erase data it was not asked to."),
    "pv.signature": N_("A disk holds a file system or other data; onn does not erase data it was not asked to."),
    "vg.exists": N_("A volume group of that name exists already."),
    "vg.name-taken": N_("The volume group's name is taken."),
    "vg.missing": N_("The volume group does not exist."),
    "vg.imgbased-exists": N_("Another volume group is imgbased's already."),
    "vg.imgbased-many": N_("Several volume groups carry imgbased's tag; name one."),
    "pool.missing": N_("The thin pool does not exist."),
    "pool.imgbased-exists": N_("Another thin pool is imgbased's already."),
    "pool.full": N_("The thin pool ran out of space while the image was written; what was written is removed."),
    "pool-metadata.too-small": N_("The pool's metadata size is below imgbased's 1 GiB."),
    "base.missing": N_("There is no such base."),
    "base.name-taken": N_("A volume of the base's name exists already."),
    "layer.name-taken": N_("A volume of the layer's name exists already."),
    "layer.no-kernel": N_("The layer holds no kernel with an initramfs."),
    "boot.missing": N_("The /boot device does not exist."),
    "boot.not-mounted": N_("The /boot directory is not a mount point."),
    "boot.no-filesystem": N_("The /boot partition is not formatted."),
    "boot.grubenv-link": N_("/boot/grub2/grubenv links into the EFI system partition, not mounted at /boot/efi."),
    "efi.missing": N_("The EFI system partition does not exist."),
    "efi.not-mounted": N_("The EFI system partition's directory is not a mount point."),
    "efi.not-vfat": N_("The EFI system partition is not formatted with FAT (mkfs.vfat)."),
    "efi.too-small": N_("The EFI system partition has no room for the image's EFI boot files."),
    "image.no-efi": N_("The image has no EFI boot files (/boot/efi/EFI) for a UEFI machine."),
    "root.not-mounted": N_("Nothing is mounted at the installer's system root."),
    "root.not-lvm": N_("/ is not a logical volume."),
    "root.needs-adopt": N_("The installer's / can only be taken over as it is (adopt)."),
    "request.conflict": N_("The settings contradict each other (adopting a layout with disks or a pool size)."),
    "plan.stale": N_("The system changed since onn planned the install; plan again."),
    "tool.missing": N_("A program onn needs is not installed."),
    # Signed images: a key given means a signature is required.
    "key.missing": N_("A key given with --gpgkey cannot be read."),
    "key.invalid": N_("A key given with --gpgkey is not an OpenPGP public key."),
    "key.expired": N_("The key given with --gpgkey has expired; get the project's current release key."),
    "key.revoked": N_("The key given with --gpgkey is revoked; nothing it signed can be trusted."),
    "signature.missing": N_("The image is not signed, and a key was given: it must be signed by that key."),
    "signature.unknown-key": N_("The image is signed by a key that is none of the keys given."),
    "signature.mismatch": N_(
        "The image's signature does not match it: it was changed after it was signed, or the signature is "
        "another image's."
    ),
    "signature.invalid": N_("The image's signature file is not an OpenPGP signature."),
    "rpm.invalid": N_("The image's RPM cannot be read: it is cut short or damaged; download it again."),
    "rpm.tampered": N_("The image's RPM was changed after it was built: it does not match its own digests."),
    "rpm.no-squashfs": N_("The RPM holds no Node image; give oVirt Node's image-update package."),
    "rpm.many-squashfs": N_("The RPM holds more than one Node image; give a package with one."),
    "rpm.file-digest": N_(
        "The Node image in the RPM does not match the digest the RPM's header gives it; do not install it."
    ),
    "busy": N_("Another onn is writing to the disks; the installer does not write beside it."),
    "wipe.other-disk": N_("The Node to remove extends onto a disk that was not named; name all of its disks."),
    "wipe.foreign-lv": N_("The Node to remove holds a volume that is not imgbased's; it may hold data."),
    "wipe.storage-domain": N_("The Node to remove holds an oVirt local storage domain; move it in oVirt first."),
    # What the image lacks for the installed host's imgbased to update it (it installs).
    "image.update.name": N_('Its name has neither "node" nor "rhvh", by which imgbased tells its boot entries.'),
    "image.update.nvr-space": N_("Its NVR file has white space around the NVR, which imgbased keeps in LV names."),
    "image.update.release-cpe": N_("/etc/system-release-cpe names no product imgbased updates (Fedora, CentOS, RHEL)."),
    "image.update.factory-etc": N_("It has no /usr/share/factory/etc, from which imgbased merges /etc."),
    "image.update.default-grub": N_("It has no /etc/default/grub, from which imgbased takes the kernel arguments."),
    "image.update.sshd-config": N_("It has no /etc/ssh/sshd_config, which imgbased edits at every update."),
    "image.update.rpmdb": N_("No kernel package in its rpm database owns the kernel and initramfs imgbased copies."),
    "image.update.dev-urandom": N_("It holds a /dev/urandom, which imgbased's update creates and fails to."),
}


def error_text(message_id: str, fallback: str) -> str:
    """The translated message for an onn error id, else onn's own (English) text."""
    message = ERROR_MESSAGES.get(message_id)
    return _(message) if message else fallback

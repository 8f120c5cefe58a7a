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
    "pool.too-small": N_("The thin pool is too small for the image; make it larger."),
    "pool.metadata-no-room": N_("The volume group has no free space to grow the pool's metadata to 1 GiB."),
    "pool.not-thin": N_("The pool named is not a thin pool."),
    "root-size.too-small": N_("root-size is smaller than the image's file system."),
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

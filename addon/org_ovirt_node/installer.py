"""What the addon does at each of Anaconda's hooks, without Anaconda: the service's tasks
(`service/tasks.py`) call these, and so does the install-order driver in tests/guest.

    configure:   locate + verify the image, check the storage requests, export the boot files
                 for the payload (before any disk is written)
    bootloader:  write the base and the +1 layer (onn), switch the system root to the layer
    install:     re-apply onn's plan (fstab `/`, the boot entry, the default), drop the
                 installer's own boot entries for the root that is not booted
"""

from __future__ import annotations

import logging
import os
import tarfile
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path

import onn

from .i18n import N_, _
from .kickstart import NodeKickstart
from .messages import error_text
from .runner import Runner, run

log = logging.getLogger(__name__)

MEDIA_DIRS = ("/run/install/repo", "/run/install/sources/mount-0000-cdrom")
# Engine step ids → what the installer shows (translated where shown).
STEP_MESSAGES = {
    "image.download": N_("Downloading the Node image"),
    "image.extract": N_("Unpacking the Node image from its package"),
    "node.boot-remove": N_("Removing the boot entries of the Node being replaced"),
    "node.remove": N_("Removing the Node being replaced"),
    "vg.create": N_("Creating the volume group"),
    "vg.adopt": N_("Preparing the volume group for imgbased"),
    "pool.create": N_("Creating the thin pool"),
    "pool.adopt": N_("Preparing the thin pool for imgbased"),
    "volume.create": N_("Creating a data volume"),
    "volume.format": N_("Formatting a data volume"),
    "base.write": N_("Writing the Node image"),
    "base.copy": N_("Copying the Node image"),
    "base.finish": N_("Checking the Node image's file system"),
    "layer.create": N_("Creating the writable layer"),
    "layer.configure": N_("Configuring the layer"),
    "efi.files": N_("Copying the EFI boot files"),
    "boot.entry": N_("Writing the boot entry"),
    "vg.finish": N_("Finishing the volume group"),
    "report.write": N_("Writing the install report"),
}
# Why onn could not download the image (its error ids) → what the installer says, with what
# to do. onn's English detail follows the translated text.
DOWNLOAD_ERRORS = {
    "download.not-found": N_("The Node image {url} does not exist on the server; check --image."),
    "download.http": N_("The server refused to send the Node image {url}; check --image and the server."),
    "download.network": N_(
        "The Node image {url} could not be downloaded: the network, the proxy or the server kept failing; "
        "check them (and --proxy)."
    ),
    "download.length": N_(
        "The server does not have the whole Node image {url} it announces; put a complete image on the server."
    ),
    "download.tls": N_(
        "The TLS certificate of the server of {url} is not trusted; add its CA to the installer's trust store, "
        "or use --noverifyssl together with --sha256."
    ),
    "download.proxy": N_("The proxy {proxy} cannot be used; give --proxy=http://HOST:PORT."),
    "download.no-space": N_(
        "The installer's memory cannot hold the Node image {url} while it is installed; give the machine more "
        "memory, or put the image on the install media or an NFS share."
    ),
    "download.url": N_("{url} is not a URL the installer can download; check --image."),
    "download.dir": N_("The installer cannot store the Node image {url} in its work directory."),
    "sha256.mismatch": N_(
        "The downloaded Node image {url} does not match --sha256: it is damaged, or not the image you meant."
    ),
    "cancelled": N_("The download of the Node image {url} was cancelled."),
}


def _file_path(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlparse(url).path)


class InstallError(Exception):
    """A problem the user must fix; the message says what and how (translated). `id` is onn's
    stable id where the problem is one of onn's."""

    def __init__(self, message: str, id: str = "") -> None:  # noqa: A002 - onn's name for it
        super().__init__(message)
        self.id = id


class NodeInstaller:
    """The install of one Node image through Anaconda's hooks; state carries across them."""

    PAYLOAD_NAME = "node-boot.tar"
    #: onn's install report (docs/install-report.schema.json), in the work directory once the
    #: image is installed: what a provisioning system's kickstart posts when the installer is
    #: done (kickstart/foreman/onn-node.erb); a copy stays in the layer's /var/log/onn.
    REPORT_NAME = "install-report.json"
    #: Why the image check, its download or the install failed, in the work directory: what
    #: that kickstart's %onerror posts with the installer's logs.
    ERROR_NAME = "install-error.txt"

    def __init__(
        self,
        ks: NodeKickstart,
        *,
        sysroot: str = "/mnt/sysroot",
        sysimage: str = "/mnt/sysimage",
        workdir: str = "/run/install/onn",
        media_dirs: Iterable[str] = MEDIA_DIRS,
        runner: Runner = run,
        mountinfo: str = "/proc/self/mountinfo",
    ) -> None:
        self.ks = ks
        self.sysroot = sysroot
        self.sysimage = sysimage
        self.workdir = Path(workdir)
        self.media_dirs = tuple(media_dirs)
        self.run = runner
        self.mountinfo = mountinfo
        self.image_path: str | None = None
        #: the image as onn downloaded it (with its digest): not hashed again while unchanged
        self.download: onn.Download | None = None
        self.image: onn.ImageInfo | None = None
        self.outcome: onn.Outcome | None = None

    # -- configure (before any disk is written) --------------------------------------------

    def locate_image(self, progress: Callable[[str], object] = lambda _m: None) -> str:
        """A local path to the image: the media's, a file:// path, an NFS mount or a download;
        an image-update RPM's squashfs, unpacked; signed by a --gpgkey, when one is given."""
        url = self.ks.image
        if url is None:
            found = sorted(
                str(p)
                for d in self.media_dirs
                if Path(d).is_dir()
                for pattern in ("*.squashfs.img", "*.rpm")
                for p in Path(d).glob(pattern)
            )
            if len(found) != 1:
                raise InstallError(
                    _("the install media hold {count} Node images ({names}); name one with --image").format(
                        count=len(found), names=", ".join(found) or _("none")
                    )
                )
            source = found[0]
        elif url.startswith("file://"):
            source = _file_path(url)
        elif url.startswith("nfs:"):
            server_path = url[len("nfs:") :]
            directory, name = server_path.rsplit("/", 1)
            mnt = self.workdir / "nfs"
            mnt.mkdir(parents=True, exist_ok=True)
            if not os.path.ismount(mnt):
                self.run(["mount", "-t", "nfs", "-o", "ro,nolock", directory, str(mnt)])
            source = str(mnt / name)
        else:
            source = url
        if not url or not url.startswith(("http://", "https://")):
            if not Path(source).is_file():
                raise self._failed(
                    InstallError(_("the Node image {path} does not exist; check --image").format(path=source))
                )
        self.download = self._obtain(source, progress)
        self.image_path = self.download.path
        return self.image_path

    def _failed(self, error: InstallError) -> InstallError:
        """`error`, kept in the work directory for a kickstart's %onerror to post (the last one
        wins: it is what stopped the install)."""
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            (self.workdir / self.ERROR_NAME).write_text(f"{error}\n")
        except OSError as e:
            log.warning("cannot keep the error in %s: %s", self.workdir, e)
        return error

    def _obtain(self, source: str, progress: Callable[[str], object]) -> onn.Download:
        """onn makes the image a local, verified squashfs in the work directory (RAM in the
        installer: onn checks the room first): a download resumed after a dropped connection,
        retried, verified against --sha256 while it arrives (so the verification that follows
        does not read it again); an RPM's squashfs streamed out of its payload; with --gpgkey,
        signed by one of the keys (README.md, "Signed images")."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        shown = onn.redact_url(source)
        shown_percent: dict[str, int] = {}

        def report(event: onn.Event) -> None:
            percent = event.done * 100 // event.size if event.size else 0
            if shown_percent.get(event.step) != percent:
                shown_percent[event.step] = percent
                what = _(STEP_MESSAGES.get(event.step, event.message))
                progress(_("{what}: {percent} %").format(what=what, percent=percent))

        keys = [_file_path(k) if k.startswith("file://") else k for k in self.ks.gpgkeys]
        try:
            return onn.obtain_image(
                source,
                str(self.workdir),
                sha256=self.ks.sha256,
                gpg_keys=keys,
                proxy=self.ks.proxy,
                verify_tls=not self.ks.noverifyssl,
                progress=report,
            )
        except onn.Error as e:
            if e.id in DOWNLOAD_ERRORS and source.startswith(("http://", "https://")):
                reason = _(DOWNLOAD_ERRORS[e.id]).format(url=shown, proxy=onn.redact_url(self.ks.proxy or ""))
                error = InstallError(_("{reason}\nonn: {detail}").format(reason=reason, detail=e), id=e.id)
                raise self._failed(error) from e
            error = InstallError(
                _("the Node image {path} cannot be used: {error}\nonn: {detail}").format(
                    path=shown, error=error_text(e.id, str(e)), detail=e
                ),
                id=e.id,
            )
            raise self._failed(error) from e

    def verify_image(self, progress: Callable[[str], object] = lambda _m: None) -> onn.ImageInfo:
        """Read the image and check its checksum: a bad image stops the install here. An image
        read before (the spoke's check) is taken as it was while its file is unchanged: onn
        neither hashes nor mounts it again."""
        path = self.image_path or self.locate_image(progress)
        try:
            self.image = onn.read_image(self.image or self.download or path, sha256=self._sha256)
        except onn.Error as e:
            error = InstallError(_("the Node image {path} cannot be used: {error}").format(path=path, error=e))
            raise self._failed(error) from e
        for warning_id, message in self.image.warnings:
            log.warning("%s (%s)", message, warning_id)  # the install log
        if self.ks.strict and self.image.warnings:
            warning_id, message = self.image.warnings[0]
            self.image = None
            raise self._failed(
                InstallError(
                    _("the Node image {path} cannot be used (--strict): {error}").format(
                        path=path, error=error_text(warning_id, message)
                    ),
                    id=warning_id,
                )
            )
        return self.image

    @property
    def _sha256(self) -> str | None:
        """The squashfs's checksum: as onn verified it (an RPM's file digest, or --sha256)."""
        return self.download.sha256 if self.download is not None else self.ks.sha256

    def export_payload(self) -> str:
        """A tarball of only the image's kernels and initramfs images, for Anaconda's payload:
        it learns the kernel versions from it and unpacks a few MiB into /boot, while the image
        itself is written once, by onn, into the base."""
        image = self.image or self.verify_image()
        staging = self.workdir / "boot-files"
        written = onn.export_boot(image, str(staging))
        tar_path = self._payload_path
        partial = tar_path.with_name(f".{tar_path.name}.partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(staging / "boot", arcname="./boot", recursive=False)
            for rel in written:
                tar.add(staging / rel, arcname=f"./{rel}")
        partial.replace(tar_path)
        for rel in written:
            (staging / rel).unlink()
        return str(tar_path)

    @property
    def _payload_path(self) -> Path:
        return self.workdir / self.PAYLOAD_NAME

    @property
    def payload_url(self) -> str:
        """Where export_payload() puts the tarball the installer's payload unpacks."""
        return f"file://{self._payload_path}"

    def reserve_payload(self) -> str:
        """payload_url, which holds an empty archive until export_payload() fills it: Anaconda
        sets up the payload's source (the file must exist) right after the kickstart is
        processed, before the configuration task has verified the image (docs/anaconda.md)."""
        tar_path = self._payload_path
        if not tar_path.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            with tarfile.open(tar_path, "w"):
                pass
        return self.payload_url

    # -- bootloader hook (storage created and mounted, payload installed) -------------------

    def _plan(self, host_root: str | None = None) -> onn.Plan:
        """The install onto the installer's storage; `host_root` given, its second apply (after
        the bootloader step), which converges and leaves the first one's report alone."""
        image = self.image or self.verify_image()
        return onn.plan(
            "install",
            # The image read once: not hashed, nor its facts read, again.
            **self.ks.install_request(image, self._sha256, f"{self.sysimage}/boot"),
            root=self.sysimage,
            host_root=host_root,
            source=onn.redact_url(self.ks.image) if self.ks.image else None,
            report=host_root is None,
        )

    def _lock(self, doing: str) -> onn.Lock:
        """The lock that lets one onn write at a time, as the CLI's commands take it: refused
        while another onn (a `onn recover` started by hand, say) is writing. `doing` is what
        this task does, in the words another onn shows (English: a process's own words)."""
        try:
            return onn.lock(f"anaconda's Node addon: {doing}")
        except onn.Error as e:
            raise self._failed(InstallError(error_text(e.id, str(e)), id=e.id)) from e

    def install_image(self, progress: Callable[[str], object] = lambda _m: None) -> onn.Outcome:
        """Write the base and its +1 layer with its boot entry (onn; undone by onn on failure)."""

        def report(event: onn.Event) -> None:
            if event.done == 0:
                progress(_(STEP_MESSAGES.get(event.step, event.message)))

        with self._lock("installing the Node image") as held:
            try:
                self.outcome = onn.apply(self._plan(), progress=report, lock=held)
            except onn.Error as e:
                error = InstallError(_("installing the Node image failed: {error}").format(error=e))
                raise self._failed(error) from e
        for warning_id, message in self.outcome.warnings:
            log.warning("%s (%s)", message, warning_id)
        if self.outcome.report is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            partial = self.report_path.with_name(f".{self.REPORT_NAME}.partial")
            partial.write_text(self.outcome.report)
            partial.replace(self.report_path)
        return self.outcome

    @property
    def report_path(self) -> Path:
        """Where install_image() leaves onn's install report for the kickstart to post."""
        return self.workdir / self.REPORT_NAME

    @property
    def layer_device(self) -> str:
        if self.outcome is None or self.outcome.layer is None:
            raise InstallError(_("the Node image is not installed yet"))
        return f"/dev/{self.outcome.vg}/{self.outcome.layer}"

    def switch_sysroot(self) -> list[str]:
        """Mount the layer at the system root Anaconda writes through, with the installer's
        other mounts (/boot, /var…, /dev, /proc, /sys, /run) bound in from the physical root,
        so everything written from now on lands in the layer. Returns the mount points bound."""
        mounts = onn.mount_table(self.mountinfo)
        prefix = self.sysimage.rstrip("/") + "/"
        if any(m["target"] == self.sysroot for m in mounts):
            # Private first, as set_system_root does: the rbind copies are peers of the
            # physical root's mounts, and an unmount would propagate to them.
            self.run(["mount", "--make-rprivate", self.sysroot])
            self.run(["umount", "--recursive", self.sysroot])
        self.run(["mount", self.layer_device, self.sysroot])
        bound: list[str] = []
        for m in mounts:
            if not m["target"].startswith(prefix):
                continue
            rel = m["target"][len(prefix) :]
            if any(rel == b or rel.startswith(b + "/") for b in bound):
                continue  # carried along by --rbind of its parent
            target = f"{self.sysroot}/{rel}"
            os.makedirs(target, exist_ok=True)
            self.run(["mount", "--rbind", m["target"], target])
            bound.append(rel)
        return bound

    # -- install hook (after the bootloader and the system configuration) -------------------

    def finish(self) -> list[str]:
        """Converge on onn's layout again: the layer's fstab names the layer as /, the boot
        entry and the default are onn's (the bootloader install set its own), and the entry's
        initramfs is the host's, made by dracut in the system root, now the layer with the
        host's configuration (as imgbased makes one per layer). Remove the installer's entries
        that boot its root volume, which holds no system. Returns the entries removed."""
        with self._lock("writing the Node boot entries") as held:
            try:
                self.outcome = onn.apply(self._plan(host_root=self.sysroot), lock=held)
            except onn.Error as e:
                error = InstallError(_("writing the Node boot entries failed: {error}").format(error=e))
                raise self._failed(error) from e
            ours = Path(self.outcome.boot_entry).name if self.outcome.boot_entry else None
            boot = Path(self.sysimage, "boot")
            mounts = onn.mount_table(self.mountinfo)
            root_lv = next((m["source"] for m in reversed(mounts) if m["target"] == self.sysimage), None)
            removed = [name for name in onn.entries_booting(str(boot), root_lv) if name != ours] if root_lv else []
            for name in removed:
                (boot / "loader/entries" / name).unlink()
        return removed

# onn — developer entry points. `make demo` runs the main job; `make test` runs every tier.
PY      ?= python3
VMWORK  ?= $(CURDIR)/vm-work
ONN_CACHE ?= $(HOME)/.cache/onn
export ONN_CACHE PYTHONDONTWRITEBYTECODE=1

# The guest tier runs as two UML guests side by side (a UML guest uses one core); the
# shards are balanced by hand from the tests' durations (--durations in each shard's log; on
# 2026-12-07, the two shards side by side: faults + install + disks 11 min, signed 1.5,
# anaconda order 4.5, python + fleet + bad + fetch 4.5), with the boot after each shard (boot-1
# about 3 min, boot-2 2) in the balance. Naming other tests (GUEST_TESTS=…) runs them in one
# guest. test_vm_install.py stays in shard 1 and test_vm_anaconda_order.py in 2: `make test`
# boots their disks right after their shard (boot-1, boot-2).
GUEST_SHARD_1 := tests/guest/test_vm_faults.py tests/guest/test_vm_install.py tests/guest/test_vm_disks.py
GUEST_SHARD_2 := $(filter-out $(GUEST_SHARD_1),$(sort $(wildcard tests/guest/test_vm_*.py)))
GUEST_TESTS ?= shards
TEST_BIN := $(CURDIR)/target/debug/onn
# The tests' shared helpers and the image builder, for the scripts the tiers start outside pytest
# (pytest itself reads them from pytest.ini).
SUPPORT_PATH := $(CURDIR)/tests/support:$(CURDIR)/tests/images
#: The test images' builder (tests/images/build.py; it asks tests/support/debian.py for apt's mirror).
BUILD_IMAGES := PYTHONPATH=$(SUPPORT_PATH) $(PY) tests/images/build.py
# What the Python module and the release build are made from.
RUST_SOURCES = $(shell find rust -name '*.rs' -o -name '*.toml' -o -name '*.py' -o -name '*.pyi') Cargo.toml Cargo.lock
# The Python module is installed into a venv of this checkout (with the system's packages
# visible), so two checkouts never share it; the guest sees it at the same path.
VENV    := $(CURDIR)/.venv
VPY     := $(VENV)/bin/python3
# Kill points of the guest tier's fault tests: a sample covering every plan step, rotated by
# the commit count (make test), or all of them (make test-full).
ONN_KILL_POINTS ?= sample
ONN_KILL_SEED ?= $(shell git rev-list --count HEAD 2>/dev/null || echo 0)
GUEST_ENV = --env PYTHONPATH=$(CURDIR)/addon --env ONN_BIN=$(TEST_BIN) --env ONN_IMAGES=$(VMWORK)/images.json \
	--env ONN_BAD_IMAGES=$(VMWORK)/bad-images.json --env ONN_SIGNED=$(VMWORK)/signed.json --env ONN_VM_WORK=$(VMWORK) \
	--env ONN_KILL_POINTS=$(ONN_KILL_POINTS) --env ONN_KILL_SEED=$(ONN_KILL_SEED)

# Debian packages the tiers need: UML kernel + lvm2 for the guest, mksquashfs/debootstrap for
# test images, qemu and its UEFI firmware (ovmf; SeaBIOS comes with qemu) for booting what was
# installed, GRUB for BIOS (grub-pc-bin, installed on the boot tier's disks), dosfstools for
# EFI system partitions, dbus + GObject for the addon, rsync and GNU
# time for bench/, openssl (a test CA) and tinyproxy (a real proxy) for the download tests;
# GTK 3 under Xvfb with fonts and icons, tmux, gettext and the locales for the spokes; rpm to
# parse-check onn.spec and, with gnupg, to make the signed test material (keys, image-update
# RPMs: rpmbuild, rpmsign); Ruby to render the Foreman template with ERB, as Foreman does.
DEB_PACKAGES := user-mode-linux kmod lvm2 thin-provisioning-tools squashfs-tools debootstrap \
	e2fsprogs xfsprogs util-linux qemu-system-x86 ovmf grub-pc-bin grub2-common dosfstools cpio attr \
	fdisk gcc libc6-dev dbus-daemon libgirepository1.0-dev libcairo2-dev pkg-config rsync time openssl tinyproxy-bin \
	xvfb gir1.2-gtk-3.0 adwaita-icon-theme fonts-dejavu-core tmux gettext locales rpm gnupg ruby
# PyGObject < 3.51 builds against Debian 12's girepository-1.0; dasbus runs on it. simpleline
# is the text UI library of Anaconda's text mode; atheris fuzzes the kickstart section;
# pytest-xdist runs the boot tier's qemu guests side by side; jsonschema checks the install
# report against its schema (docs/install-report.schema.json).
PIP_PACKAGES := pytest pytest-xdist ruff maturin mypy pykickstart dasbus 'PyGObject<3.51' simpleline atheris jsonschema
# Locales the tests run in: German for the spokes' translation, en_US for addon-compat.
LOCALES := de_DE.UTF-8 en_US.UTF-8
# The pyanaconda the addon's service tests import: the stand-ins, or a real anaconda checkout
# (`make addon-compat ANACONDA_SRC=…`).
ONN_PYANACONDA ?= $(CURDIR)/tests/addon/standins

# The addon's gettext domain: po/DOMAIN.pot from the Python and .glade sources, po/LANG.po
# compiled into $(LOCALEDIR)/LANG/LC_MESSAGES/DOMAIN.mo. Locations name files, not lines, so
# the template goes stale only when the text changes.
DOMAIN   := onn-anaconda-addon
POT      := po/$(DOMAIN).pot
LOCALEDIR := $(CURDIR)/build/locale
I18N_SOURCES = $(shell find addon/org_ovirt_node -name '*.py' -o -name '*.glade' | LC_ALL=C sort)
XGETTEXT := xgettext --from-code=UTF-8 --keyword=_ --keyword=N_ --sort-by-file --add-location=file --add-comments=TRANSLATORS \
	--package-name=$(DOMAIN) --msgid-bugs-address=https://github.com/oVirt/onn

# `make install DESTDIR=…` lays out what a Node installer image and a Node host need; the
# Python package goes into the target Python's platform site-packages (the spec passes
# %{python3_sitearch}; for an updates.img, the boot.iso's).
DESTDIR ?=
PREFIX  ?= /usr
PYTHON_SITEARCH ?= $(shell $(PY) -c "import sysconfig; print(sysconfig.get_path('platlib', vars={'platbase': '/usr', 'base': '/usr'}))")
ADDONDIR := $(PREFIX)/share/anaconda/addons/org_ovirt_node
DBUSDIR  := $(PREFIX)/share/anaconda/dbus
ADDON_FILES = $(shell cd addon/org_ovirt_node && find . -name '*.py' -o -name '*.glade' | LC_ALL=C sort)
UPDATES_TREE := $(CURDIR)/build/updates

.PHONY: all setup test test-full build unit lint host guest guest-1 guest-2 boot boot-1 boot-2 boot-3 images build-test module demo \
	clean addon-compat imgbased-compat bench-install bench-anaconda lifecycle anaconda-toolchain anaconda-e2e anaconda-e2e-1 anaconda-e2e-2 bench fuzz pot po-check mo screenshots install rpm updates.img

all: test

## Install what the tiers need (idempotent; apt only when something is missing).
setup:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	@$(PY) -m pip install -q $(PIP_PACKAGES)
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
	@for l in $(LOCALES); do locale -a | grep -qix "$$(echo $$l | sed 's/UTF-8/utf8/')" || \
		localedef -i $${l%%.*} -f UTF-8 $$l; done

## The whole test suite: lint, unit/golden, host tier, guest tier (real lvm2 in UML), boot
## (qemu), fuzz; each tier's time is printed as it ends, and all of them at the end
## (tests/support/tiers.sh). The test images are built beside lint, unit and the compiles (the
## builder mostly waits on apt's downloads and on dpkg in its chroot; cargo keeps the cores).
## The last tier is three lanes side by side, each timed: a guest shard and then the boot of the
## disks it installed, twice, and the fuzz tier and then the boots that install their own disks.
## The two UML guests keep the cores about three quarters busy (a guest waits on its host's
## system calls); the fuzzers' build and runs, then the boots, take the rest, and a shard's boot
## no longer waits for the other shard.
TIMES := $(CURDIR)/build/tier-times
test:
	@mkdir -p build
	@tests/support/tiers.sh $(TIMES) setup "images + lint unit build-test module" host \
		"guest-1 boot-1 + guest-2 boot-2 + fuzz FUZZ_SECONDS=20 FUZZ_ARGS=--seed=1 boot-3"

## Everything `make test` runs, with every kill point of the fault tests (about 15 min more).
test-full:
	$(MAKE) test ONN_KILL_POINTS=all

## What the host, guest and boot tiers run: the test images, the onn binary with fault
## points, the Python module.
build: build-test images module

lint: po-check
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/rust/Cargo.toml -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p onn-core --features fault-injection --all-targets -- -D warnings
	ruff check tests addon bench fuzz rust/onn-py/python
	ruff format --check tests addon bench fuzz rust/onn-py/python

unit:
	cargo test --workspace

## Translations: `make pot` after changing user-visible text, then update po/*.po
## (msgmerge --update --backup=none --add-location=file po/de.po $(POT)); `make po-check` (in lint) fails when the template is
## stale (its creation date aside) or a language lacks a translation or has a fuzzy one.
pot:
	$(XGETTEXT) -o $(POT) $(I18N_SOURCES)

po-check:
	@mkdir -p build
	@$(XGETTEXT) -o build/check.pot $(I18N_SOURCES)
	@sed '/^"POT-Creation-Date:/d' $(POT) > build/committed.pot
	@sed '/^"POT-Creation-Date:/d' build/check.pot > build/current.pot
	@diff -u build/committed.pot build/current.pot || { echo "$(POT) is stale: run make pot and update po/*.po"; exit 1; }
	@for po in po/*.po; do msgfmt --check -o /dev/null $$po && msgcmp $$po $(POT) || exit 1; done

mo:
	@for po in po/*.po; do lang=$$(basename $$po .po); mkdir -p $(LOCALEDIR)/$$lang/LC_MESSAGES; \
		msgfmt --check -o $(LOCALEDIR)/$$lang/LC_MESSAGES/$(DOMAIN).mo $$po || exit 1; done

build-test:
	cargo build -p onn-cli --features onn-core/fault-injection

## Each list is written to a file of this make's own (its pid) and renamed into place, so two
## makes that ask for the images at once (`make guest` and `make host` in two shells) both work.
images:
	mkdir -p $(VMWORK)
	$(BUILD_IMAGES) --json > $(VMWORK)/images.json.$$$$ && mv $(VMWORK)/images.json.$$$$ $(VMWORK)/images.json
	PYTHONPATH=$(SUPPORT_PATH) $(PY) tests/bad/images.py --json > $(VMWORK)/bad-images.json.$$$$ && \
		mv $(VMWORK)/bad-images.json.$$$$ $(VMWORK)/bad-images.json
	PYTHONPATH=$(SUPPORT_PATH) $(PY) tests/images/signed.py --json > $(VMWORK)/signed.json.$$$$ && \
		mv $(VMWORK)/signed.json.$$$$ $(VMWORK)/signed.json

## The Python module `onn` (pyo3, built by maturin), installed for this Python; stubs checked.
## Built again only when a Rust source changed (the build, host and guest tiers all ask for it).
module: $(VENV)/onn-module.stamp
$(VENV)/onn-module.stamp: $(RUST_SOURCES)
	test -x $(VPY) || $(PY) -m venv --system-site-packages $(VENV)
	$(VPY) -m pip install -q --no-build-isolation --force-reinstall --no-deps ./rust/onn-py
	$(VPY) -m mypy.stubtest onn._native
	touch $@

host: build-test images module
	PYTHONPATH=$(CURDIR)/addon ONN_BIN=$(TEST_BIN) ONN_IMAGES=$(VMWORK)/images.json ONN_PYANACONDA=$(ONN_PYANACONDA) \
		ONN_BAD_IMAGES=$(VMWORK)/bad-images.json ONN_SIGNED=$(VMWORK)/signed.json \
		$(VPY) -m pytest -q -p no:cacheprovider -m host --durations=10 $(PYTEST_ARGS)

## Fuzz the NVR/name rules (cargo fuzz) and the kickstart section (atheris), FUZZ_SECONDS each
## (`make test` runs 20 s each from a fixed seed, so that a CI run can be repeated as it was;
## `make fuzz` explores from a new seed each run). See fuzz/run.py.
FUZZ_SECONDS ?= 180
fuzz: module  # the kickstart section asks the engine
	$(VPY) fuzz/run.py --seconds $(FUZZ_SECONDS) $(FUZZ_ARGS)

## The release build: the onn binary and the Python module's wheel (maturin).
build/wheel.stamp: $(RUST_SOURCES)
	cargo build --release -p onn-cli
	rm -rf build/wheels
	maturin build --release --quiet -m rust/onn-py/Cargo.toml -o build/wheels
	touch $@

install: build/wheel.stamp mo
	install -d $(DESTDIR)$(ADDONDIR) $(DESTDIR)$(DBUSDIR)/services $(DESTDIR)$(DBUSDIR)/confs \
		$(DESTDIR)/etc/anaconda/profile.d $(DESTDIR)/etc/anaconda/conf.d $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PYTHON_SITEARCH)
	cd addon/org_ovirt_node && for f in $(ADDON_FILES); do \
		install -D -m 0644 $$f $(DESTDIR)$(ADDONDIR)/$$f || exit 1; done
	install -m 0644 data/org.fedoraproject.Anaconda.Addons.OvirtNode.service $(DESTDIR)$(DBUSDIR)/services/
	install -m 0644 data/org.fedoraproject.Anaconda.Addons.OvirtNode.conf $(DESTDIR)$(DBUSDIR)/confs/
	install -m 0644 data/profile.d/ovirt-node-onn.conf $(DESTDIR)/etc/anaconda/profile.d/
	install -m 0644 data/conf.d/90-onn.conf $(DESTDIR)/etc/anaconda/conf.d/
	cd $(LOCALEDIR) && for mo in */LC_MESSAGES/$(DOMAIN).mo; do \
		install -D -m 0644 $$mo $(DESTDIR)$(PREFIX)/share/locale/$$mo || exit 1; done
	install -m 0755 target/release/onn $(DESTDIR)$(PREFIX)/bin/onn
	$(PY) -m zipfile -e build/wheels/onn-*.whl $(DESTDIR)$(PYTHON_SITEARCH)
	@# maturin's build-provenance record (newer maturin only): not needed on a host
	rm -rf $(DESTDIR)$(PYTHON_SITEARCH)/onn-*.dist-info/sboms
	chmod 0755 $(DESTDIR)$(PYTHON_SITEARCH)/onn/_native*.so

## The RPMs of onn.spec, built by Debian's rpmbuild from the checkout and `cargo vendor`, their
## files compared with `make install`'s tree (tests/rpm; a release build, several minutes).
rpm: build/wheel.stamp mo
	$(PY) -m pytest -q -p no:cacheprovider -rA -s -m rpm tests/rpm $(PYTEST_ARGS)

## An inst.updates= image: the install tree as a cpio archive (newc), gzipped; the installer
## copies it over its root. PYTHON_SITEARCH must be the boot.iso's (e.g.
## /usr/lib64/python3.13/site-packages).
updates.img:
	rm -rf $(UPDATES_TREE)
	$(MAKE) install DESTDIR=$(UPDATES_TREE)
	cd $(UPDATES_TREE) && find . | LC_ALL=C sort | cpio --quiet -c -o | gzip -9 > $(CURDIR)/build/updates.img
	@echo "build/updates.img: boot the installer with inst.updates=<URL of it>"

## The spokes' screenshots in docs/screenshots (real GTK under Xvfb; the GUI test's walk).
screenshots: build-test images module
	PYTHONPATH=$(CURDIR)/addon ONN_IMAGES=$(VMWORK)/images.json ONN_PYANACONDA=$(ONN_PYANACONDA) \
		ONN_SCREENSHOTS=$(CURDIR)/docs/screenshots \
		$(VPY) -m pytest -q -p no:cacheprovider tests/addon/test_gui.py -k shows_the_image

## Side-by-side write benchmark of the base (a script, not a test; see bench/README.md).
bench: setup images
	PYTHONPATH=$(SUPPORT_PATH) $(PY) bench/run.py $(BENCH_ARGS)
	cargo build --release -p onn-cli
	$(PY) bench/signed.py
	$(BUILD_IMAGES) --json demo-1.0 demo-xz big-zstd big-xz > $(VMWORK)/bench-images.json
	$(PY) tests/support/uml.py --mem 3G --rw $(VMWORK) --env ONN_IMAGES=$(VMWORK)/bench-images.json \
		--env ONN_VM_WORK=$(VMWORK) -- $(PY) bench/alloc.py

## A whole install timed in the guest (bench/install.py): `onn install` against Anaconda's liveimg
## steps done by hand and `imgbase layout --init` with the image's own imgbased (IMGBASED_SRC,
## NODECTL_SRC as for imgbased-compat), three runs each; then onn alone on the 3 GiB image.
bench-install: build-test
	$(IMGBASED_SOURCES_CHECK)
	$(HOST_SOURCES_CHECK)
	cargo build --release -p onn-cli
	$(BUILD_IMAGES) --json compat-1.0 big-zstd > $(VMWORK)/bench-install.json
	$(PY) tests/support/uml.py --mem 3G --timeout 7200 --rw $(VMWORK) --env ONN_IMAGES=$(VMWORK)/bench-install.json \
		--env ONN_VM_WORK=$(VMWORK) --env IMGBASED_SRC=$(abspath $(IMGBASED_SRC)) \
		--env NODECTL_SRC=$(abspath $(NODECTL_SRC)) --env PYTHONPATH=$(SUPPORT_PATH) -- \
		$(PY) bench/install.py --grow big-zstd $(BENCH_ARGS)

## The addon's service tests against a real anaconda source tree instead of the stand-ins
## (pyanaconda is not on PyPI; needs the en_US.UTF-8 locale, as Anaconda's modules set it).
## pyanaconda.core imports requests-file, requests-ftp and systemd's journal binding (built
## against libsystemd).
addon-compat: build-test images module
	@test -d "$(ANACONDA_SRC)/pyanaconda" || { echo "set ANACONDA_SRC to an anaconda checkout"; exit 2; }
	@dpkg -s libsystemd-dev >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q libsystemd-dev >/dev/null
	$(VPY) -m pip install -q requests-file requests-ftp systemd-python
	PYTHONPATH=$(CURDIR)/addon ONN_IMAGES=$(VMWORK)/images.json \
		ONN_PYANACONDA=$(ANACONDA_SRC):$(CURDIR)/tests/addon/compat \
		ANACONDA_CONFIG_TMP=$(ANACONDA_SRC)/data/anaconda.conf \
		$(VPY) -m pytest -q -p no:cacheprovider tests/addon/test_service.py tests/addon/test_tui.py

## The installed host's own imgbased and nodectl on what onn installed, in the guest
## (tests/guest/imgbased_compat.py): IMGBASED_SRC a checkout of oVirt/imgbased at tag
## imgbased-1.2.26, NODECTL_SRC one of oVirt/ovirt-node-ng. About 15 min.
COMPAT_IMAGES := compat-1.0 compat-1.1 compat-1.2
# The guest reads imgbased's and nodectl's checkouts, and it sees the host's files but for /tmp
# (it has one of its own).
IMGBASED_SOURCES_CHECK = @test -d "$(IMGBASED_SRC)/src/imgbased" && test -d "$(NODECTL_SRC)/src/nodectl" || \
	{ echo "set IMGBASED_SRC to an imgbased checkout and NODECTL_SRC to an ovirt-node-ng one"; exit 2; }
HOST_SOURCES_CHECK = @for d in $(abspath $(IMGBASED_SRC) $(NODECTL_SRC)); do case $$d in /tmp/*) \
	echo "$$d is under /tmp, which the guest does not see (it has a /tmp of its own): check it out elsewhere"; \
	exit 2;; esac; done
imgbased-compat: build-test images module
	$(IMGBASED_SOURCES_CHECK)
	$(HOST_SOURCES_CHECK)
	$(BUILD_IMAGES) --json $(COMPAT_IMAGES) > $(VMWORK)/compat-images.json
	$(PY) tests/support/uml.py --mem 6G --timeout 3600 --rw $(VMWORK) $(GUEST_ENV) --env ONN_IMAGES=$(VMWORK)/compat-images.json \
		--env IMGBASED_SRC=$(abspath $(IMGBASED_SRC)) --env NODECTL_SRC=$(abspath $(NODECTL_SRC)) -- \
		$(VPY) -m pytest -q -p no:cacheprovider -rA tests/guest/imgbased_compat.py $(PYTEST_ARGS)

## The Node's life after onn, on a booted host (tests/lifecycle): onn installs lifecycle-1.0
## onto a disk the firmware boots; SeaBIOS and GRUB start it; on the running host its own
## imgbased (IMGBASED_SRC, NODECTL_SRC as for imgbased-compat) updates to lifecycle-1.1; reboot
## into that layer; rollback; reboot into onn's. About half an hour (TCG).
lifecycle: build-test
	$(IMGBASED_SOURCES_CHECK)
	$(BUILD_IMAGES) --json lifecycle-1.0 lifecycle-1.1 > $(VMWORK)/lifecycle-images.json
	ONN_VM_WORK=$(VMWORK) ONN_BIN=$(TEST_BIN) ONN_IMAGES=$(VMWORK)/lifecycle-images.json \
		IMGBASED_SRC=$(abspath $(IMGBASED_SRC)) NODECTL_SRC=$(abspath $(NODECTL_SRC)) \
		$(PY) -m pytest -q -p no:cacheprovider -rA -s -m lifecycle tests/lifecycle $(PYTEST_ARGS)

## The real Anaconda (45.21) runs kickstarts with the addon in the guest, and what it installed
## boots (tests/anaconda/): ANACONDA_SRC an anaconda checkout, MEH_SRC a python-meh one (0.52;
## neither is on PyPI). With IMGBASED_SRC and NODECTL_SRC (as for imgbased-compat), one more
## install is then updated and rolled back by the host's own imgbased. The toolchain (libblockdev
## 3 and pylibmount from Debian's sources, PyPI packages) is built once into
## $(ONN_CACHE)/anaconda (about 9 min); the cases run two guests side by side. About an hour.
## The graphical cases (tests/anaconda/test_anaconda_gui.py) run Anaconda's GUI under Xvfb with
## a window manager and the accessibility bus (the last line of packages); PYTEST_ARGS="-k gui"
## runs only them, each in the guest whose cases include it (tests/anaconda/conftest.py).
ANACONDA_DEB_PACKAGES := autoconf automake autoconf-archive autopoint libtool gtk-doc-tools pkg-config \
	libglib2.0-dev libkmod-dev libparted-dev libudev-dev libcryptsetup-dev libdevmapper-dev libbytesize-dev \
	libnvme-dev libext2fs-dev libkeyutils-dev libyaml-dev libblkid-dev libmount-dev libfdisk-dev libnss3-dev \
	libsystemd-dev libxkbcommon-dev libxkbregistry-dev python3-dev python3-bytesize python3-rpm python3-pwquality \
	python3-selinux gir1.2-nm-1.0 gir1.2-ostree-1.0 udev kbd network-manager policycoreutils \
	xvfb matchbox-window-manager at-spi2-core gir1.2-atspi-2.0
ANACONDA_ROOT := $(VMWORK)/anaconda-root
ANACONDA_E2E = ONN_ANACONDA=$(VMWORK)/anaconda-toolchain.json ONN_IMAGES=$(VMWORK)/images.json ONN_VM_WORK=$(VMWORK) \
	ONN_COMPAT_IMAGES=$(VMWORK)/compat-images.json IMGBASED_SRC=$(abspath $(IMGBASED_SRC)) NODECTL_SRC=$(abspath $(NODECTL_SRC)) \
	$(PY) -m pytest -q -p no:cacheprovider -rA tests/anaconda $(PYTEST_ARGS)
anaconda-toolchain: build-test images build/wheel.stamp mo
	@test -d "$(ANACONDA_SRC)/pyanaconda" && test -f "$(MEH_SRC)/python-meh.spec" || \
		{ echo "set ANACONDA_SRC to an anaconda checkout (45.21) and MEH_SRC to a python-meh one (0.52)"; exit 2; }
	$(HOST_SOURCES_CHECK)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(ANACONDA_DEB_PACKAGES) >/dev/null
	rm -rf $(ANACONDA_ROOT)
	$(MAKE) --no-print-directory install DESTDIR=$(ANACONDA_ROOT) PYTHON_SITEARCH=/usr/lib/onn/site-packages
	PYTHONPATH=$(SUPPORT_PATH) $(PY) tests/anaconda/toolchain.py --anaconda-src $(ANACONDA_SRC) --meh-src $(MEH_SRC) --root $(ANACONDA_ROOT) \
		> $(VMWORK)/anaconda-toolchain.json
anaconda-e2e: anaconda-toolchain
ifneq ($(and $(IMGBASED_SRC),$(NODECTL_SRC)),)
	$(BUILD_IMAGES) --json compat-1.0 compat-1.1 > $(VMWORK)/compat-images.json
else
	@echo "anaconda-e2e: no IMGBASED_SRC and NODECTL_SRC, so no update by the host's imgbased"
endif
	@$(MAKE) --no-print-directory -j2 --output-sync=target anaconda-e2e-1 anaconda-e2e-2

## A whole install by the real Anaconda, timed (bench/anaconda.py): (a) with onn's %addon beside
## (b) liveimg + `imgbase layout --init` with the image's own imgbased, one guest each, three
## rounds (about an hour); ANACONDA_SRC, MEH_SRC, IMGBASED_SRC, NODECTL_SRC as for anaconda-e2e.
bench-anaconda: anaconda-toolchain
	$(IMGBASED_SOURCES_CHECK)
	$(BUILD_IMAGES) --json compat-1.0 > $(VMWORK)/bench-anaconda.json
	ONN_ANACONDA=$(VMWORK)/anaconda-toolchain.json ONN_IMAGES=$(VMWORK)/bench-anaconda.json ONN_VM_WORK=$(VMWORK) \
		IMGBASED_SRC=$(abspath $(IMGBASED_SRC)) NODECTL_SRC=$(abspath $(NODECTL_SRC)) \
		PYTHONPATH=$(SUPPORT_PATH):$(CURDIR)/tests/anaconda $(PY) bench/anaconda.py $(BENCH_ARGS)

## Each guest's cases: tests/anaconda/conftest.py (PYTEST_ARGS="-k foreman" narrows both; a
## guest it leaves without a case, pytest's 5, passes).
anaconda-e2e-1 anaconda-e2e-2:
	@ONN_E2E_SHARD=$(subst anaconda-e2e-,,$@) $(ANACONDA_E2E); rc=$$?; [ $$rc = 0 ] || [ $$rc = 5 ]

## The guest tier: each shard's output is shown when it ends, with its time; the timeout only
## catches a hung guest. A shard that PYTEST_ARGS leaves without a test (pytest's 5) passes.
GUEST_RUN = $(PY) tests/support/uml.py --mem 6G --timeout 3600 --rw $(VMWORK) $(GUEST_ENV) -- \
	$(VPY) -m pytest -q -p no:cacheprovider -m guest --durations=10
ifeq ($(GUEST_TESTS),shards)
guest: build-test images module
	@$(MAKE) --no-print-directory -j2 --output-sync=target guest-1 guest-2
else
guest: build-test images module
	$(GUEST_RUN) $(GUEST_TESTS) $(PYTEST_ARGS)
endif

guest-1 guest-2:
	@s=$$(date +%s); $(GUEST_RUN) $(GUEST_SHARD_$(subst guest-,,$@)) $(PYTEST_ARGS); rc=$$?; \
	echo "$@ ($(notdir $(GUEST_SHARD_$(subst guest-,,$@)))): $$(( $$(date +%s) - s )) s, exit $$rc"; \
	[ $$rc = 0 ] || [ $$rc = 5 ]

## The boot tier: each boot is one qemu (TCG, one core), two at a time.
BOOT_RUN = ONN_VM_WORK=$(VMWORK) ONN_BIN=$(TEST_BIN) ONN_IMAGES=$(VMWORK)/images.json \
	$(PY) -m pytest -q -p no:cacheprovider -m boot tests/boot
boot: build-test
	$(BOOT_RUN) -n 2 $(PYTEST_ARGS)

## `make test` starts each boot once its disks are there, in three lanes: boot-1 after guest-1
## (the demo's disks, test_vm_install.py), boot-2 after guest-2 (the install in Anaconda's order),
## boot-3 (the boots that install their own disks) after the fuzz tier.
BOOT_1 := bios_firmware
BOOT_2 := anacondas_order
BOOT_3 := not bios_firmware and not anacondas_order
boot-1 boot-2 boot-3:
	@s=$$(date +%s); $(BOOT_RUN) -k "$(BOOT_$(subst boot-,,$@))" $(PYTEST_ARGS); rc=$$?; \
	echo "$@ ($(BOOT_$(subst boot-,,$@))): $$(( $$(date +%s) - s )) s, exit $$rc"; [ $$rc = 0 ]

## The main job: build the demo image, install it into sparse disks with real lvm2 in the
## guest, show `onn list` / `onn check`, then start the machine in qemu: SeaBIOS, GRUB, the
## installed layer, SELinux enforcing.
demo: setup images
	cargo build --release -p onn-cli
	$(PY) tests/support/uml.py --mem 6G --rw $(VMWORK) --env ONN_BIN=$(CURDIR)/target/release/onn \
		--env ONN_IMAGES=$(VMWORK)/images.json --env ONN_VM_WORK=$(VMWORK) --env PYTHONPATH=$(SUPPORT_PATH) -- \
		$(PY) tests/guest/demo.py
	$(PY) tests/support/boot.py --firmware bios --disk $(VMWORK)/demo-run/disk.img \
		--disk $(VMWORK)/demo-run/pv0.img --disk $(VMWORK)/demo-run/pv1.img --timeout 900

clean:
	rm -rf $(VMWORK)

# onn — developer entry points. `make demo` runs the main job; `make test` runs every tier.
PY      ?= python3
VMWORK  ?= $(CURDIR)/vm-work
ONN_CACHE ?= $(HOME)/.cache/onn
export ONN_CACHE PYTHONDONTWRITEBYTECODE=1

GUEST_TESTS ?= tests/guest
TEST_BIN := $(CURDIR)/target/debug/onn
# The Python module is installed into a venv of this checkout (with the system's packages
# visible), so two checkouts never share it; the guest sees it at the same path.
VENV    := $(CURDIR)/.venv
VPY     := $(VENV)/bin/python3
GUEST_ENV = --env PYTHONPATH=$(CURDIR)/addon --env ONN_BIN=$(TEST_BIN) --env ONN_IMAGES=$(VMWORK)/images.json \
	--env ONN_BAD_IMAGES=$(VMWORK)/bad-images.json --env ONN_VM_WORK=$(VMWORK)

# Debian packages the tiers need: UML kernel + lvm2 for the guest, mksquashfs/debootstrap for
# test images, qemu for booting what was installed, dbus + GObject for the addon, rsync for bench/,
# openssl (a test CA) and tinyproxy (a real proxy) for the download tests
DEB_PACKAGES := user-mode-linux kmod lvm2 thin-provisioning-tools squashfs-tools debootstrap \
	e2fsprogs xfsprogs util-linux qemu-system-x86 cpio attr \
	fdisk dbus-daemon libgirepository1.0-dev libcairo2-dev pkg-config rsync openssl tinyproxy-bin
# PyGObject < 3.51 builds against Debian 12's girepository-1.0; dasbus runs on it.
PIP_PACKAGES := pytest ruff maturin mypy pykickstart dasbus 'PyGObject<3.51' atheris
# The pyanaconda the addon's service tests import: the stand-ins, or a real anaconda checkout
# (`make addon-compat ANACONDA_SRC=…`).
ONN_PYANACONDA ?= $(CURDIR)/tests/addon/standins

.PHONY: all setup test unit lint host guest boot images build-test module demo clean addon-compat bench fuzz

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

## The whole test suite: lint, unit/golden, host tier, guest tier (real lvm2 in UML), boot (qemu).
test: setup
	$(MAKE) lint unit host guest boot
	$(MAKE) fuzz FUZZ_SECONDS=20

lint:
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/rust/Cargo.toml -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	ruff check tests addon bench fuzz rust/onn-py/python
	ruff format --check tests addon bench fuzz rust/onn-py/python

unit:
	cargo test --workspace

build-test:
	cargo build -p onn-cli --features onn-core/fault-injection

images:
	mkdir -p $(VMWORK)
	$(PY) tests/images/build.py --json > $(VMWORK)/images.json.new
	mv $(VMWORK)/images.json.new $(VMWORK)/images.json
	$(PY) tests/bad/images.py --json > $(VMWORK)/bad-images.json.new
	mv $(VMWORK)/bad-images.json.new $(VMWORK)/bad-images.json

## The Python module `onn` (pyo3, built by maturin), installed for this Python; stubs checked.
module:
	test -x $(VPY) || $(PY) -m venv --system-site-packages $(VENV)
	$(VPY) -m pip install -q --no-build-isolation --force-reinstall --no-deps ./rust/onn-py
	$(VPY) -m mypy.stubtest onn._native

host: build-test images module
	PYTHONPATH=$(CURDIR)/addon ONN_BIN=$(TEST_BIN) ONN_IMAGES=$(VMWORK)/images.json ONN_PYANACONDA=$(ONN_PYANACONDA) \
		ONN_BAD_IMAGES=$(VMWORK)/bad-images.json \
		$(VPY) -m pytest -q -p no:cacheprovider tests/host tests/python tests/addon tests/vm tests/bad

## Fuzz the NVR/name rules (cargo fuzz) and the kickstart section (atheris), FUZZ_SECONDS each
## (`make test` runs 20 s each). See fuzz/run.py.
FUZZ_SECONDS ?= 180
fuzz:
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS)

## Side-by-side write benchmark of the base (a script, not a test; see bench/README.md).
bench: setup images
	$(PY) bench/run.py $(BENCH_ARGS)

## The addon's service tests against a real anaconda source tree instead of the stand-ins
## (pyanaconda is not on PyPI; needs the en_US.UTF-8 locale, as Anaconda's modules set it).
addon-compat: build-test images module
	@test -d "$(ANACONDA_SRC)/pyanaconda" || { echo "set ANACONDA_SRC to an anaconda checkout"; exit 2; }
	PYTHONPATH=$(CURDIR)/addon ONN_IMAGES=$(VMWORK)/images.json \
		ONN_PYANACONDA=$(ANACONDA_SRC):$(CURDIR)/tests/addon/compat \
		ANACONDA_CONFIG_TMP=$(ANACONDA_SRC)/data/anaconda.conf \
		$(VPY) -m pytest -q -p no:cacheprovider tests/addon/test_service.py

guest: build-test images module
	$(PY) tests/vm/uml.py --mem 6G --rw $(VMWORK) $(GUEST_ENV) -- \
		$(VPY) -m pytest -q -p no:cacheprovider $(GUEST_TESTS) $(PYTEST_ARGS)

boot:
	ONN_VM_WORK=$(VMWORK) $(PY) -m pytest -q -p no:cacheprovider tests/boot

## The main job: build the demo image, install it into sparse disks with real lvm2 in the
## guest, show `onn list` / `onn check`, then boot the installed layer in qemu.
demo: setup images
	cargo build --release -p onn-cli
	$(PY) tests/vm/uml.py --mem 6G --rw $(VMWORK) --env ONN_BIN=$(CURDIR)/target/release/onn \
		--env ONN_IMAGES=$(VMWORK)/images.json --env ONN_VM_WORK=$(VMWORK) -- \
		$(PY) tests/guest/demo.py
	$(PY) tests/vm/boot.py --boot $(VMWORK)/demo-run/boot.img \
		--disk $(VMWORK)/demo-run/pv0.img --disk $(VMWORK)/demo-run/pv1.img --timeout 900

clean:
	rm -rf $(VMWORK)

# onn — developer entry points. `make demo` runs the main job; `make test` runs every tier.
PY      ?= python3
VMWORK  ?= $(CURDIR)/vm-work
ONN_CACHE ?= $(HOME)/.cache/onn
export ONN_CACHE PYTHONDONTWRITEBYTECODE=1

TEST_BIN := $(CURDIR)/target/debug/onn
GUEST_ENV = --env ONN_BIN=$(TEST_BIN) --env ONN_IMAGES=$(VMWORK)/images.json --env ONN_VM_WORK=$(VMWORK)

.PHONY: all test unit lint host guest boot images build-test demo clean

all: test

## The whole test suite: lint, unit/golden, host tier, guest tier (real lvm2 in UML), boot (qemu).
test: lint unit host guest boot

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	ruff check tests
	ruff format --check tests

unit:
	cargo test --workspace

build-test:
	cargo build -p onn-cli --features onn-core/fault-injection

images:
	mkdir -p $(VMWORK)
	$(PY) tests/images/build.py --json > $(VMWORK)/images.json.new
	mv $(VMWORK)/images.json.new $(VMWORK)/images.json

host: build-test images
	ONN_BIN=$(TEST_BIN) ONN_IMAGES=$(VMWORK)/images.json $(PY) -m pytest -q -p no:cacheprovider tests/host tests/vm

guest: build-test images
	$(PY) tests/vm/uml.py --mem 6G --rw $(VMWORK) $(GUEST_ENV) -- \
		$(PY) -m pytest -q -p no:cacheprovider tests/guest $(PYTEST_ARGS)

boot:
	ONN_VM_WORK=$(VMWORK) $(PY) -m pytest -q -p no:cacheprovider tests/boot

clean:
	rm -rf $(VMWORK)

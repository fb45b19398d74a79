# One command that mirrors CI (.ci/run minus the package installs):
#   make check
# Individual steps: make fmt-check clippy build test doc.
# Benchmarks (not part of check): make bench

CARGO ?= cargo

.PHONY: check fmt fmt-check clippy build test doc bench release

check: fmt-check clippy build test doc

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Builds every binary first: tests/tests/ftpshd_binary.rs runs target/debug/ftpshd.
build:
	$(CARGO) build --workspace --all-targets

test: build
	$(CARGO) test --workspace

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

release:
	$(CARGO) build --release -p ftpsh-daemon

# ftpshd, pyftpdlib 2.2.0 and vsftpd side by side, one markdown table
# (about 2-10 minutes; needs root, python3.11 with pyftpdlib, vsftpd, curl, iperf3).
bench: release
	FTPSHD=target/release/ftpshd bench/compare.sh

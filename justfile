# sgdnoise tasks. Every recipe sources scripts/env.sh so cargo finds the libtorch that
# `setup` installed outside the repository.

set shell := ["bash", "-euo", "pipefail", "-c"]

pipeline := "pipelines/quick.yaml"

# list the recipes
default:
    @just --list

# install libtorch (PyPI torch wheel), just and MNIST; reuses what is there
setup:
    scripts/setup.sh

# build the release binary
build: setup
    . scripts/env.sh && cargo build --release --workspace --bins

# set up, build and run the default pipeline (pipelines/quick.yaml) to its report
run: build
    . scripts/env.sh && target/release/sgdnoise doctor
    . scripts/env.sh && target/release/sgdnoise run {{pipeline}} --jobs 2

# the report of the default pipeline in headless Chromium (needs Debian's chromium)
check-report: run
    scripts/check-report.sh reports/quick/report.html

# set up and run the whole test suite
test: setup
    . scripts/env.sh && cargo build --release --workspace --bins && cargo test --release --workspace --all-targets -- --test-threads 2

# the manual (docs/, MkDocs Material) as a site in target/book; --strict fails on a broken link
book: setup
    . scripts/env.sh && NO_MKDOCS_2_WARNING=1 mkdocs build --strict

# lints: formatting and clippy
lint: setup
    . scripts/env.sh && cargo fmt --check && cargo clippy --release --workspace --all-targets -- -D warnings

# benchmarks: printed figures and ratios against a reference in the same run
bench: build
    . scripts/env.sh && target/release/bench-train --python "$SGDNOISE_PYTHON"
    . scripts/env.sh && target/release/bench-plan 10000
    . scripts/env.sh && target/release/bench-replicas "$SGDNOISE_PYTHON"
    . scripts/env.sh && target/release/bench-replicas "$SGDNOISE_PYTHON" --phase
    . scripts/env.sh && target/release/bench-perceptron
    . scripts/env.sh && target/release/bench-mnas --python "$SGDNOISE_PYTHON"
    . scripts/env.sh && eval "$(scripts/seaweedfs.sh up)" && target/release/bench-remote

# libtorch, devices, threads and datasets as sgdnoise sees them
doctor: build
    . scripts/env.sh && target/release/sgdnoise doctor

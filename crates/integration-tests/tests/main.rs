//! The one integration-test binary (libtorch is linked once). Tests that need MNIST expect the
//! set-up (`scripts/setup.sh`, run by `just test`) to have put it in data/mnist.

mod bundles;
mod cli;
mod datasets;
mod docs;
mod engine;
mod hostile;
mod pipeline;
mod remotes;
mod slurm;
mod snapshots;
mod support;
mod train;
mod trust;

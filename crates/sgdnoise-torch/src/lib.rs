//! sgdnoise's trainer on libtorch: the nets and the SGD dynamics with the exact stop (`nn`), a
//! run's parameters resolved into a training configuration and its record (`resolve`), the
//! [`Trainer`](sgdnoise_core::stages::Trainer) that executes `train` jobs (`training`), and the
//! commands of the `sgdnoise-torch` worker (`commands`: `train`, `exec`, `doctor`, `verify`).
//! Everything without libtorch is `sgdnoise_core`'s; this crate adds only what links it.

pub mod commands;
pub mod nn;
pub mod resolve;
pub mod training;

//! `sgdnoise-torch`: the worker that links libtorch. It runs `train`, `exec`, `doctor` and
//! `verify`, with the libtorch trainer; any other command is the light `sgdnoise`'s.

fn main() -> std::process::ExitCode {
    sgdnoise_core::host::tune_allocator();
    sgdnoise_torch::commands::main(&sgdnoise_torch::training::TorchTrainer)
}

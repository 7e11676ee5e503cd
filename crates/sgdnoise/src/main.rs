//! `sgdnoise`: plans, keys, runs and records pipelines, and hands training to `sgdnoise-torch`.
//! It links no libtorch; everything it does is `sgdnoise_core`'s.

fn main() -> std::process::ExitCode {
    sgdnoise_core::cli::main()
}

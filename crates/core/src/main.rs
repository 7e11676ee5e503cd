fn main() -> std::process::ExitCode {
    sgdnoise_core::cli::main()
}

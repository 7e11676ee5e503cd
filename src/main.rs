fn main() -> std::process::ExitCode {
    sgdnoise::host::tune_allocator();
    sgdnoise::training::install();
    sgdnoise::cli::main()
}

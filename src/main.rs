fn main() -> std::process::ExitCode {
    sgdnoise::nn::runtime::tune_allocator();
    sgdnoise::cli::main()
}

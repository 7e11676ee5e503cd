fn main() -> std::process::ExitCode {
    sgdnoise::cli::main()
}

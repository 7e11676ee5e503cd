//! Dataset readers and task construction on files the tests write, and the real MNIST.

use sgdnoise_core::datasets::{cifar, sources, DataError, DataPaths, DataSpec, Pool, RunData};

use crate::support::data_paths;

fn write_cifar(dir: &std::path::Path, per_file: usize) {
    for (f, name) in cifar::FILES.iter().enumerate() {
        let mut bytes = Vec::new();
        for r in 0..per_file {
            let label = ((f * per_file + r) % 10) as u8;
            bytes.push(label);
            // Red channel = label·20, green = 100, blue = row index.
            bytes.extend(std::iter::repeat_n(label * 20, 1024));
            bytes.extend(std::iter::repeat_n(100u8, 1024));
            bytes.extend((0..1024).map(|i| (i / 32) as u8));
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn cifar_reader_on_generated_files() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path(), 7);
    let paths = DataPaths { mnist: dir.path().into(), fashion: dir.path().into(), cifar: dir.path().into() };
    let pool = Pool::load(&DataSpec::CifarAnimals, &paths).unwrap();
    assert_eq!(pool.len(), 42);
    assert_eq!(pool.sample_shape, vec![3, 32, 32]);
    for i in 0..pool.len() {
        let class = i % 10;
        let expected = if [0, 1, 8, 9].contains(&class) { -1.0 } else { 1.0 };
        assert_eq!(pool.labels[i], expected, "record {i} of class {class}");
    }
    let x = pool.features(&[3]);
    assert!((x[0] - (60.0 - 120.93) / 64.14).abs() < 1e-6);
    assert!((x[1024] - (100.0 - 120.93) / 64.14).abs() < 1e-6);
    assert!((x[2048 + 64] - (2.0 - 120.93) / 64.14).abs() < 1e-6);
    let data = RunData::from_pool(&pool, 10, 12, 0, 0).unwrap();
    assert_eq!(data.x_train.len(), 10 * 3072);
    assert_eq!(data.y_test.len(), 12);
    assert_eq!(pool.sources.len(), 6);
}

#[test]
fn cifar_reader_rejects_a_truncated_file_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path(), 2);
    let bad = dir.path().join("data_batch_3.bin");
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() - 5]).unwrap();
    let paths = DataPaths { mnist: dir.path().into(), fashion: dir.path().into(), cifar: dir.path().into() };
    let err = Pool::load(&DataSpec::CifarAnimals, &paths).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: corrupt: 6141 bytes is not a whole number of 3073-byte records", bad.display())
    );
}

#[test]
fn missing_cifar_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let paths = DataPaths { mnist: dir.path().into(), fashion: dir.path().into(), cifar: dir.path().join("nope") };
    let err = Pool::load(&DataSpec::CifarAnimals, &paths).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }));
    assert!(err.to_string().contains("SGDNOISE_CIFAR_DIR"), "{err}");
}

#[test]
fn mnist_is_verified_and_a_corrupt_copy_is_rejected() {
    let real = data_paths();
    let files = sources::verify_mnist(&real.mnist).expect("MNIST set up");
    assert_eq!(files.len(), 4);
    let pool = Pool::load(&DataSpec::MnistParity, &real).unwrap();
    assert_eq!(pool.len(), 70_000);
    let even = pool.labels.iter().filter(|&&y| y > 0.0).count();
    assert!((34_000..36_000).contains(&even), "{even} even digits");
    // A copy with one byte changed fails its checksum, naming the file.
    let dir = tempfile::tempdir().unwrap();
    for (p, _) in &files {
        std::fs::copy(p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let target = dir.path().join("t10k-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&target).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&target, bytes).unwrap();
    let err = sources::verify_mnist(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::BadChecksum { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("{}: sha256 is ", target.display())), "{err}");
}

#[test]
fn mnist_normalisation_matches_design() {
    let pool = Pool::load(&DataSpec::MnistParity, &data_paths()).unwrap();
    let x = pool.features(&(0..2000).collect::<Vec<_>>());
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / x.len() as f64;
    assert!(mean.abs() < 0.05, "mean {mean}");
    assert!((var.sqrt() - 1.0).abs() < 0.05, "std {}", var.sqrt());
    assert_eq!(x[0], (0.0 - 33.31) / 78.57);
}

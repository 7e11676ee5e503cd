//! The training core: exact stop, determinism, α-independence of the unfitted gradient,
//! divergence, activation normalisation.

use sgdnoise_core::datasets::{Pool, RunData};
use sgdnoise_core::run::{Activation, ArchKind, ArchSpec, Dtype, RunRecord, Status};
use sgdnoise_torch::nn::apply::Apply;
use sgdnoise_torch::nn::fc_cpu::train_fc_cpu;
use sgdnoise_torch::nn::kernels::Path;
use sgdnoise_torch::nn::{train, TrainConfig, Trainer};
use tch::{Device, Kind, Tensor};

use crate::support::data_paths;

fn config(kind: ArchKind, depth: usize, width: usize, alpha: f64, t: f64, batch: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        arch: ArchSpec { kind, depth, width, act: Activation::Relu },
        alpha,
        temperature: t,
        batch,
        seed,
        max_steps: 200_000,
        max_wall: Some(120.0),
        dtype: Dtype::F32,
        device: Device::Cpu,
        trajectory: true,
    }
}

fn mnist(p: usize, seed: u64) -> RunData {
    let pool = Pool::load(&sgdnoise_core::datasets::DataSpec::MnistParity, &data_paths())
        .expect("MNIST (run scripts/setup.sh)");
    RunData::from_pool(&pool, p, 2048, seed, 0).unwrap()
}

#[test]
fn stop_is_the_first_step_of_zero_training_loss() {
    tch::set_num_threads(1);
    let data = mnist(128, 3);
    let c = config(ArchKind::Fc, 2, 32, 32768.0, 0.0625, 8, 3);
    let done = train(&c, &data).unwrap();
    assert_eq!(done.status, Status::Converged, "{done:?}");
    assert_eq!(done.train_loss, 0.0);
    assert_eq!(done.unfitted, 0);
    assert!(done.steps > 10);
    assert_eq!(done.t_star, Some(done.steps as f64 * c.dt()));
    // The same run stopped one step earlier has not fitted every point.
    let before = train(&TrainConfig { max_steps: done.steps - 1, ..c.clone() }, &data).unwrap();
    assert_eq!(before.status, Status::StepLimit);
    assert!(before.train_loss > 0.0 && before.unfitted > 0, "{before:?}");
    assert_eq!(before.t_star, None);
    // Stopped by the step limit exactly at t*: the run is converged there.
    let at = train(&TrainConfig { max_steps: done.steps, ..c.clone() }, &data).unwrap();
    assert_eq!((at.status, at.steps, at.train_loss), (Status::Converged, done.steps, 0.0));
    // Few full-set passes were needed to find the stop.
    assert!(done.full_checks < done.steps / 4, "{} checks for {} steps", done.full_checks, done.steps);
}

#[test]
fn same_seed_same_record_other_seed_other_training_set() {
    tch::set_num_threads(1);
    let c = config(ArchKind::Fc, 2, 32, 32768.0, 0.0625, 8, 5);
    let a = train(&c, &mnist(128, 5)).unwrap();
    let b = train(&c, &mnist(128, 5)).unwrap();
    assert_eq!(
        (a.status, a.steps, a.t_star, a.train_err, a.test_err),
        (b.status, b.steps, b.t_star, b.train_err, b.test_err)
    );
    assert_eq!(a.rel_dw, b.rel_dw);
    let d5 = mnist(128, 5);
    let d6 = mnist(128, 6);
    assert_ne!(d5.train_indices, d6.train_indices);
    let overlap = d5.train_indices.iter().filter(|i| d6.train_indices.contains(i)).count();
    assert!(overlap < 20, "training sets of seeds 5 and 6 share {overlap} of 128 points");
    // The test set is fixed by the test seed: no training point is in it.
    let pool = Pool::load(&sgdnoise_core::datasets::DataSpec::MnistParity, &data_paths()).unwrap();
    let (test, _) = pool.split(2048, 0).unwrap();
    assert!(d5.train_indices.iter().all(|i| !test.contains(i)));
}

#[test]
fn unfitted_gradient_does_not_depend_on_alpha() {
    tch::set_num_threads(1);
    let data = mnist(64, 1);
    let grads = |alpha: f64| -> Vec<Tensor> {
        let c = config(ArchKind::Fc, 3, 16, alpha, 0.01, 64, 1);
        let net = sgdnoise_torch::nn::Net::new(c.arch, &data.sample_shape).unwrap();
        let w0 = net.init(1, Kind::Float, Device::Cpu);
        let w: Vec<Tensor> = w0.iter().map(|t| t.copy().set_requires_grad(true)).collect();
        let x = Tensor::from_slice(&data.x_train).reshape([64, 1, 28, 28]);
        let y = Tensor::from_slice(&data.y_train);
        let f0 = tch::no_grad(|| net.forward(&w0, &x));
        // Move the weights a little so f ≠ 0 but every point is still unfitted (α·y·f < 1).
        tch::no_grad(|| {
            for t in &w {
                let _ = t.shallow_clone().g_add_(&(t.randn_like() * 1e-3));
            }
        });
        let f = net.forward(&w, &x) - &f0;
        let margin_max = f64::try_from((&f * &y * alpha).max()).unwrap();
        assert!(margin_max < 1.0, "alpha {alpha}: some point is fitted (max margin {margin_max})");
        let loss = (1.0f64 - &f * &y * alpha).relu().mean(None::<Kind>) / alpha;
        Tensor::run_backward(&[&loss], &w, false, false)
    };
    tch::manual_seed(0);
    let g1 = grads(1.0);
    tch::manual_seed(0);
    let g2 = grads(100.0);
    for (a, b) in g1.iter().zip(&g2) {
        let diff = f64::try_from((a - b).abs().max()).unwrap();
        let scale = f64::try_from(a.abs().max()).unwrap();
        assert!(diff <= 1e-6 * scale.max(1e-12), "gradient changes with alpha: {diff} vs {scale}");
    }
}

#[test]
fn a_diverging_run_is_marked_diverged() {
    tch::set_num_threads(1);
    let data = mnist(256, 0);
    let c = config(ArchKind::Fc, 5, 64, 32768.0, 64.0, 16, 0);
    let r = train(&c, &data).unwrap();
    assert_eq!(r.status, Status::Diverged, "{:?} after {} steps", r.status, r.steps);
    assert_eq!(r.t_star, None);
}

#[test]
fn normalised_activations_have_unit_second_moment() {
    tch::manual_seed(7);
    let z = Tensor::randn([2_000_000], (Kind::Double, Device::Cpu));
    for act in [Activation::Relu, Activation::Gelu] {
        let m = f64::try_from(act.apply(&z).square().mean(None::<Kind>)).unwrap();
        assert!((m - 1.0).abs() < 3e-3, "{}: E[φ²] = {m}", act.name());
    }
}

#[test]
fn perceptron_reports_w1_and_w_perp() {
    tch::set_num_threads(1);
    let data = RunData::depleted(1.0, 16, 256, 4096, 2, 0).unwrap();
    let c = config(ArchKind::Linear, 0, 1, 32768.0, 0.125, 2, 2);
    let r = train(&c, &data).unwrap();
    assert_eq!(r.status, Status::Converged, "{r:?}");
    let (w1, wp) = (r.w1.unwrap(), r.w_perp.unwrap());
    assert!(w1 > 0.0, "the weights must grow along the teacher: w1 = {w1}");
    assert!(((w1 * w1 + wp * wp).sqrt() - r.dw_norm).abs() < 1e-6 * r.dw_norm);
    assert!(r.test_err < 0.2, "test error {}", r.test_err);
    // dt = T·B for the perceptron (h = 1).
    assert_eq!(r.dt, 0.25);
}

#[test]
fn mnas_trains_on_images() {
    tch::set_num_threads(1);
    let data = mnist(32, 0);
    let mut c = config(ArchKind::Mnas, 0, 2, 32768.0, 0.01, 8, 0);
    c.max_steps = 3;
    let r = train(&c, &data).unwrap();
    assert_eq!(r.steps, 3);
    assert!(r.rel_dw > 0.0 && r.rel_dw.is_finite());
    assert_eq!(r.layers.len(), 3 + 4 * 3 + 3);
    let trainer = Trainer::new(&c, &data).unwrap();
    assert_eq!(trainer.train_stats().unwrap().loss, 1.0 / 32768.0, "f = 0 at init: every point has loss 1/α");
}

#[test]
fn float64_runs_and_agrees_with_float32() {
    tch::set_num_threads(1);
    let data = RunData::depleted(0.0, 8, 128, 1024, 4, 0).unwrap();
    let c32 = config(ArchKind::Linear, 0, 1, 32768.0, 0.125, 2, 4);
    let c64 = TrainConfig { dtype: Dtype::F64, ..c32.clone() };
    let a = train(&c32, &data).unwrap();
    let b = train(&c64, &data).unwrap();
    assert_eq!(a.status, Status::Converged);
    assert_eq!(b.status, Status::Converged);
    let rel = (a.rel_dw - b.rel_dw).abs() / b.rel_dw;
    assert!(rel < 0.05, "f32 and f64 runs differ: {} vs {}", a.rel_dw, b.rel_dw);
}

#[test]
fn perceptron_rust_path_matches_the_libtorch_path() {
    tch::set_num_threads(1);
    for (chi, t) in [(0.0, 0.125), (3.0, 0.03125)] {
        let data = RunData::depleted(chi, 16, 128, 1024, 3, 0).unwrap();
        let c = TrainConfig { dtype: Dtype::F64, ..config(ArchKind::Linear, 0, 1, 32768.0, t, 2, 3) };
        let fast = train(&c, &data).unwrap();
        let torch = sgdnoise_torch::nn::train_with_libtorch(&c, &data).unwrap();
        assert_eq!(fast.status, Status::Converged);
        assert_eq!((fast.status, fast.steps), (torch.status, torch.steps), "chi {chi}");
        assert!((fast.rel_dw - torch.rel_dw).abs() < 1e-9 * torch.rel_dw, "{} vs {}", fast.rel_dw, torch.rel_dw);
        assert_eq!(fast.test_err, torch.test_err);
        assert!((fast.w0_norm - torch.w0_norm).abs() < 1e-9 * torch.w0_norm);
        assert!((fast.w1.unwrap() - torch.w1.unwrap()).abs() < 1e-9 * fast.dw_norm);
    }
}

#[test]
fn hand_written_fc_step_matches_autograd() {
    tch::set_num_threads(1);
    let data = mnist(128, 7);
    // ReLU (factors folded to the output), GELU (scaled per layer), and float64.
    for (act, dtype, t) in [
        (Activation::Relu, Dtype::F32, 0.0625),
        (Activation::Gelu, Dtype::F32, 0.0625),
        (Activation::Relu, Dtype::F64, 0.125),
    ] {
        let mut c = config(ArchKind::Fc, 3, 32, 32768.0, t, 8, 7);
        c.arch.act = act;
        c.dtype = dtype;
        // libtorch's hand-written step (the GPU's): autograd's products, so the same steps.
        let fast = sgdnoise_torch::nn::train_with_libtorch(&c, &data).unwrap();
        let reference = sgdnoise_torch::nn::train_with_autograd(&c, &data).unwrap();
        let what = format!("{act:?} {dtype:?}");
        // The CPU's own step (float32): the same dynamics, rounded its own way, so a run that
        // ends a few steps apart, having moved as far and learnt as much.
        if dtype == Dtype::F32 {
            let ours = train(&c, &data).unwrap();
            assert_eq!(ours.status, Status::Converged, "{what}");
            let apart = (ours.steps as f64 - reference.steps as f64).abs() / reference.steps as f64;
            assert!(apart < 0.1, "{what}: {} vs {} steps", ours.steps, reference.steps);
            assert!((ours.rel_dw - reference.rel_dw).abs() < 0.05 * reference.rel_dw, "{what}");
            assert!((ours.test_err - reference.test_err).abs() < 0.03, "{what}");
        }
        assert_eq!(fast.status, Status::Converged, "{what}");
        assert_eq!(
            (fast.status, fast.steps, fast.updates),
            (reference.status, reference.steps, reference.updates),
            "{what}"
        );
        assert!(0 < fast.updates && fast.updates < fast.steps, "{what}: {} updates", fast.updates);
        assert!(
            (fast.rel_dw - reference.rel_dw).abs() < 1e-4 * reference.rel_dw,
            "{what}: {} vs {}",
            fast.rel_dw,
            reference.rel_dw
        );
        assert!((fast.test_err - reference.test_err).abs() < 2e-3, "{what}");
        assert_eq!(fast.trajectory.last().map(|p| p.step), Some(fast.steps), "{what}");
        assert_eq!(fast.trajectory.len(), reference.trajectory.len(), "{what}");
    }
}

/// A record as a stored output holds it: without its clocks.
fn stored(r: &RunRecord) -> String {
    serde_json::to_string(&RunRecord { timing: None, ..r.clone() }).unwrap()
}

#[test]
fn fc_runs_on_the_cpu_are_the_same_bits_on_every_instruction_path() {
    // AVX-512 and AVX2 with fused multiply-adds, and one element at a time with software ones:
    // the same chains in the same order, so the same record, trajectory and weights' movement
    // included.
    // Widths not a multiple of 16 take the partial panels and the edges of every product.
    let data = mnist(96, 11);
    for (act, alpha, t, depth, width) in
        [(Activation::Relu, 32768.0, 0.0625, 3, 24), (Activation::Gelu, 1.0, 0.004, 2, 20)]
    {
        let mut c = config(ArchKind::Fc, depth, width, alpha, t, 8, 11);
        c.arch.act = act;
        c.max_wall = None;
        c.max_steps = 1500;
        let paths = Path::available();
        if std::arch::is_x86_feature_detected!("avx512f") {
            assert_eq!(paths, [Path::Portable, Path::Fma256, Path::Fma512]);
        } else if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            assert_eq!(paths, [Path::Portable, Path::Fma256]);
        }
        let records: Vec<RunRecord> = paths.iter().map(|&p| train_fc_cpu(&c, &data, p).unwrap()).collect();
        let first = &records[0];
        assert!(first.updates > 20 && first.trajectory.len() > 5, "{act:?}: {first:?}");
        for (path, r) in paths.iter().zip(&records) {
            assert_eq!(stored(r), stored(first), "{act:?}: {path:?} differs from {:?}", paths[0]);
        }
        assert_eq!(stored(&train(&c, &data).unwrap()), stored(first), "{act:?}: train()");
    }
}

#[test]
fn one_thread_full_passes_have_the_steps_rounding() {
    // The stop check trusts that, for ReLU nets on one CPU thread, a training point's output has
    // the same bits in a pass over the whole set as in a batch of B rows (the steps' products). If
    // a libtorch or MKL update breaks this, train_margins must evaluate in batches there too.
    // (GELU nets and more threads always evaluate in batches.)
    tch::set_num_threads(1);
    let data = mnist(200, 4);
    let c = config(ArchKind::Fc, 3, 64, 32768.0, 0.0625, 16, 4);
    let mut trainer = Trainer::new(&c, &data).unwrap();
    tch::no_grad(|| {
        for w in trainer.weights_mut() {
            let _ = w.g_add_(&(w.randn_like() * 0.05));
        }
    });
    let full = trainer.train_margins();
    let batched = trainer.train_margins_in_batches();
    assert_eq!(full.size(), [200]);
    let differ = i64::try_from(full.ne_tensor(&batched).sum(tch::Kind::Int64)).unwrap();
    assert_eq!(differ, 0, "{differ} of 200 margins differ between the two passes");
    // Not trivially equal: the weights moved away from w0.
    let nonzero = i64::try_from(full.ne(0.0).sum(tch::Kind::Int64)).unwrap();
    assert_eq!(nonzero, 200);
}

#[test]
fn batched_replicas_match_their_single_runs() {
    tch::set_num_threads(1);
    // Different seeds (so data, init, batches), temperatures and α; one diverges.
    let settings = [(0u64, 0.0625, 32768.0), (1, 0.125, 32768.0), (2, 0.03125, 1.0), (3, 64.0, 32768.0)];
    let pool = Pool::load(&sgdnoise_core::datasets::DataSpec::MnistParity, &data_paths()).unwrap();
    let (test, rest) = pool.split(1024, 0).unwrap();
    let data: Vec<RunData> =
        settings.iter().map(|s| RunData::from_split(&pool, &test, &rest, 128, s.0).unwrap()).collect();
    let configs: Vec<TrainConfig> =
        settings.iter().map(|&(seed, t, alpha)| config(ArchKind::Fc, 3, 32, alpha, t, 8, seed)).collect();
    let runs: Vec<(TrainConfig, &RunData)> = configs.iter().cloned().zip(data.iter()).collect();
    // On the CPU in float32 replicas are single runs through the CPU's own step: bit for bit.
    let mut replicas: Vec<Option<RunRecord>> = vec![None; runs.len()];
    sgdnoise_torch::nn::replicas::train_replicas(&runs, &mut |i, r| replicas[i] = Some(r)).unwrap();
    for (i, (c, d)) in runs.iter().enumerate() {
        assert_eq!(stored(replicas[i].as_ref().unwrap()), stored(&train(c, d).unwrap()), "replica {i}");
    }
    // libtorch's batched replicas (the GPU's way) match libtorch's single runs up to rounding.
    let mut batched: Vec<Option<RunRecord>> = vec![None; runs.len()];
    sgdnoise_torch::nn::replicas::train_replicas_batched(&runs, &mut |i, r| batched[i] = Some(r)).unwrap();
    for (i, (c, d)) in runs.iter().enumerate() {
        let single = sgdnoise_torch::nn::train_with_libtorch(c, d).unwrap();
        let b = batched[i].as_ref().unwrap();
        assert_eq!((b.status, b.steps), (single.status, single.steps), "replica {i}");
        if single.status == Status::Converged {
            assert!(
                (b.rel_dw - single.rel_dw).abs() < 1e-4 * single.rel_dw,
                "replica {i}: {} vs {}",
                b.rel_dw,
                single.rel_dw
            );
            assert_eq!(b.train_loss, 0.0);
            assert!((b.test_err - single.test_err).abs() < 2e-3, "replica {i}");
            assert_eq!(b.trajectory.len(), single.trajectory.len());
        }
    }
    assert!(batched.iter().any(|b| b.as_ref().unwrap().status == Status::Diverged));
    // Incompatible runs are refused with a reason.
    let other = config(ArchKind::Fc, 2, 32, 32768.0, 0.1, 8, 0);
    let err = sgdnoise_torch::nn::replicas::train_replicas(
        &[(configs[0].clone(), &data[0]), (other, &data[1])],
        &mut |_, _| {},
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid training configuration: replicas must share the architecture, batch size, dtype and device"
    );
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // The two-thread run is the command in its own process: the thread count is global to a
    // process, and other tests run beside this one.
    tch::set_num_threads(1);
    let data = mnist(256, 2);
    let c = config(ArchKind::Fc, 3, 64, 32768.0, 0.0625, 16, 2);
    let one = train(&c, &data).unwrap();
    let out = crate::support::sgdnoise(&[
        "train",
        "--arch",
        "fc",
        "--depth",
        "3",
        "--width",
        "64",
        "--alpha",
        "32768",
        "--P",
        "256",
        "--T",
        "0.0625",
        "--batch",
        "16",
        "--seed",
        "2",
        "--test-size",
        "2048",
        "--test-seed",
        "0",
        "--threads",
        "2",
        "--json",
    ]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let two: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((one.status, two["status"].as_str()), (Status::Converged, Some("converged")));
    // The CPU's own float32 step sums in its own fixed order on one thread whatever the thread
    // count: the same record.
    assert_eq!(two["steps"].as_u64(), Some(one.steps));
    assert_eq!(two["updates"].as_u64(), Some(one.updates));
    for (field, value) in [("rel_dw", one.rel_dw), ("w0_norm", one.w0_norm), ("test_err", one.test_err)] {
        assert_eq!(two[field].as_f64(), Some(value), "{field}");
    }
    assert_eq!(two["threads"].as_u64(), Some(2));
}

#[test]
fn perceptron_fast_margins_are_bitwise_the_straightforward_loop() {
    use sgdnoise_torch::nn::perceptron::{train_perceptron_counted, train_perceptron_with, FilterUse, Strategy};
    // Blocked margins, prefetch, side-by-side dot products and the margin filter change speed
    // only: every field of the record but the clocks must have the same bits as one dot product
    // at a time.
    let without_clocks = |r: &sgdnoise_core::run::RunRecord| {
        let mut v = serde_json::to_value(r).unwrap();
        for k in ["wall_s", "steps_per_s", "check_wall_s"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let cases = [
        (0.0, 16, 512, 0.0625, 2, Dtype::F32),
        (1.0, 128, 2048, 0.0625, 2, Dtype::F32),
        (3.0, 32, 1024, 0.03125, 3, Dtype::F32),
        (0.0, 20, 256, 0.25, 5, Dtype::F64),
        (0.0, 64, 2048, 0.0625, 2, Dtype::F32),
        (0.0, 32, 1024, 0.001953125, 2, Dtype::F64),
    ];
    let mut filtered = 0;
    for (chi, d, p, t, batch, dtype) in cases {
        let data = RunData::depleted(chi, d, p, 512, 1, 0).unwrap();
        let mut c = config(ArchKind::Linear, 0, 1, 32768.0, t, batch, 1);
        c.dtype = dtype;
        c.max_steps = 100_000_000;
        let fast = train_perceptron_with(&c, &data, Strategy::FAST);
        let plain = train_perceptron_with(&c, &data, Strategy::ONE_AT_A_TIME);
        // The filter through the whole run (FAST switches it by measured costs, so whether it
        // runs there depends on the machine).
        let always = Strategy { filter: FilterUse::Always, ..Strategy::FAST };
        let (filtered_run, filter) = train_perceptron_counted(&c, &data, always);
        let what = format!("chi {chi} d {d} P {p} B {batch} {dtype:?}: {filter:?}");
        assert_eq!(without_clocks(&filtered_run), without_clocks(&plain), "{what}");
        if filter.steps > fast.steps / 2 {
            // Where the filter ran most of the run, it proved batch points fitted without
            // reading them.
            assert!(filter.activations == 1 && filter.skipped > filter.read && filter.refreshes > 0, "{what}");
            filtered += 1;
        }
        assert_eq!(fast.status, Status::Converged, "{what}");
        assert!(fast.updates > 10 && fast.updates < fast.steps, "{what}: {} updates", fast.updates);
        assert_eq!(without_clocks(&fast), without_clocks(&plain), "{what}");
        // A step limit inside a block stops at the same step too.
        let mut short = c.clone();
        short.max_steps = fast.steps / 2 + 3;
        let a = train_perceptron_with(&short, &data, Strategy::FAST);
        let b = train_perceptron_with(&short, &data, Strategy::ONE_AT_A_TIME);
        assert_eq!((a.status, a.steps), (Status::StepLimit, short.max_steps), "{what}");
        assert_eq!(without_clocks(&a), without_clocks(&b), "{what}");
    }
    // The filter ran most of the long runs (f32 and f64), so the equality above covers it.
    assert!(filtered >= 4, "the margin filter ran most of {filtered} runs");
}

#[test]
fn perceptron_fused_small_d_loop_is_bitwise_the_blocked_loop() {
    use sgdnoise_torch::nn::perceptron::{train_perceptron_counted, train_perceptron_with, FilterUse, Strategy};
    // The fused loop for d ≤ 32 (d = 16 and 32 compiled for their size, others not) takes the
    // quiet steps between updates, checks, trajectory points and wall-clock reads: every field of
    // the record but the clocks must have the same bits as the blocked loop and as one dot
    // product at a time, whatever d, χ, B, dtype, and with or without a trajectory or a wall limit.
    let without_clocks = |r: &sgdnoise_core::run::RunRecord| {
        let mut v = serde_json::to_value(r).unwrap();
        for k in ["wall_s", "steps_per_s", "check_wall_s"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let mut cases = Vec::new();
    for d in [5, 16, 20, 32] {
        for (chi, batch, dtype) in
            [(0.0, 2, Dtype::F32), (1.0, 5, Dtype::F64), (0.0, 5, Dtype::F64), (1.0, 2, Dtype::F32)]
        {
            cases.push((d, chi, batch, dtype, true, Some(120.0)));
        }
    }
    // No trajectory, no wall limit: only the step limit bounds a stretch.
    cases.push((16, 0.0, 2, Dtype::F32, false, None));
    cases.push((32, 1.0, 3, Dtype::F64, false, Some(120.0)));
    let mut filtered_runs = 0;
    for (d, chi, batch, dtype, trajectory, max_wall) in cases {
        let data = RunData::depleted(chi, d, 512, 512, 2, 0).unwrap();
        let mut c = config(ArchKind::Linear, 0, 1, 32768.0, 0.0625, batch, 2);
        (c.dtype, c.trajectory, c.max_wall, c.max_steps) = (dtype, trajectory, max_wall, 20_000_000);
        let what = format!("d {d} chi {chi} B {batch} {dtype:?} trajectory {trajectory} wall {max_wall:?}");
        let fused = train_perceptron_with(&c, &data, Strategy::FAST);
        let blocked = train_perceptron_with(&c, &data, Strategy::BLOCKED);
        let plain = train_perceptron_with(&c, &data, Strategy::ONE_AT_A_TIME);
        assert_eq!(fused.status, Status::Converged, "{what}");
        // Most steps quiet: the fused loop took them.
        assert!(fused.updates > 10 && fused.updates * 2 < fused.steps, "{what}: {} updates", fused.updates);
        assert_eq!(without_clocks(&fused), without_clocks(&blocked), "{what}");
        assert_eq!(without_clocks(&fused), without_clocks(&plain), "{what}");
        // With the margin filter on from step 4096: the fused loop skips the points it proves fitted.
        let always = Strategy { filter: FilterUse::Always, ..Strategy::FAST };
        let (filtered, filter) = train_perceptron_counted(&c, &data, always);
        if fused.steps > 8192 {
            assert!(filter.steps > 0 && filter.skipped > 0, "{what}: {filter:?}");
            filtered_runs += 1;
        }
        assert_eq!(without_clocks(&filtered), without_clocks(&plain), "{what}");
        // A step limit inside a quiet stretch stops at the same step and weights.
        for max_steps in [fused.steps / 2 + 3, fused.steps - 1] {
            let short = TrainConfig { max_steps, ..c.clone() };
            let a = train_perceptron_with(&short, &data, Strategy::FAST);
            let b = train_perceptron_with(&short, &data, Strategy::ONE_AT_A_TIME);
            assert_eq!((a.status, a.steps), (Status::StepLimit, max_steps), "{what}");
            assert_eq!(without_clocks(&a), without_clocks(&b), "{what}");
        }
    }
    assert!(filtered_runs >= 6, "the filter ran in {filtered_runs} runs");
    // Batches of nearly all the points (P = 27, B = 25 and 27): almost no step is quiet; P is no
    // multiple of 8, the rows a full check takes eight at a time.
    for batch in [25, 27] {
        let data = RunData::depleted(0.0, 16, 27, 64, 3, 0).unwrap();
        let c = config(ArchKind::Linear, 0, 1, 32768.0, 0.0625, batch, 3);
        let fused = train_perceptron_with(&c, &data, Strategy::FAST);
        let plain = train_perceptron_with(&c, &data, Strategy::ONE_AT_A_TIME);
        assert_eq!(fused.status, Status::Converged, "B {batch}");
        assert_eq!(without_clocks(&fused), without_clocks(&plain), "B {batch}");
    }
}

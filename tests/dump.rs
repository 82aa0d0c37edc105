//! `stats --dump DIR` writes the three documented safetensors files, with
//! the executor's exact values.

use crate::{options, run};
use depthlab::commands::{Format, StatsOutput, load_spec, stats};
use depthlab::spec::Overrides;
use safetensors::{Dtype, SafeTensors};

fn floats(st: &SafeTensors, name: &str, shape: &[usize]) -> Vec<f32> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    assert_eq!(t.shape(), shape, "{name}");
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn dump_holds_weights_probe_and_gradients() {
    let net = "input 6; dense 5 prelu; dense 4 srelu; dense 3; train seed=9";
    let dir = std::env::temp_dir().join(format!("depthlab-dump-{}", std::process::id()));
    let spec = load_spec(None, Some(net), &Overrides::default()).unwrap();
    stats(&spec, &options(7), None, &dump_to(&dir, Format::Table)).unwrap();
    let exec = run(net, 7);
    let plan = exec.plan();

    let bytes = std::fs::read(dir.join("weights.safetensors")).unwrap();
    let w = SafeTensors::deserialize(&bytes).unwrap();
    let shapes = [(5, 6), (4, 5), (3, 4)];
    for (l, &(units, fan_in)) in shapes.iter().enumerate() {
        let i = l + 1;
        assert_eq!(
            floats(&w, &format!("W{i}"), &[units, fan_in]),
            exec.buf(plan.layers[l].w)
        );
        assert_eq!(
            floats(&w, &format!("b{i}"), &[units]),
            exec.buf(plan.layers[l].b)
        );
    }
    assert_eq!(floats(&w, "prelu1", &[5]), vec![0.25; 5]);
    assert_eq!(
        floats(&w, "srelu2", &[4, 4]),
        [[0.0; 4], [0.2; 4], [1.0; 4], [1.0; 4]].concat()
    );
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().as_ref().unwrap();
    assert_eq!(meta["loss"], "cross_entropy");
    assert_eq!(
        meta["activations"],
        r#"["prelu(init=0.25)","srelu(tl=0,al=0.2,tr=1,ar=1)","identity"]"#
    );

    let bytes = std::fs::read(dir.join("probe.safetensors")).unwrap();
    let p = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(floats(&p, "x", &[7, 6]), exec.buf(plan.x));
    let y = p.tensor("y").unwrap();
    assert_eq!((y.dtype(), y.shape()), (Dtype::I64, &[7usize][..]));
    let labels: Vec<i64> = y
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert!(labels.iter().all(|&c| (0..3).contains(&c)));
    assert_eq!(
        labels.iter().map(|&c| c as f32).collect::<Vec<_>>(),
        exec.buf(plan.y)
    );

    let bytes = std::fs::read(dir.join("grads.safetensors")).unwrap();
    let g = SafeTensors::deserialize(&bytes).unwrap();
    for (l, &(units, fan_in)) in shapes.iter().enumerate() {
        let (i, b) = (l + 1, &plan.layers[l]);
        assert_eq!(
            floats(&g, &format!("dW{i}"), &[units, fan_in]),
            exec.buf(b.dw)
        );
        assert_eq!(floats(&g, &format!("db{i}"), &[units]), exec.buf(b.db));
        assert_eq!(
            floats(&g, &format!("delta{i}"), &[7, units]),
            exec.buf(b.delta)
        );
        assert_eq!(floats(&g, &format!("a{i}"), &[7, units]), exec.buf(b.a));
    }
    assert_eq!(floats(&g, "dprelu1", &[5]), exec.buf(plan.layers[0].dp));
    assert_eq!(floats(&g, "dsrelu2", &[4, 4]), exec.buf(plan.layers[1].dp));
    assert_eq!(floats(&g, "loss", &[1]), [exec.loss() as f32]);
    // Written through temporary names: nothing else is left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grads.safetensors",
            "probe.safetensors",
            "weights.safetensors"
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn regression_targets_are_f32_rows() {
    let net = "input 3; dense 4 tanh; dense 2; loss mse";
    let dir = std::env::temp_dir().join(format!("depthlab-dump-mse-{}", std::process::id()));
    let spec = load_spec(None, Some(net), &Overrides::default()).unwrap();
    stats(&spec, &options(5), None, &dump_to(&dir, Format::Json)).unwrap();
    let bytes = std::fs::read(dir.join("probe.safetensors")).unwrap();
    let p = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(floats(&p, "y", &[5, 2]).len(), 10);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `stats` output in `format` with the `--dump` files written to `dir`.
fn dump_to(dir: &std::path::Path, format: Format) -> StatsOutput {
    StatsOutput {
        format,
        hist: None,
        dump: Some(dir.to_path_buf()),
        svg: None,
    }
}

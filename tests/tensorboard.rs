//! `train --tensorboard DIR` writes event files whose framing (lengths and
//! masked CRC-32Cs) is valid and whose events hold the run's numbers.

use depthlab::report::tensorboard::{Event, Kind, What, masked_crc};
use prost::Message;
use std::collections::BTreeMap;
use std::process::Command;

/// The events of one file, checking every record's framing.
fn read_events(bytes: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = &bytes[at..at + 8];
        let len = u64::from_le_bytes(header.try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        assert_eq!(crc, masked_crc(header), "length CRC at byte {at}");
        let data = &bytes[at + 12..at + 12 + len];
        let crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
        assert_eq!(crc, masked_crc(data), "data CRC at byte {at}");
        events.push(Event::decode(data).expect("an Event"));
        at += 16 + len;
    }
    assert_eq!(at, bytes.len(), "no partial record at the end");
    events
}

#[test]
fn crc32c_is_the_castagnoli_crc() {
    // The check value of CRC-32C (RFC 3720) and TensorFlow's masking.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(
        masked_crc(b""),
        0u32.rotate_right(15).wrapping_add(0xa282_ead8)
    );
}

#[test]
fn event_files_hold_the_runs_scalars_and_histograms() {
    let dir = std::env::temp_dir().join(format!("depthlab-tb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tb = dir.join("tb");
    let o = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args([
            "train",
            "--net",
            "input 2; dense 16 relu x2; dense 3; data spirals; optim adam lr=0.01; train epochs=3 batch=32 seed=1",
            "--stats-every",
            "31",
            "-q",
            "--out",
        ])
        .arg(&dir)
        .arg("--tensorboard")
        .arg(&tb)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files: Vec<_> = std::fs::read_dir(&tb)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("events.out.tfevents.")
    );
    let events = read_events(&std::fs::read(&files[0]).unwrap());
    assert_eq!(
        events[0].what,
        Some(What::FileVersion("brain.Event:2".into()))
    );

    // (tag, step) → scalar, and the histogram tags.
    let mut scalars = BTreeMap::new();
    let mut histograms = BTreeMap::new();
    for e in &events[1..] {
        let Some(What::Summary(s)) = &e.what else {
            panic!("a summary event")
        };
        for v in &s.value {
            match &v.kind {
                Some(Kind::SimpleValue(x)) => {
                    scalars.insert((v.tag.clone(), e.step), *x);
                }
                Some(Kind::Histo(h)) => {
                    let total: f64 = h.bucket.iter().sum();
                    assert_eq!(total, h.num, "{}: every value in a bucket", v.tag);
                    assert_eq!(h.bucket.len(), h.bucket_limit.len());
                    histograms.insert((v.tag.clone(), e.step), h.num);
                }
                None => panic!("a value without a kind"),
            }
        }
    }
    // The epochs' numbers, as epochs.csv has them (f32 in the events).
    let csv = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
    for row in csv.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        let step: i64 = cells[1].parse().unwrap();
        let at = |tag: &str| scalars[&(tag.to_owned(), step)] as f64;
        for (tag, cell) in [
            ("loss/train", 3),
            ("accuracy/train", 4),
            ("loss/test", 5),
            ("accuracy/test", 6),
            ("lr", 2),
        ] {
            let want: f64 = cells[cell].parse().unwrap();
            assert_eq!(at(tag), want as f32 as f64, "{tag} at step {step}");
        }
    }
    // Per-layer scalars and histograms at every measurement (steps 0, 31,
    // 62, 93), as stats.jsonl has them.
    let jsonl = std::fs::read_to_string(dir.join("stats.jsonl")).unwrap();
    for line in jsonl.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let step = v["step"].as_i64().unwrap();
        for l in 1..=3 {
            let std = v["layers"][l - 1]["delta"]["std"].as_f64().unwrap();
            assert_eq!(scalars[&(format!("layer{l}/delta_std"), step)], std as f32);
            for kind in ["activations", "delta", "weights"] {
                assert!(
                    histograms.contains_key(&(format!("layer{l}/{kind}"), step)),
                    "layer{l}/{kind} at {step}"
                );
            }
            if step > 0 {
                let u = v["layers"][l - 1]["update_ratio"].as_f64().unwrap();
                assert_eq!(scalars[&(format!("layer{l}/update_ratio"), step)], u as f32);
            }
        }
        assert!(scalars.contains_key(&("layer1/dead_fraction".to_owned(), step)));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

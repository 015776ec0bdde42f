//! The benchmark harness works end to end at its `--quick` scale. Figures are
//! printed, never asserted: this only proves every stage ran and stored everything.

use serde_json::Value;

use crate::common::TestDb;

#[tokio::test]
async fn quick_benchmark_runs_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let db = TestDb::fresh(dir.path().join("unused")).await;
    let mut bench = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    bench
        .args(["bench", "--quick", "--repeat", "2", "--out"])
        .arg(&out);
    if let TestDb::Postgres(url) = &db {
        bench.args(["--database-url", url]);
    }
    let run = bench.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("Rollcall benchmark"), "{stdout}");
    let figures: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let scale = &figures["scale"];
    let ingest = figures["ingest"].as_array().unwrap();
    assert_eq!(
        ingest[0]["items"], scale["usageEvents"],
        "every usage event accepted"
    );
    let per_computer =
        scale["activityRecords"].as_u64().unwrap() / scale["computers"].as_u64().unwrap();
    assert_eq!(
        ingest[1]["items"].as_u64().unwrap(),
        per_computer * scale["computers"].as_u64().unwrap(),
        "every activity record accepted"
    );
    let reports = figures["reports"].as_array().unwrap();
    // The first round's 11 questions, then every insight under every filter
    // (issue 18 #1), 8 of them asked by a viewer limited to a group and two apps.
    assert_eq!(reports.len(), 28, "{reports:?}");
    let viewers = reports
        .iter()
        .filter(|r| r["name"].as_str().unwrap().ends_with(", viewer"))
        .count();
    assert_eq!(viewers, 8, "{reports:?}");
    assert!(reports
        .iter()
        .all(|r| r["calls"] == 2 && r["p50Ms"].as_f64().unwrap() > 0.0));
    assert_eq!(
        ingest[3]["items"], ingest[1]["items"],
        "every record accepted again under the privacy policy"
    );
    assert_eq!(
        figures["cursorScan"]["items"].as_u64().unwrap(),
        2 * ingest[1]["items"].as_u64().unwrap(),
        "the cursor scan sees every record"
    );
    assert!(
        ingest[4]["name"]
            .as_str()
            .unwrap()
            .starts_with("Segment /v1/batch")
            && ingest[4]["items"].as_u64().unwrap() > 0,
        "the tracking API's figure: {ingest:?}"
    );
    assert!(figures["serverPeakRssMb"].as_f64().unwrap() > 1.0);
    assert!(figures["diskBytesPerUsageEvent"].as_f64().unwrap() > 0.0);
    assert!(figures["diskBytesPerActivityRecord"].is_f64(), "{figures}");
}

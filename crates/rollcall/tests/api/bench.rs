//! The benchmark harness works end to end at its `--quick` scale, which also
//! streams its bodies, times the reports while ingest runs and adds small
//! accounts. Figures are printed, never asserted: this only proves every stage
//! ran and stored everything.

use serde_json::Value;

use crate::common::TestDb;

#[tokio::test]
async fn quick_benchmark_runs_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let events_csv = dir.path().join("events.csv");
    let db = TestDb::fresh(dir.path().join("unused")).await;
    let mut bench = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    bench
        .args(["bench", "--quick", "--repeat", "2", "--out"])
        .arg(&out)
        .arg("--export-events")
        .arg(&events_csv);
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
    assert!(figures["serverCpuUsPerUsageEvent"].as_f64().unwrap() > 0.0);
    assert!(figures["harnessPeakRssMb"].as_f64().unwrap() > 1.0);

    // The exported events are the pushed ones.
    let csv = std::fs::read_to_string(&events_csv).unwrap();
    assert_eq!(csv.lines().next(), Some("app,timestamp_ms,email,event"));
    assert_eq!(
        Value::from(csv.lines().count() - 1),
        scale["usageEvents"],
        "one row per usage event"
    );

    // Ingest held its rate (issue 18 #3): both tenths measured, usage and activity.
    let steadiness = figures["steadiness"].as_array().unwrap();
    assert_eq!(steadiness.len(), 2, "{steadiness:?}");
    assert!(steadiness.iter().all(|s| {
        s["firstTenthPerSecond"].as_f64().unwrap() > 0.0
            && s["lastTenthPerSecond"].as_f64().unwrap() > 0.0
    }));

    // Reports while ingesting (issue 18 #2): both paced ingests acknowledged
    // fresh items, and every question was timed again beside them.
    let loaded = &figures["loaded"];
    let paced = loaded["ingest"].as_array().unwrap();
    assert_eq!(paced.len(), 2, "{loaded}");
    assert!(
        paced
            .iter()
            .all(|p| p["targetPerSecond"].as_f64().unwrap() > 0.0
                && p["items"].as_u64().unwrap() > 0),
        "{loaded}"
    );
    let compared = loaded["reports"].as_array().unwrap();
    assert_eq!(compared.len(), reports.len(), "{loaded}");
    assert!(compared.iter().all(
        |r| r["loadedP50Ms"].as_f64().unwrap() > 0.0 && r["quietP50Ms"].as_f64().unwrap() > 0.0
    ));

    // A thousand tenants, in small (issue 18 #4): every usage question of the
    // first-round and filter sets, answered for the large, first and last account.
    let tenants = &figures["tenants"];
    assert_eq!(tenants["tenants"], 3, "{tenants}");
    let asked = tenants["reports"].as_array().unwrap();
    assert_eq!(asked.len(), 15, "{tenants}");
    assert!(
        asked.iter().all(
            |r| ["everyTenantP50Ms", "largeP50Ms", "firstP50Ms", "lastP50Ms"]
                .iter()
                .all(|k| r[*k].as_f64().unwrap() > 0.0)
        ),
        "{tenants}"
    );
    assert!(tenants["serverRssMb"].as_f64().unwrap() > 1.0);
    assert!(figures["diskBytesPerActivityRecord"].is_f64(), "{figures}");
}

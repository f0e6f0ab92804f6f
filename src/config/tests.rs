//! The configuration's tests: loading, layering, and each section's checks.

use super::*;

fn load_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::load(Some(Path::new("/dev/null")), env, &Overrides::default())
}

#[test]
fn debug_redacts_secrets() {
    let mut c = Config {
        secret_key: Some("ab".repeat(32)),
        database_url: "postgres://u:hunter2@h/db".into(),
        ..Config::default()
    };
    c.node.macaroon = Some("0201036c6e6402f801".into());
    let shown = format!("{c:?}");
    assert!(!shown.contains(&"ab".repeat(32)), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("0201036c6e64"), "{shown}");
    assert!(shown.contains("public_url"));
}

#[test]
fn refusals_name_the_key_and_where_it_was_given() {
    let e = load_env(&[("LNURLD_NODE__KIND", "LND")]).unwrap_err();
    assert_eq!(e.key, "node.kind");
    let shown = e.to_string();
    assert!(
        shown.starts_with("config: node.kind (env LNURLD_NODE__KIND): "),
        "{shown}"
    );
    assert!(shown.contains("LND"), "{shown}");
    let e = load_env(&[("LNURLD_WITHDRAW__MAX_FEE_PPM", "ten")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config: withdraw.max_fee_ppm (env LNURLD_WITHDRAW__MAX_FEE_PPM): \"ten\" is not a whole number"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lnurld.toml");
    let from_file = |text: &str| {
        std::fs::write(&file, text).unwrap();
        Config::load(Some(&file), Vec::new(), &Overrides::default()).unwrap_err()
    };
    let shown_file = file.display().to_string();
    let e = from_file("listen = \"127.0.0.1:9000\"\n\n[node]\nkind = \"LND\"\n");
    assert_eq!(e.key, "node.kind");
    assert_eq!(
        e.origin.as_deref(),
        Some(format!("{shown_file} line 4").as_str())
    );
    let e = from_file("[withdraw]\nmax_fee_ppm = \"ten\"\n");
    assert_eq!(e.key, "withdraw.max_fee_ppm");
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = from_file("[node]\ncolour = \"red\"\n");
    assert_eq!(e.key, "node.colour");
    assert!(e.problem.contains("unknown field"), "{e}");
    assert!(!e.to_string().contains("config: config"), "{e}");
    // A value valid in type but refused by the checks: its line too.
    let e = from_file("public_url = \"http://pay.example.com\"\n");
    assert_eq!(e.key, "public_url");
    assert!(e.to_string().contains("line 1"), "{e}");
    // Flags are named as flags.
    let flags = Overrides {
        public_url: Some("http://10.0.0.1".into()),
        ..Overrides::default()
    };
    let e = Config::load(Some(Path::new("/dev/null")), Vec::new(), &flags).unwrap_err();
    assert_eq!(e.origin.as_deref(), Some("--public-url"));

    // All of the missing LND keys at once.
    let e = load_env(&[("LNURLD_NODE__KIND", "lnd")]).unwrap_err();
    for key in ["node.endpoint", "node.tls_cert", "node.macaroon"] {
        assert!(e.problem.contains(key), "{e}");
    }
    assert!(e.to_string().contains("env LNURLD_NODE__KIND"), "{e}");
}

#[test]
fn public_url_follows_listen_unless_given() {
    let listen = |l: &str, url: Option<&str>| {
        let flags = Overrides {
            listen: Some(l.parse().unwrap()),
            public_url: url.map(str::to_owned),
            ..Overrides::default()
        };
        Config::load(Some(Path::new("/dev/null")), Vec::new(), &flags).unwrap()
    };
    let c = listen("127.0.0.1:44473", None);
    assert_eq!(c.public_url, "http://127.0.0.1:44473");
    assert!(c.warnings(true).is_empty(), "{:?}", c.warnings(true));
    assert_eq!(listen("[::1]:9000", None).public_url, "http://[::1]:9000");
    // Given, on this machine, on another port: allowed, with a warning.
    let c = listen("127.0.0.1:44473", Some("http://127.0.0.1:8080"));
    assert_eq!(c.public_url, "http://127.0.0.1:8080");
    assert!(
        c.warnings(true)[0].contains("127.0.0.1:44473"),
        "{:?}",
        c.warnings(true)
    );
    // Behind a proxy: no warning whatever the ports.
    let c = listen("127.0.0.1:44473", Some("https://pay.example.com"));
    assert!(c.warnings(true).is_empty(), "{:?}", c.warnings(true));
    // On every interface, with nothing given: only this machine can
    // follow the links, and the start says so.
    let c = listen("0.0.0.0:7000", None);
    assert_eq!(c.public_url, "http://127.0.0.1:7000");
    assert!(
        c.warnings(true)[0].contains("only this machine"),
        "{:?}",
        c.warnings(true)
    );
    // From the file or the environment counts as given.
    let c = Config::load(
        Some(Path::new("/dev/null")),
        vec![(
            "LNURLD_PUBLIC_URL".to_owned(),
            "http://localhost:8080".to_owned(),
        )],
        &Overrides {
            listen: Some("127.0.0.1:9999".parse().unwrap()),
            ..Overrides::default()
        },
    )
    .unwrap();
    assert_eq!(c.public_url, "http://localhost:8080");
    assert_eq!(c.warnings(true).len(), 1);
    // A CLI command does not listen: nothing to say about the port.
    assert!(c.warnings(false).is_empty());
}

#[test]
fn fee_limit_has_a_floor_capped_by_the_amount() {
    let w = WithdrawConfig::default();
    // The README's table of maximum fees, row by row (sat → msat).
    for (amount_sat, fee_msat) in [
        (1, 50),
        (100, 2_000),
        (10_000, 100_000),
        (1_000_000, 10_000_000),
    ] {
        assert_eq!(
            w.max_fee_msat(amount_sat * 1_000),
            fee_msat,
            "{amount_sat} sat"
        );
    }
    // Between the two: the floor itself.
    assert_eq!(w.max_fee_msat(50_000), 2_000);
    let no_cap = WithdrawConfig {
        max_fee_floor_ppm: 1_000_000,
        ..WithdrawConfig::default()
    };
    assert_eq!(no_cap.max_fee_msat(1_000), 1_000);
    assert_eq!(w.max_fee_msat(u64::MAX), u64::MAX / 100);
}

#[test]
fn fee_ppm_past_the_whole_amount_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lnurld.toml");
    std::fs::write(&file, "[withdraw]\nmax_fee_floor_ppm = 1000001\n").unwrap();
    let e = Config::load(Some(&file), Vec::new(), &Overrides::default()).unwrap_err();
    assert_eq!(e.key, "withdraw.max_fee_floor_ppm");
}

#[test]
fn shutdown_grace_has_a_default_and_bounds() {
    assert_eq!(load_env(&[]).unwrap().withdraw.shutdown_grace_secs, 10);
    let c = load_env(&[("LNURLD_WITHDRAW__SHUTDOWN_GRACE_SECS", "3600")]).unwrap();
    assert_eq!(c.withdraw.shutdown_grace_secs, 3600);
    for bad in ["0", "3601"] {
        let e = load_env(&[("LNURLD_WITHDRAW__SHUTDOWN_GRACE_SECS", bad)]).unwrap_err();
        assert_eq!(e.key, "withdraw.shutdown_grace_secs", "{bad}");
        assert!(e.problem.contains("between 1 and 3600"), "{e}");
    }
}

#[test]
fn pool_size_follows_the_backend_unless_given() {
    assert_eq!(load_env(&[]).unwrap().pool_size(), SQLITE_POOL_SIZE);
    let pg = [("LNURLD_DATABASE_URL", "postgres://u@127.0.0.1/db")];
    assert_eq!(load_env(&pg).unwrap().pool_size(), POSTGRES_POOL_SIZE);
    assert_ne!(SQLITE_POOL_SIZE, POSTGRES_POOL_SIZE);
    for url in ["sqlite://x.db", "postgres://u@127.0.0.1/db"] {
        let c = load_env(&[
            ("LNURLD_DATABASE_URL", url),
            ("LNURLD_DATABASE_MAX_CONNECTIONS", "7"),
        ])
        .unwrap();
        assert_eq!(c.pool_size(), 7, "{url}");
    }
    let e = load_env(&[("LNURLD_DATABASE_MAX_CONNECTIONS", "0")]).unwrap_err();
    assert_eq!(e.key, "database_max_connections");
}

#[test]
fn env_overrides_nested_keys_and_numbers() {
    let c = load_env(&[
        ("LNURLD_WITHDRAW__MAX_FEE_PPM", "42"),
        ("LNURLD_PUBLIC_URL", "https://pay.example.com/"),
        ("LNURLD_TEST_POSTGRES_URL", "postgres://ignored"),
    ])
    .unwrap();
    assert_eq!(c.withdraw.max_fee_ppm, 42);
    assert_eq!(c.public_url, "https://pay.example.com");
    assert_eq!(c.address_domain(), "pay.example.com");
}

#[test]
fn retention_and_open_invoice_cap_from_env() {
    let d = load_env(&[]).unwrap();
    assert_eq!(d.retention.delivered_events_days, 30);
    assert_eq!(d.retention.failed_events_days, 90);
    assert_eq!(d.retention.expired_invoices_days, 30);
    assert_eq!(d.retention.finished_withdrawals_days, 0);
    assert_eq!(d.pay.max_open_invoices_per_link, 1_000);
    let c = load_env(&[
        ("LNURLD_RETENTION__DELIVERED_EVENTS_DAYS", "7"),
        ("LNURLD_RETENTION__FINISHED_WITHDRAWALS_DAYS", "365"),
        ("LNURLD_RETENTION__PRUNE_EVERY_SECS", "60"),
        ("LNURLD_PAY__MAX_OPEN_INVOICES_PER_LINK", "0"),
    ])
    .unwrap();
    assert_eq!(c.retention.delivered_events_days, 7);
    assert_eq!(c.retention.finished_withdrawals_days, 365);
    assert_eq!(c.retention.prune_every_secs, 60);
    assert_eq!(c.pay.max_open_invoices_per_link, 0);
    let e = load_env(&[("LNURLD_RETENTION__FAILED_EVENTS_DAYS", "36501")]).unwrap_err();
    assert_eq!(e.key, "retention.failed_events_days");
    let e = load_env(&[("LNURLD_RETENTION__PRUNE_EVERY_SECS", "0")]).unwrap_err();
    assert_eq!(e.key, "retention.prune_every_secs");
    let e = load_env(&[("LNURLD_RETENTION__EXPIRED_INVOICES_DAYS", "-1")]).unwrap_err();
    assert!(e.to_string().contains("-1"), "{e}");
}

#[test]
fn webhooks_section_from_env() {
    let c = load_env(&[
        ("LNURLD_WEBHOOKS__URL", "http://10.1.2.3/hook"),
        ("LNURLD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
        ("LNURLD_WEBHOOKS__TIMEOUT_SECS", "3"),
    ])
    .unwrap();
    assert_eq!(c.webhooks.url.as_deref(), Some("http://10.1.2.3/hook"));
    assert!(c.webhooks.allow_private_targets);
    assert_eq!(c.webhooks.timeout_secs, 3);
    assert_eq!(c.webhooks.max_age_secs, 3 * 86_400);
    let e = load_env(&[("LNURLD_WEBHOOKS__URL", "http://10.1.2.3/hook")]).unwrap_err();
    assert_eq!(e.key, "webhooks.url");
    let e = load_env(&[("LNURLD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "maybe")]).unwrap_err();
    assert!(e.to_string().contains("maybe"), "{e}");
}

#[test]
fn limits_section_from_env() {
    let c = load_env(&[
        ("LNURLD_LIMITS__ENABLED", "false"),
        ("LNURLD_LIMITS__PER_IP_BURST", "0"),
        (
            "LNURLD_LIMITS__TRUSTED_PROXIES",
            "10.0.0.1, 192.168.0.0/16,fd00::/8",
        ),
    ])
    .unwrap();
    assert!(!c.limits.enabled);
    assert_eq!(c.limits.per_ip_burst, 0);
    assert_eq!(
        c.limits.per_link_burst,
        LimitsConfig::default().per_link_burst
    );
    let nets = c.limits.trusted_proxy_nets().unwrap();
    let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.1/32", "192.168.0.0/16", "fd00::/8"]);
}

#[test]
fn limits_refusals_name_the_key() {
    let e = load_env(&[("LNURLD_LIMITS__TRUSTED_PROXIES", "10.0.0.1,proxy.local")]).unwrap_err();
    assert_eq!(e.key, "limits.trusted_proxies");
    assert!(e.problem.contains("\"proxy.local\""), "{e}");
    let e = load_env(&[("LNURLD_LIMITS__TRUSTED_PROXIES", "10.0.0.0/33")]).unwrap_err();
    assert_eq!(e.key, "limits.trusted_proxies");
    let e = load_env(&[("LNURLD_LIMITS__PER_LINK_PER_MINUTE", "5000000")]).unwrap_err();
    assert_eq!(e.key, "limits.per_link_per_minute");
    assert!(e.problem.contains("use 0 to turn this limit off"), "{e}");
    let e = load_env(&[("LNURLD_LIMITS__MAX_KEYS", "0")]).unwrap_err();
    assert_eq!(e.key, "limits.max_keys");
    let e = load_env(&[("LNURLD_LIMITS__PER_IP_BURST", "-1")]).unwrap_err();
    assert!(
        e.to_string().contains("\"-1\" is not a whole number"),
        "{e}"
    );
    // No such key: not fatal (it may be another program's variable),
    // and named in the start's warning.
    let c = load_env(&[("LNURLD_LIMITS__PER_IP_BURST_MAX", "1")]).unwrap();
    assert!(c.warnings(true)[0].contains("LNURLD_LIMITS__PER_IP_BURST_MAX"));
}

#[test]
fn dev_balance_has_a_default_and_a_ceiling() {
    let c = load_env(&[]).unwrap();
    assert_eq!(c.node.dev_balance_sat, DEFAULT_DEV_BALANCE_SAT);
    let c = load_env(&[("LNURLD_NODE__DEV_BALANCE_SAT", "2100000000000000")]).unwrap();
    assert_eq!(c.node.dev_balance_sat, MAX_DEV_BALANCE_SAT);
    let e = load_env(&[("LNURLD_NODE__DEV_BALANCE_SAT", "2100000000000001")]).unwrap_err();
    assert_eq!(e.key, "node.dev_balance_sat");
    assert!(e.problem.contains("21 million BTC"), "{e}");
    let e = load_env(&[("LNURLD_NODE__DEV_BALANCE_SAT", "lots")]).unwrap_err();
    assert_eq!(e.key, "node.dev_balance_sat");
}

#[test]
fn nostr_section_from_env_and_its_refusals() {
    let key = "7f".repeat(32);
    let c = load_env(&[
        ("LNURLD_NOSTR__ENABLED", "true"),
        ("LNURLD_NOSTR__SECRET_KEY", &key),
        ("LNURLD_NOSTR__ALLOW_INSECURE_RELAYS", "1"),
        ("LNURLD_NOSTR__PUBLISH_WINDOW_SECS", "600"),
    ])
    .unwrap();
    assert!(c.nostr.enabled && c.nostr.allow_insecure_relays);
    assert_eq!(c.nostr.publish_window_secs, 600);
    assert_eq!(c.nostr.timeout_secs, 10);
    // The receipt key is a secret: never in a logged config.
    assert!(!format!("{c:?}").contains(&key));
    let d = Config::default();
    assert!(!d.nostr.enabled);
    assert_eq!(d.nostr.publish_window_secs, 3_600);
    for (var, value, key) in [
        ("LNURLD_NOSTR__SECRET_KEY", "not-a-key", "nostr.secret_key"),
        (
            "LNURLD_NOSTR__SECRET_KEY",
            &"00".repeat(32),
            "nostr.secret_key",
        ),
        (
            "LNURLD_NOSTR__PUBLISH_WINDOW_SECS",
            "0",
            "nostr.publish_window_secs",
        ),
        ("LNURLD_NOSTR__TIMEOUT_SECS", "0", "nostr.timeout_secs"),
        ("LNURLD_NOSTR__RETRY_BASE_MS", "5", "nostr.retry_base_ms"),
    ] {
        let e = load_env(&[(var, value)]).unwrap_err();
        assert_eq!(e.key, key, "{var}={value}: {e}");
    }
}

#[test]
fn offline_is_off_and_its_hosts_are_checked() {
    let c = load_env(&[]).expect("defaults load");
    assert!(!c.offline.enabled);
    assert!(c.warnings(true).iter().all(|w| !w.contains("offline")));
    // A list setting from one env var, comma-separated, lowercased.
    let c = load_env(&[
        ("LNURLD_OFFLINE__ENABLED", "true"),
        (
            "LNURLD_OFFLINE__WEBHOOK_HOSTS",
            "Notifier.example., push.example",
        ),
    ])
    .expect("loads");
    assert_eq!(
        c.offline.webhook_hosts,
        vec!["notifier.example".to_owned(), "push.example".to_owned()]
    );
    let e = load_env(&[("LNURLD_OFFLINE__ENABLED", "true")]).expect_err("no hosts");
    assert_eq!(e.key, "offline.webhook_hosts");
    for bad in [
        "https://notifier.example",
        "notifier.example:443",
        "notifier.example/path",
        "u@notifier.example",
    ] {
        let e = load_env(&[("LNURLD_OFFLINE__WEBHOOK_HOSTS", bad)]).expect_err(bad);
        assert!(e.problem.contains("not a host name"), "{bad}: {e}");
    }
    let e =
        load_env(&[("LNURLD_OFFLINE__WEBHOOK_HOSTS", "169.254.169.254")]).expect_err("metadata");
    assert!(e.problem.contains("never allowed"), "{e}");
    let e = load_env(&[("LNURLD_OFFLINE__WEBHOOK_HOSTS", "127.0.0.1")]).expect_err("loopback");
    assert!(e.problem.contains("allow_private_targets"), "{e}");
    let c = load_env(&[
        ("LNURLD_OFFLINE__ENABLED", "true"),
        ("LNURLD_OFFLINE__WEBHOOK_HOSTS", "notifier.example"),
        ("LNURLD_OFFLINE__ALLOW_INSECURE_WEBHOOKS", "true"),
    ])
    .expect("loads");
    assert!(
        c.warnings(true)
            .iter()
            .any(|w| w.contains("allow_insecure_webhooks") && w.contains("NEVER")),
        "{:?}",
        c.warnings(true)
    );
}

//! Who and where the relay runs: the computer and login sent with every upload
//! (SPEC §5's `computer` and `client`), read once at start.

use serde_json::{json, Value};

pub struct Identity {
    pub computer: Value,
    pub client: Value,
}

fn hostname() -> String {
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string());
    from_proc
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

fn os_name() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        });
    pretty.unwrap_or_else(|| std::env::consts::OS.to_string())
}

fn login_name() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The address this computer would use to reach `server` (no packet is sent).
fn private_ip(server: &str) -> Option<String> {
    let rest = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))?;
    let authority = rest.split('/').next()?;
    let default_port = if server.starts_with("https") { 443 } else { 80 };
    let target = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect(target).ok()?;
    Some(socket.local_addr().ok()?.ip().to_string())
}

impl Identity {
    /// `user` is `--user`: `NAME` or `DOMAIN\NAME`; default the OS login on this host.
    pub fn detect(server: &str, user: Option<&str>) -> Identity {
        let host = hostname();
        let (short, domain) = match host.split_once('.') {
            Some((s, d)) => (s.to_string(), Some(d.to_string())),
            None => (host.clone(), None),
        };
        let (login_domain, name) = match user {
            Some(u) => match u.split_once('\\') {
                Some((d, n)) => (d.to_string(), n.to_string()),
                None => (short.clone(), u.to_string()),
            },
            None => (short.clone(), login_name()),
        };
        let time_zone = jiff::tz::TimeZone::system().iana_name().map(str::to_string);
        Identity {
            computer: json!({
                "name": short,
                "primaryDomain": domain,
                "os": os_name(),
                "timeZone": time_zone,
                "privateIp": private_ip(server),
                "publicIp": null,
            }),
            client: json!({"loginDomain": login_domain, "name": name}),
        }
    }
}

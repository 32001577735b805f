//! A network of the test's own: a network namespace joined to this host by
//! a veth pair (the host's end `10.77.N.1`, the namespace's `10.77.N.2`),
//! optionally with every UDP datagram to the host dropped (nftables, inside
//! the namespace) — a participant behind a firewall that lets only TCP out —
//! or everything but a few ports ([`TestNetwork::allow_only`]).
//! Programs run inside it with [`TestNetwork::command`]; its downlink and
//! uplink can be narrowed ([`TestNetwork::shape_downlink`],
//! [`TestNetwork::shape_uplink`], `tc tbf`). Needs root (or
//! CAP_NET_ADMIN), iproute2 and nftables (`.ci/setup` installs them).

/// The namespace and its link; dropping it deletes both.
pub struct TestNetwork {
    /// The namespace's name.
    pub name: String,
    host_link: String,
    /// The namespace's end of the link.
    inside_link: String,
    /// This host's address as the namespace reaches it.
    pub host_ip: String,
}

impl TestNetwork {
    /// A fresh namespace; with `block_udp`, its UDP to the host is dropped.
    pub fn create(block_udp: bool) -> TestNetwork {
        // A subnet and names no other run is likely to hold (a clash makes
        // `ip netns add` fail before anything of ours exists to undo).
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            % 200
            + 20;
        let name = format!("concord-net-{n}");
        // Checked before `network` exists: its Drop would delete another run's namespace.
        let name_taken = std::path::Path::new("/run/netns").join(&name).exists();
        assert!(!name_taken, "network namespace {name} already exists (another run's)");
        let inside = format!("cnet{n}n");
        let network = TestNetwork {
            name,
            host_link: format!("cnet{n}h"),
            inside_link: inside.clone(),
            host_ip: format!("10.77.{n}.1"),
        };
        let ns_ip = format!("10.77.{n}.2/24");
        let host_cidr = format!("{}/24", network.host_ip);
        let steps: [&[&str]; 8] = [
            &["netns", "add", &network.name],
            &["link", "add", &network.host_link, "type", "veth", "peer", "name", &inside],
            &["link", "set", &inside, "netns", &network.name],
            &["addr", "add", &host_cidr, "dev", &network.host_link],
            &["link", "set", &network.host_link, "up"],
            &["netns", "exec", &network.name, "ip", "addr", "add", &ns_ip, "dev", &inside],
            &["netns", "exec", &network.name, "ip", "link", "set", &inside, "up"],
            &["netns", "exec", &network.name, "ip", "link", "set", "lo", "up"],
        ];
        for step in steps {
            let status = std::process::Command::new("ip").args(step).status().expect("ip runs (iproute2)");
            assert!(status.success(), "ip {step:?} failed (needs root or CAP_NET_ADMIN)");
        }
        if block_udp {
            network.block_udp_to_host();
        }
        network
    }

    fn block_udp_to_host(&self) {
        self.apply_output_rules("concord", &format!("ip daddr {} meta l4proto udp drop", self.host_ip));
    }

    /// From now on the namespace reaches the host only at these ports
    /// (`("tcp", 8000)`, `("udp", 3478)`): a network whose firewall lets
    /// through the web server and a relay, and nothing else.
    pub fn allow_only(&self, ports: &[(&str, u16)]) {
        let mut rules: Vec<String> = ports
            .iter()
            .map(|(protocol, port)| format!("ip daddr {} {protocol} dport {port} accept", self.host_ip))
            .collect();
        rules.push(format!("ip daddr {} drop", self.host_ip));
        self.apply_output_rules("concord_allow", &rules.join("\n  "));
    }

    /// From now on, what reaches the namespace from this host crosses a
    /// token bucket of `kbit` kbit/s (`tc tbf` on the host's end of the
    /// link, a queue of 100 ms): a participant on a slow connection.
    pub fn shape_downlink(&self, kbit: u32) {
        let mut tc = std::process::Command::new("tc");
        tc.args(["qdisc", "replace", "dev", &self.host_link]);
        shape(tc, kbit);
    }

    /// From now on, what leaves the namespace for this host crosses a
    /// token bucket of `kbit` kbit/s (`tc tbf` on the namespace's end of
    /// the link, a queue of 100 ms): a participant whose uplink is slow.
    pub fn shape_uplink(&self, kbit: u32) {
        let mut tc = std::process::Command::new("ip");
        tc.args(["netns", "exec", &self.name, "tc", "qdisc", "replace", "dev", &self.inside_link]);
        shape(tc, kbit);
    }

    /// Adds nftables table `table` to the namespace with these rules in its
    /// output chain.
    fn apply_output_rules(&self, table: &str, rules: &str) {
        let ruleset = format!(
            "table inet {table} {{\n chain output {{\n  type filter hook output priority 0;\n  {rules}\n }}\n}}\n"
        );
        let rules_file = std::env::temp_dir().join(format!("{}-{table}.nft", self.name));
        std::fs::write(&rules_file, ruleset).expect("the rules file");
        let status = std::process::Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", &rules_file.display().to_string()])
            .status()
            .expect("ip runs (iproute2)");
        let _ = std::fs::remove_file(&rules_file);
        assert!(status.success(), "nft failed (apt-get install nftables; .ci/setup does)");
    }

    /// Settings for a server the namespace reaches at this host's veth
    /// address: it listens there too (and on loopback, for the set-up and
    /// participants outside), and advertises that address for media.
    pub fn server_settings(&self) -> rocket::figment::Figment {
        crate::server::no_extra()
            .merge(("address", "0.0.0.0"))
            .merge(("media_udp_address", "0.0.0.0:0"))
            .merge(("media_advertise_ip", self.host_ip.as_str()))
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.name]).status();
        // Usually gone with the namespace already (its peer end was in it).
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host_link])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Runs `tc` (the command so far names the device) with a token bucket of `kbit` kbit/s.
fn shape(mut tc: std::process::Command, kbit: u32) {
    let rate = format!("{kbit}kbit");
    let status = tc
        .args(["root", "tbf", "rate", &rate, "burst", "8kb", "latency", "100ms"])
        .status()
        .expect("tc runs (iproute2)");
    assert!(status.success(), "tc failed (needs root or CAP_NET_ADMIN, and sch_tbf)");
}

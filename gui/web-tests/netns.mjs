// A network of the test's own (as server/testkit/src/netns.rs makes for the
// Rust tests): a network namespace joined to this host by a veth pair, the
// host's end at `hostIp`, with every UDP datagram from inside to the host
// dropped (nftables) — a participant behind a firewall that lets only TCP
// out. `chromiumInside(dir)` writes a launcher that runs Debian's Chromium
// in it. Needs root, iproute2 and nftables (.ci/setup installs them).

import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ip = (...args) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "inherit"] });

export function createUdpBlockedNetwork() {
  const n = 20 + (process.pid % 200);
  const name = `concord-web-${n}`;
  if (existsSync(`/run/netns/${name}`)) throw new Error(`network namespace ${name} already exists (another run's)`);
  const hostLink = `cweb${n}h`, inside = `cweb${n}n`;
  const hostIp = `10.78.${n}.1`;
  const network = {
    name,
    hostIp,
    remove() {
      try { ip("netns", "del", name); } catch { /* already gone */ }
      try { ip("link", "del", hostLink); } catch { /* went with the namespace */ }
    },
    chromiumInside(dir) {
      const launcher = join(dir, "chromium-in-netns");
      const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
      writeFileSync(launcher, `#!/bin/sh\nexec ip netns exec ${name} ${chromium} "$@"\n`, { mode: 0o755 });
      return launcher;
    },
  };
  ip("netns", "add", name);
  try {
    ip("link", "add", hostLink, "type", "veth", "peer", "name", inside);
    ip("link", "set", inside, "netns", name);
    ip("addr", "add", `${hostIp}/24`, "dev", hostLink);
    ip("link", "set", hostLink, "up");
    ip("netns", "exec", name, "ip", "addr", "add", `10.78.${n}.2/24`, "dev", inside);
    ip("netns", "exec", name, "ip", "link", "set", inside, "up");
    ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
    const rules = `table inet concord {\n chain output {\n  type filter hook output priority 0;\n  ip daddr ${hostIp} meta l4proto udp drop\n }\n}\n`;
    execFileSync("ip", ["netns", "exec", name, "nft", "-f", "-"], { input: rules });
  } catch (error) {
    network.remove();
    throw error;
  }
  return network;
}

// A Concord server for the browser tests and the screenshots: the binary at
// `bin` on 127.0.0.1:`port` (or `address`) with a SQLite database in `dir`,
// serving the web client built in `webRoot`.

import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { waitFor } from "./page.mjs";

// A port nothing listens on right now.
export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

// Starts the server (its stderr shows in ours); returns the child process.
// `address` is where it listens (HTTP and media); `advertiseIp` the media
// address it tells clients (default: the bound one).
export function spawnConcord({ bin, webRoot, dir, port, address = "127.0.0.1", advertiseIp }) {
  return spawn(bin, [], {
    env: {
      ...process.env,
      ROCKET_CONFIG: join(dir, "none.toml"),
      ROCKET_ADDRESS: address,
      ROCKET_MEDIA_UDP_ADDRESS: `${address}:0`,
      ...(advertiseIp ? { ROCKET_MEDIA_ADVERTISE_IP: advertiseIp } : {}),
      ROCKET_PORT: String(port),
      ROCKET_LOG_LEVEL: "off",
      ROCKET_DATA_DIR: dir,
      ROCKET_WEB_ROOT: webRoot,
      ROCKET_DATABASES: `{main={url="sqlite://${dir}/concord.db?mode=rwc"}}`,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
}

// Resolves once the server at `base` answers its health check (30 s at most).
export const waitForServer = (base) =>
  waitFor("the server", async () => (await fetch(base + "/api/health").catch(() => null))?.ok);

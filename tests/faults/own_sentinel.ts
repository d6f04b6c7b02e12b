/**
 * A Redis Sentinel topology of a test's own, on spare loopback ports: a master, one replica
 * (`--replicaof`) and three sentinels (`redis-server <conf> --sentinel`, quorum 2, a master
 * judged down after 1 s). Each process is stopped by pid and killed after `lifetimeMs`
 * whatever happens; `stop` removes every temp folder.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { waitFor } from "../helpers.ts";
import { type OwnRedis, sparePort, startOwnRedis } from "./own_redis.ts";

/** The master name the sentinels monitor. */
export const SENTINEL_MASTER_NAME = "machinery_test_master";

/** A running Sentinel topology. */
export interface OwnSentinel {
  /** The machinery URL of the sentinels (`redis://h:p,h:p,h:p`), used with `masterName`. */
  readonly url: string;
  /** The first master. */
  readonly master: OwnRedis;
  /** The first replica (the master after a failover). */
  readonly replica: OwnRedis;
  /** The port of the master every sentinel names now, or -1 while they disagree. */
  masterPort(): Promise<number>;
  /** Kills everything and removes the temp folders. */
  stop(): Promise<void>;
}

interface SentinelProcess {
  port: number;
  client: Redis;
  kill(): Promise<void>;
}

async function startSentinel(masterPort: number, lifetimeMs: number): Promise<SentinelProcess> {
  const port = await sparePort();
  const dir = mkdtempSync(join(tmpdir(), "machinery-own-sentinel-"));
  const conf = join(dir, "sentinel.conf");
  // Sentinel rewrites its config file, so each gets its own writable copy.
  writeFileSync(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 5000`,
      `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const killer = setTimeout(() => child.kill("SIGKILL"), lifetimeMs);
  const client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 3 });
  client.on("error", () => {});
  const kill = async () => {
    clearTimeout(killer);
    client.disconnect();
    child.kill("SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => client.ping().then((r) => r === "PONG", () => false),
      `sentinel on ${port}`,
      20_000,
    );
  } catch (error) {
    await kill();
    throw error;
  }
  return { port, client, kill };
}

/**
 * Starts a master, a replica in sync with it, and three sentinels that agree on the master
 * and know the replica; everything is killed after `lifetimeMs` (default 10 minutes).
 */
export async function startOwnSentinel(lifetimeMs = 600_000): Promise<OwnSentinel> {
  const started: { stop(): Promise<void> }[] = [];
  const stop = async () => {
    for (const p of started.reverse()) await p.stop().catch(() => {});
  };
  try {
    const master = await startOwnRedis([], { lifetimeMs });
    started.push(master);
    const masterPort = Number(new URL(master.url).port);
    const replica = await startOwnRedis(["--replicaof", "127.0.0.1", String(masterPort)], {
      lifetimeMs,
    });
    started.push(replica);
    await waitFor(
      async () => /master_link_status:up/.test(await replica.client.info("replication")),
      "the replica in sync",
      20_000,
    );
    const sentinels: SentinelProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await startSentinel(masterPort, lifetimeMs);
      sentinels.push(s);
      started.push({ stop: s.kill });
    }
    // Ready once each sentinel sees the replica and the two other sentinels.
    await waitFor(
      async () => {
        for (const s of sentinels) {
          const info = await s.client.call("SENTINEL", "MASTER", SENTINEL_MASTER_NAME) as string[];
          const field = (name: string) => Number(info[info.indexOf(name) + 1]);
          if (field("num-slaves") < 1 || field("num-other-sentinels") < 2) return false;
        }
        return true;
      },
      "the sentinels see each other and the replica",
      30_000,
    );
    // -1 while the sentinels disagree (a failover in progress) or one does not answer.
    const masterPortNow = async () => {
      const ports = new Set<number>();
      for (const s of sentinels) {
        const addr = await s.client
          .call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER_NAME)
          .catch(() => null) as string[] | null;
        ports.add(addr ? Number(addr[1]) : -1);
      }
      return ports.size === 1 ? [...ports][0] : -1;
    };
    return {
      url: `redis://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}`,
      master,
      replica,
      masterPort: masterPortNow,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

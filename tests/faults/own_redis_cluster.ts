/**
 * A Redis Cluster of a test's own, on spare loopback ports: six `redis-server --cluster-enabled
 * yes` processes (each with its own temp folder, see `own_redis.ts`) joined by
 * `redis-cli --cluster create … --cluster-replicas 1`, so three masters with a replica each. A
 * node judged down after 1 s (`cluster-node-timeout`), so a killed master's replica takes over
 * within a few seconds. Every process is stopped by pid and killed after `lifetimeMs` whatever
 * happens; `stop` removes every temp folder.
 */
import { spawn, spawnSync } from "node:child_process";
import { Cluster, type Redis } from "ioredis";
import { type OwnRedis, ownRedisSkipReason, startOwnRedis } from "./own_redis.ts";
import { env, waitFor } from "../helpers.ts";

/**
 * Why a scenario that starts its own cluster must skip, or `false` (never in CI): it needs
 * `redis-server` and `redis-cli`.
 */
export function ownRedisClusterSkipReason(): string | false {
  const server = ownRedisSkipReason();
  if (server || env("REQUIRE_SERVICES") === "1") return server;
  const probe = spawnSync("redis-cli", ["--version"], { timeout: 10_000 });
  return probe.status === 0 ? false : "redis-cli is not installed here";
}

/** A running Redis Cluster. */
export interface OwnRedisCluster {
  /** The machinery URL of its nodes (`redis://h:p,h:p,…`), a cluster by having several hosts. */
  readonly url: string;
  /** Its six nodes, in the order given to `redis-cli --cluster create` (masters first). */
  readonly nodes: OwnRedis[];
  /** The node that serves `slot` as master now, or undefined while the nodes disagree. */
  masterOf(slot: number): Promise<OwnRedis | undefined>;
  /** Resolves once every live node says `cluster_state:ok` and agrees on the slot owners. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills everything and removes the temp folders. */
  stop(): Promise<void>;
}

const NODE_ARGS = [
  "--cluster-enabled",
  "yes",
  "--cluster-node-timeout",
  "1000",
  // A replica whose master died takes over however long ago it last heard from it.
  "--cluster-replica-validity-factor",
  "0",
];

function portOf(node: OwnRedis): number {
  return Number(new URL(node.url).port);
}

/**
 * A connected ioredis cluster client for checks, typed as `Redis` (the commands the tests use
 * are the same); the caller disconnects it.
 */
export async function clusterClient(cluster: OwnRedisCluster): Promise<Redis> {
  const client = new Cluster(
    cluster.nodes.map((n) => ({ host: "127.0.0.1", port: portOf(n) })),
    { lazyConnect: true },
  );
  client.on("error", () => {});
  await client.connect();
  return client as unknown as Redis;
}

/** Runs `redis-cli` with `args` and resolves with its output, or fails with it. */
function redisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-cli", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (chunk) => out += chunk);
    child.stderr!.on("data", (chunk) => out += chunk);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`redis-cli ${args.join(" ")} exited with ${code}:\n${out}`));
    });
  });
}

/** `CLUSTER SLOTS` of one node as slot ranges → master port. */
async function slotOwners(node: OwnRedis): Promise<[number, number, number][]> {
  const ranges = await node.client.call("CLUSTER", "SLOTS") as [number, number, [string, number]][];
  return ranges.map(([from, to, [, port]]) => [from, to, Number(port)]);
}

/**
 * Starts six nodes, joins them into a cluster of three masters with a replica each, and waits
 * until every node reports `cluster_state:ok`, knows the six nodes and every replica is in sync;
 * everything is killed after `lifetimeMs` (default 10 minutes).
 */
export async function startOwnRedisCluster(lifetimeMs = 600_000): Promise<OwnRedisCluster> {
  const nodes: OwnRedis[] = [];
  const dead = new Set<OwnRedis>();
  const stop = async () => {
    for (const node of nodes.reverse()) await node.stop().catch(() => {});
  };
  try {
    for (let i = 0; i < 6; i++) nodes.push(await startOwnRedis(NODE_ARGS, { lifetimeMs }));
    for (const node of nodes) {
      const { kill, restart } = node;
      // A killed node is left out of the health checks until it is restarted.
      Object.assign(node, {
        kill: async () => {
          dead.add(node);
          await kill();
        },
        restart: async () => {
          await restart();
          dead.delete(node);
        },
      });
    }
    await redisCli([
      "--cluster",
      "create",
      ...nodes.map((n) => `127.0.0.1:${portOf(n)}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    ], 60_000);
    const live = () => nodes.filter((n) => !dead.has(n));
    const waitHealthy = async (timeoutMs = 60_000) => {
      await waitFor(
        async () => {
          let owners: string | undefined;
          for (const node of live()) {
            const info = await node.client.call("CLUSTER", "INFO").catch(() => "") as string;
            if (!/cluster_state:ok/.test(info)) return false;
            const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1] ?? 0);
            if (known < 6) return false;
            const mine = JSON.stringify(await slotOwners(node).catch(() => null));
            if (owners !== undefined && mine !== owners) return false;
            owners = mine;
            const replication = await node.client.info("replication").catch(() => "");
            if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication)) {
              return false;
            }
          }
          return true;
        },
        "the cluster healthy (cluster_state:ok, one view of the slots)",
        timeoutMs,
      );
    };
    await waitHealthy();
    const masterOf = async (slot: number) => {
      let port: number | undefined;
      for (const node of live()) {
        const ranges = await slotOwners(node).catch(() => []);
        const owner = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2];
        if (owner === undefined || (port !== undefined && owner !== port)) return undefined;
        port = owner;
      }
      return nodes.find((n) => portOf(n) === port);
    };
    return {
      url: `redis://${nodes.map((n) => `127.0.0.1:${portOf(n)}`).join(",")}`,
      nodes,
      masterOf,
      waitHealthy,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

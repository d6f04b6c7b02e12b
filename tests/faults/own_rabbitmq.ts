/**
 * RabbitMQ nodes of a test's own, clustered on this machine: each has its own node name
 * (`rabbit_t<n>_<id>@localhost`), AMQP and distribution ports, data, log and config folders,
 * and a HOME with an Erlang cookie of the test's (not the shared node's: the shared node can
 * never be reached, let alone joined). No plugins. Each node is stopped by pid and killed after
 * `lifetimeMs` whatever happens; `stop` removes every temp folder.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { waitFor } from "../helpers.ts";
import { sparePort } from "./own_redis.ts";

const BIN = "/usr/lib/rabbitmq/bin";

/** SIGKILL to the child's process group (the server script and its Erlang VM). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch (error) {
    if ((error as { code?: string }).code !== "ESRCH") throw error;
  }
}

/** Resolves once no process of the child's group is left (polled every 50 ms). */
async function groupExited(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve) => child.on("exit", () => resolve()));
  for (;;) {
    try {
      process.kill(-child.pid!, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Why a scenario that starts its own RabbitMQ nodes must skip, or `false`. */
export function ownRabbitSkipReason(): string | false {
  return existsSync(`${BIN}/rabbitmq-server`) ? false : `${BIN}/rabbitmq-server is not installed`;
}

/** One node of the cluster. */
export interface OwnRabbitNode {
  /** `rabbit_t<n>_<id>@localhost`. */
  readonly name: string;
  /** Its AMQP URL (guest/guest, which RabbitMQ allows on loopback). */
  readonly url: string;
  /** Kills the node (SIGKILL of its Erlang VM) and waits for it to exit. */
  kill(): Promise<void>;
}

/** A running cluster of our own. */
export interface OwnRabbitCluster {
  /** The nodes that started and joined, first one first. */
  readonly nodes: OwnRabbitNode[];
  /** Runs `rabbitmqctl -n <node> args…` with the cluster's cookie; its stdout. */
  ctl(node: string, args: string[], timeoutMs?: number): string;
  /** Kills every node and removes the temp folders. */
  stop(): Promise<void>;
}

/**
 * Starts up to `count` nodes and joins each to the first, within `budgetMs` in all: on a small
 * machine the cluster has as many nodes as started in time (at least one).
 */
export async function startOwnRabbitCluster(
  count: number,
  budgetMs = 90_000,
  lifetimeMs = 600_000,
): Promise<OwnRabbitCluster> {
  const root = mkdtempSync(join(tmpdir(), "machinery-own-rabbit-"));
  const home = join(root, "home");
  mkdirSync(home);
  writeFileSync(join(home, ".erlang.cookie"), crypto.randomUUID().replaceAll("-", ""), {
    mode: 0o400,
  });
  const id = crypto.randomUUID().slice(0, 6);
  const children: {
    child: ChildProcess;
    exited: Promise<void>;
    killer: ReturnType<typeof setTimeout>;
  }[] = [];
  const nodes: OwnRabbitNode[] = [];
  const baseEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) baseEnv[k] = v;
  Object.assign(baseEnv, {
    HOME: home,
    ERL_EPMD_ADDRESS: "127.0.0.1",
    RABBITMQ_CONF_ENV_FILE: join(root, "rabbitmq-env.conf"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(root, "enabled_plugins"),
  });
  writeFileSync(join(root, "rabbitmq-env.conf"), "");
  writeFileSync(join(root, "enabled_plugins"), "[].\n");
  const ctl = (node: string, args: string[], timeoutMs = 60_000): string => {
    const out = spawnSync(`${BIN}/rabbitmqctl`, ["-n", node, ...args], {
      env: baseEnv,
      encoding: "utf8",
      timeout: timeoutMs,
    });
    if (out.status !== 0) {
      throw new Error(`rabbitmqctl -n ${node} ${args.join(" ")}: ${out.stderr || out.error}`);
    }
    return out.stdout;
  };
  const stop = async () => {
    for (const { child, killer } of children) {
      clearTimeout(killer);
      killGroup(child);
    }
    await Promise.all(children.map((c) => c.exited));
    rmSync(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + budgetMs;
  try {
    for (let n = 1; n <= count && Date.now() < deadline; n++) {
      const name = `rabbit_t${n}_${id}@localhost`;
      const port = await sparePort();
      const distPort = await sparePort();
      const dir = join(root, `node${n}`);
      mkdirSync(dir);
      writeFileSync(
        join(dir, "rabbitmq.conf"),
        `listeners.tcp.local = 127.0.0.1:${port}\nloopback_users = none\n`,
      );
      const env = {
        ...baseEnv,
        RABBITMQ_NODENAME: name,
        RABBITMQ_NODE_PORT: String(port),
        RABBITMQ_DIST_PORT: String(distPort),
        RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
        RABBITMQ_LOG_BASE: join(dir, "log"),
        RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq"),
        RABBITMQ_PID_FILE: join(dir, "pid"),
        // The distribution listens on loopback only, on its own port.
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:
          `-kernel inet_dist_use_interface {127,0,0,1} -kernel inet_dist_listen_min ${distPort} -kernel inet_dist_listen_max ${distPort}`,
      };
      // A process group of its own: the script starts the Erlang VM as its child, and killing
      // the group kills both.
      const child = spawn(`${BIN}/rabbitmq-server`, [], {
        env,
        cwd: dir, // where a crashing node writes its MnesiaCore dump
        stdio: "ignore",
        detached: true,
      });
      const exited = groupExited(child);
      const killer = setTimeout(() => killGroup(child), lifetimeMs);
      children.push({ child, exited, killer });
      const remaining = Math.max(5_000, deadline - Date.now());
      const ok = await waitFor(
        () => {
          try {
            ctl(name, ["await_startup", "--timeout", "5"], 10_000);
            return true;
          } catch {
            return false;
          }
        },
        `node ${name} up`,
        remaining,
      ).catch(() => false);
      if (!ok) {
        killGroup(child);
        await exited;
        if (n === 1) throw new Error(`RabbitMQ node ${name} did not start in time`);
        break;
      }
      if (n > 1) {
        ctl(name, ["stop_app"]);
        ctl(name, ["join_cluster", nodes[0].name]);
        ctl(name, ["start_app"]);
      }
      nodes.push({
        name,
        url: `amqp://guest:guest@127.0.0.1:${port}/`,
        kill: async () => {
          killGroup(child);
          await exited;
        },
      });
    }
    return { nodes, ctl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

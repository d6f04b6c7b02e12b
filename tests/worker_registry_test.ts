/**
 * The worker's heartbeat on the memory engine: it announces the worker, counts finished tasks
 * by name in memory, writes the registry from its timer only (never once per task), and removes
 * its entry on a graceful stop with the last counts written.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  MemoryBackend,
  MemoryBroker,
  newSignature,
  Server,
  silentLogger,
  type TaskStats,
  type WorkerInfo,
  type WorkerRegistry,
} from "../mod.ts";
import { waitFor } from "./helpers.ts";

/** A registry that records the calls it gets. */
class RecordingRegistry implements WorkerRegistry {
  beats: { info: WorkerInfo; ttlMs: number; finished: TaskStats[] }[] = [];
  removed: string[] = [];
  closed = false;
  beat(info: WorkerInfo, ttlMs: number, finished: TaskStats[]): Promise<void> {
    this.beats.push({ info, ttlMs, finished: structuredClone(finished) });
    return Promise.resolve();
  }
  remove(id: string): Promise<void> {
    this.removed.push(id);
    return Promise.resolve();
  }
  workers(): Promise<WorkerInfo[]> {
    return Promise.resolve([]);
  }
  stats(): Promise<TaskStats[]> {
    return Promise.resolve([]);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

describe("worker heartbeat", () => {
  it("costs no registry call per task, and reports the counts", { timeout: 20_000 }, async () => {
    const server = new Server({
      broker: new MemoryBroker(),
      backend: new MemoryBackend(),
      config: { noUnixSignals: true },
      logger: silentLogger,
    });
    server.registerTask("ok", () => 1);
    server.registerTask("bad", () => {
      throw new Error("no");
    });
    const registry = new RecordingRegistry();
    const worker = server.newWorker("beater", 4, {
      registry,
      heartbeatTtlMs: 60_000, // one beat at start, the next one 20 s later
      host: "h",
      pid: 42,
    });
    const running = worker.launch();
    await waitFor(() => registry.beats.length === 1, "the first beat");
    const results = [];
    for (let i = 0; i < 300; i++) results.push(await server.sendTask(newSignature("ok", [])));
    for (let i = 0; i < 20; i++) results.push(await server.sendTask(newSignature("bad", [])));
    await Promise.all(results.map((r) => r.get({ timeout: 10_000 }).catch(() => {})));
    assert.equal(registry.beats.length, 1, "300 tasks, no extra beat");
    await worker.quit();
    await running;

    const first = registry.beats[0].info;
    assert.deepEqual(
      { name: first.name, host: first.host, pid: first.pid, queue: first.queue },
      { name: "beater", host: "h", pid: 42, queue: "machinery_tasks" },
    );
    assert.equal(first.concurrency, 4);
    // The stop writes the counts since the last beat, then removes the entry.
    const last = registry.beats.at(-1)!;
    assert.equal(registry.beats.length, 2);
    assert.deepEqual(
      last.finished.sort((a, b) => a.task.localeCompare(b.task)),
      [{ task: "bad", processed: 0, failed: 20 }, { task: "ok", processed: 300, failed: 0 }],
    );
    assert.deepEqual([last.info.processed, last.info.failed], [300, 20]);
    assert.deepEqual(registry.removed, [first.id]);
    assert.equal(registry.closed, true);
  });

  it("says a registry outage once, and when it is over", { timeout: 20_000 }, async () => {
    const lines: string[] = [];
    const record = (level: string) => (message: string) => lines.push(`${level} ${message}`);
    const server = new Server({
      broker: new MemoryBroker(),
      backend: new MemoryBackend(),
      config: { noUnixSignals: true },
      logger: { debug() {}, info: record("info"), warn: record("warn"), error: record("error") },
    });
    const registry = new RecordingRegistry();
    let failing = 5;
    const beat = registry.beat.bind(registry);
    registry.beat = (info, ttlMs, finished) =>
      failing-- > 0 ? Promise.reject(new Error("registry down")) : beat(info, ttlMs, finished);
    const worker = server.newWorker("flaky", 1, { registry, heartbeatTtlMs: 300 });
    const running = worker.launch();
    await waitFor(() => registry.beats.length >= 2, "beats after the outage", 10_000);
    await worker.quit();
    await running;
    const heartbeat = lines.filter((line) => line.includes("heartbeat"));
    assert.deepEqual(heartbeat, [
      "warn Worker heartbeat failed: registry down (said once until a beat succeeds)",
      "info Worker heartbeat recovered after 5 failed beats",
    ]);
  });
});

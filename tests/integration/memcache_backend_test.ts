/**
 * The Memcache backend's own behaviours, beyond the backend contract (`tests/conformance/`),
 * against a real memcached: Go's bytes under the task and group UUIDs (read back with a raw
 * text-protocol client, not through memjs), flags 0, the expiry (relative up to 30 days,
 * absolute beyond), Go's `Lock`, key routing over several servers, and the pure parts (CRC-32
 * routing, expirations, framing), which run without a server.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { newSignature, type Signature, type TaskResult } from "../../mod.ts";
import { parseJson } from "../../src/wire/json.ts";
import {
  crc32,
  MAX_RELATIVE_EXPIRATION,
  MemcacheBackend,
  memcacheExpiration,
  pickServer,
} from "../../src/memcache/mod.ts";
import { backendFromURL } from "../../src/from_url.ts";
import { resolveConfig } from "../../src/config.ts";
import { isValidKey } from "../../src/memcache/_keys.ts";
import { encodeRequest, Opcode, storeExtras } from "../../src/memcache/_protocol.ts";
import { splitServer } from "../../src/memcache/_client.ts";
import { describeUnless } from "../helpers.ts";
import { MEMCACHE_URL, memcacheSkipReason, RawMemcache } from "./memcache_support.ts";

const utf8 = new TextEncoder();

describe("memcache: routing, expirations and framing (no server)", () => {
  it("computes Go's CRC-32 (IEEE)", () => {
    assert.equal(crc32(utf8.encode("")), 0);
    assert.equal(crc32(utf8.encode("123456789")), 0xcbf43926);
    assert.equal(crc32(utf8.encode("foo")), 2356372769);
    assert.equal(crc32(utf8.encode("task_5d2c6b7e-3f51-4a4c-9d0e-2f0b8a1c7e11")), 1915764050);
  });

  it("picks servers as gomemcache does: crc32(key) % count, in URL order", () => {
    assert.equal(pickServer("foo", 1), 0);
    assert.equal(pickServer("foo", 2), 1);
    assert.equal(pickServer("foo", 3), 2);
    assert.equal(pickServer("task_5d2c6b7e-3f51-4a4c-9d0e-2f0b8a1c7e11", 2), 0);
    assert.equal(pickServer("group_00000000-0000-4000-8000-0000000000ff", 3), 1);
    // Go hashes at most the first 256 bytes.
    const long = "k".repeat(256);
    assert.equal(pickServer(long + "a", 7), pickServer(long + "b", 7));
    assert.throws(() => pickServer("foo", 0), RangeError);
  });

  it("sends expirations relative up to 30 days and absolute beyond", () => {
    const now = 1_700_000_000_500;
    assert.equal(memcacheExpiration(3600, now), 3600);
    assert.equal(memcacheExpiration(MAX_RELATIVE_EXPIRATION, now), 2_592_000);
    assert.equal(memcacheExpiration(MAX_RELATIVE_EXPIRATION + 1, now), 1_700_000_000 + 2_592_001);
    assert.throws(() => memcacheExpiration(0, now), RangeError);
    assert.throws(() => memcacheExpiration(1.5, now), RangeError);
  });

  it("checks keys as memcached does", () => {
    assert.ok(isValidKey("task_5d2c6b7e-3f51-4a4c-9d0e-2f0b8a1c7e11"));
    assert.ok(isValidKey("k".repeat(250)));
    assert.ok(!isValidKey("k".repeat(251)));
    assert.ok(!isValidKey("a b"));
    assert.ok(!isValidKey("a\nb"));
    assert.ok(!isValidKey(""));
  });

  it("frames a conditional store", () => {
    const cas = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const bytes = encodeRequest({
      opcode: Opcode.set,
      key: "k",
      value: "v",
      extras: storeExtras(0, 3600),
      opaque: 7,
      cas,
    });
    assert.deepEqual(
      [...bytes],
      [
        0x80,
        0x01,
        0,
        1,
        8,
        0,
        0,
        0,
        0,
        0,
        0,
        10,
        0,
        0,
        0,
        7,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        0,
        0,
        0,
        0,
        0,
        0,
        0x0e,
        0x10,
        0x6b,
        0x76,
      ],
    );
  });

  it("splits server addresses, IPv6 included", () => {
    assert.deepEqual(splitServer("127.0.0.1:11211"), { host: "127.0.0.1", port: 11211 });
    assert.deepEqual(splitServer("[::1]:11212"), { host: "::1", port: 11212 });
    assert.throws(() => splitServer("host"), RangeError);
  });

  it("rejects a bad URL or ResultsExpireIn when built", () => {
    assert.throws(() => new MemcacheBackend("memcache://"), { name: "URLError" });
    assert.throws(
      () => new MemcacheBackend("memcache://127.0.0.1:11211", { config: { resultsExpireIn: -5 } }),
      RangeError,
    );
  });
});

const skip = await memcacheSkipReason();

interface Vectors {
  task_states: Record<string, string>;
  group_metas: Record<string, string>;
}

describeUnless(skip, "memcache backend on memcached", () => {
  const ttl = 300;
  let backend: MemcacheBackend;
  let raw: RawMemcache;
  let vectors: Vectors;
  const written: string[] = [];

  before(async () => {
    vectors = JSON.parse(
      await readFile(new URL("../fixtures/go_vectors.json", import.meta.url), "utf8"),
    );
    backend = new MemcacheBackend(MEMCACHE_URL, { config: { resultsExpireIn: ttl } });
    await backend.connect();
    raw = await RawMemcache.open();
  });

  after(async () => {
    await raw?.delete(...written);
    raw?.close();
    await backend?.close();
  });

  function task(name = "add"): Signature {
    const sig = newSignature(name);
    written.push(sig.uuid);
    return sig;
  }

  function group(): string {
    const id = `group_${crypto.randomUUID()}`;
    written.push(id);
    return id;
  }

  /** A Go vector (tests/fixtures/go_vectors.json) with its fixed UUID replaced by ours. */
  function vector(text: string, from: string, to: string): string {
    return text.replaceAll(from, to);
  }

  it("stores each state as Go's bytes under the task UUID, unmerged, with flags 0", async () => {
    const sig = task();
    await backend.setStatePending(sig);
    const pending = await raw.get(sig.uuid);
    assert.match(
      pending!,
      new RegExp(
        `^\\{"TaskUUID":"${sig.uuid}","TaskName":"add","State":"PENDING","Results":null,"Error":"","CreatedAt":"[0-9T:.-]+Z","TTL":0\\}$`,
      ),
    );
    const fixed = "task_5d2c6b7e-3f51-4a4c-9d0e-2f0b8a1c7e11";
    await backend.setStateReceived(sig);
    assert.equal(
      await raw.get(sig.uuid),
      vector(vectors.task_states["state received unmerged"], fixed, sig.uuid),
    );
    await backend.setStateSuccess(sig, [{ type: "int64", value: 2 }]);
    assert.equal(
      await raw.get(sig.uuid),
      `{"TaskUUID":"${sig.uuid}","TaskName":"","State":"SUCCESS","Results":[{"Type":"int64","Value":2}],"Error":"","CreatedAt":"0001-01-01T00:00:00Z","TTL":0}`,
    );
    const meta = await raw.meta(sig.uuid);
    assert.equal(meta?.flags, 0);
    assert.ok(meta!.ttl > ttl - 10 && meta!.ttl <= ttl, `ttl ${meta?.ttl}`);

    const state = await backend.getState(sig.uuid);
    assert.equal(state.state, "SUCCESS");
    assert.equal(String(state.results?.[0].value), "2");
  });

  it("writes FAILURE with its error and keeps Go's result bytes", async () => {
    const sig = task("panic_task");
    await backend.setStateFailure(sig, "oops");
    assert.equal(
      await raw.get(sig.uuid),
      `{"TaskUUID":"${sig.uuid}","TaskName":"","State":"FAILURE","Results":null,"Error":"oops","CreatedAt":"0001-01-01T00:00:00Z","TTL":0}`,
    );
    const sig2 = task();
    const results = (parseJson('[{"Type":"uint64","Value":18446744073709551615}]') as {
      Type: string;
      Value: unknown;
    }[]).map((r): TaskResult => ({ type: r.Type, value: r.Value }));
    await backend.setStateSuccess(sig2, results);
    assert.match(
      (await raw.get(sig2.uuid))!,
      /"Results":\[\{"Type":"uint64","Value":18446744073709551615\}\]/,
    );
  });

  it("reads a state Go wrote", async () => {
    const sig = task();
    const fixed = "task_5d2c6b7e-3f51-4a4c-9d0e-2f0b8a1c7e11";
    const json = vector(vectors.task_states["state success"], fixed, sig.uuid);
    assert.equal(
      await raw.command(`set ${sig.uuid} 0 60 ${utf8.encode(json).length}\r\n${json}`),
      "STORED",
    );
    const state = await backend.getState(sig.uuid);
    assert.equal(state.taskName, "add");
    assert.equal(state.createdAt, "2025-01-02T03:04:05.123456Z");
  });

  it("expires after ResultsExpireIn, also beyond 30 days (absolute time)", async () => {
    const days40 = 40 * 24 * 3600;
    const long = new MemcacheBackend(MEMCACHE_URL, { config: { resultsExpireIn: days40 } });
    try {
      const sig = task();
      await long.setStatePending(sig);
      const meta = await raw.meta(sig.uuid);
      assert.ok(meta, "the item is stored (a relative 40 days would have expired it at once)");
      assert.ok(Math.abs(meta.ttl - days40) <= 5, `ttl ${meta.ttl}`);
    } finally {
      await long.close();
    }
  });

  it("stores the group meta as Go's bytes, and TriggerChord writes Go's G2", async () => {
    const id = group();
    await backend.initGroup(id, ["task_a", "task_b"]);
    const init = await raw.get(id);
    assert.match(
      init!,
      new RegExp(
        `^\\{"GroupUUID":"${id}","TaskUUIDs":\\["task_a","task_b"\\],"ChordTriggered":false,"Lock":false,"CreatedAt":"[0-9T:.-]+Z","TTL":0\\}$`,
      ),
    );
    const created = /"CreatedAt":"([^"]+)"/.exec(init!)![1];
    assert.equal(await backend.triggerChord(id), true);
    const expected = vector(
      vector(
        vectors.group_metas["groupmeta triggered"],
        "group_00000000-0000-4000-8000-0000000000ff",
        id,
      ),
      "2025-01-02T03:04:05.123456Z",
      created,
    );
    assert.equal(await raw.get(id), expected);
    assert.equal(await backend.triggerChord(id), false);
    const meta = await raw.meta(id);
    assert.ok(meta!.ttl > ttl - 10, `ttl ${meta?.ttl}`);
  });

  it("leaves the chord to a Go worker that holds the group's Lock", async () => {
    const id = group();
    const json =
      `{"GroupUUID":"${id}","TaskUUIDs":["task_a"],"ChordTriggered":false,"Lock":true,"CreatedAt":"2025-01-02T03:04:05.123456Z","TTL":0}`;
    assert.equal(await raw.command(`set ${id} 0 60 ${json.length}\r\n${json}`), "STORED");
    assert.equal(await backend.triggerChord(id), false);
    assert.equal(await raw.get(id), json);
  });

  it("routes keys over several servers by CRC-32, never failing over", async () => {
    // The second server is a closed port: keys routed to it fail, the others land on the first.
    const first = MEMCACHE_URL.replace(/^memcache:\/\//i, "").split(",")[0];
    const two = new MemcacheBackend(`memcache://${first},127.0.0.1:1`, {
      config: { resultsExpireIn: ttl },
    });
    try {
      let toFirst = 0;
      let toSecond = 0;
      for (let i = 0; i < 16; i++) {
        const sig = task();
        if (pickServer(sig.uuid, 2) === 0) {
          await two.setStatePending(sig);
          assert.ok(await raw.get(sig.uuid), "stored on the first server");
          toFirst++;
        } else {
          await assert.rejects(two.setStatePending(sig), {
            name: "BackendError",
            message: /127\.0\.0\.1:1/,
          });
          assert.equal(await raw.get(sig.uuid), null, "not moved to the first server");
          toSecond++;
        }
      }
      assert.ok(toFirst > 0 && toSecond > 0, `${toFirst} / ${toSecond}`);
    } finally {
      await two.close();
    }
  });

  it("is built from its URL scheme, and refuses calls once closed with a ClosedError", async () => {
    const config = resolveConfig({ resultsExpireIn: ttl });
    const b = await backendFromURL(MEMCACHE_URL, { config: config });
    assert.ok(b instanceof MemcacheBackend);
    const sig = task();
    await b.setStatePending(sig);
    assert.equal((await b.getState(sig.uuid)).state, "PENDING");
    await b.close();
    await assert.rejects(b.getState(sig.uuid), {
      name: "ClosedError",
      message: "The memcache client is closed",
    });
    await assert.rejects(backendFromURL("memcache://127.0.0.1:1", { config: config }), {
      name: "BackendError",
      message: /not reachable/,
    });
  });
});

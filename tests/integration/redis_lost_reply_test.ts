/**
 * A reply lost after Redis ran the command: ioredis sends again, on the new connection, every
 * command that had no reply (`autoResendUnfulfilledCommands`), so a script runs twice. The one
 * whose second run would decide differently is the chord trigger: the first run set
 * `ChordTriggered`, the second found it set, and the worker that had won would be told it lost,
 * so nobody sent the chord callback. A proxy between the backend and Redis swallows the trigger's
 * reply and cuts the connection.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { RedisBackend } from "../../src/redis/mod.ts";
import { TRIGGER_CHORD } from "../../src/redis/_backend_scripts.ts";
import { describeUnless } from "../helpers.ts";
import { startProxy } from "./net_support.ts";
import { deleteRedisKeys, REDIS_URL, redisSkipReason, uniqueName } from "./redis_support.ts";

const skip = await redisSkipReason();

describeUnless(skip, "Redis: a reply lost after the command ran", () => {
  it("the chord trigger sent again still tells its caller it won, and no one else", {
    timeout: 30_000,
  }, async () => {
    const sha = createHash("sha1").update(TRIGGER_CHORD.lua).digest("hex");
    const target = new URL(REDIS_URL);
    const proxy = await startProxy({
      mode: "forward",
      target: { host: target.hostname, port: Number(target.port || 6379) },
      // EVALSHA, or EVAL with the text when Redis does not know the script yet.
      cutReplyTo: (request) => request.includes(sha) || request.includes(TRIGGER_CHORD.lua),
    });
    const group = uniqueName("lost_reply_group");
    const keyPrefix = `${group}:`;
    const url = `redis://127.0.0.1:${proxy.port}`;
    const backend = new RedisBackend(url, { keyPrefix, onError: () => {} });
    const other = new RedisBackend(REDIS_URL, { keyPrefix, onError: () => {} });
    try {
      await backend.initGroup(group, [`${group}-a`, `${group}-b`]);
      assert.equal(await backend.triggerChord(group), true, "the caller whose run set the flag");
      assert.ok(proxy.cutOnce(), "the trigger's reply was lost and the script sent again");
      assert.equal(await other.triggerChord(group), false, "any other caller");
      assert.equal(await backend.triggerChord(group), false, "a later call of the winner too");
    } finally {
      await backend.close();
      await other.close();
      await proxy.close();
      await deleteRedisKeys([group], [keyPrefix]);
    }
  });
});

/**
 * OpenTelemetry spans through the application's API object, recorded by the SDK's in-memory
 * exporter: the sender's `send` span is the parent of the worker's `process` span, a chain's
 * callback links to the task that sent it, a Go sender's `uber-trace-id` is continued, and a
 * server without `tracing` writes no trace header.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as api from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import {
  MemoryBackend,
  MemoryBroker,
  newChain,
  newChord,
  newGroup,
  newSignature,
  Server,
  silentLogger,
  type Worker,
} from "../mod.ts";
import { newArg } from "../src/wire/signature.ts";
import { waitFor } from "./helpers.ts";

const TIMEOUT = { timeout: 30_000 };
const QUEUE = "tracing_q";

describe("tracing", () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  let server: Server;
  let worker: Worker;
  let running: Promise<void>;

  before(() => {
    api.trace.setGlobalTracerProvider(provider);
    // What NodeSDK installs: without it, a task's own spans cannot find the process span.
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    server = new Server({
      broker: MemoryBroker.fromConfig({ defaultQueue: QUEUE }),
      backend: new MemoryBackend(),
      config: { noUnixSignals: true, defaultQueue: QUEUE, broker: "redis://localhost:6379" },
      logger: silentLogger,
      tracing: api,
    });
    server.registerTask("add", (a: number, b: number) => a + b);
    server.registerTask("traced", async () => {
      await Promise.resolve();
      api.trace.getTracer("app").startSpan("inner").end();
    });
    worker = server.newWorker("w", 2);
    running = worker.launch();
  });

  after(async () => {
    await worker.quit();
    await running;
    await server.close();
    await provider.shutdown();
    api.trace.disable();
    api.context.disable();
  });

  const spans = () => exporter.getFinishedSpans();
  const processOf = (uuid: string) =>
    spans().find((s) =>
      s.kind === api.SpanKind.CONSUMER && s.attributes["messaging.message.id"] === uuid
    );
  const sendOf = (uuid: string) =>
    spans().find((s) =>
      s.kind === api.SpanKind.PRODUCER && s.attributes["messaging.message.id"] === uuid
    );

  it("makes the sender's span the parent of the worker's", TIMEOUT, async () => {
    const sig = newSignature("add", [newArg("int64", 1), newArg("int64", 2)]);
    const result = await server.sendTask(sig);
    await result.get({ timeout: 10_000 });
    const process = await waitFor(() => processOf(sig.uuid), "the process span");
    const send = sendOf(sig.uuid)!;
    assert.equal(send.name, `send ${QUEUE}`);
    assert.equal(process.name, `process ${QUEUE}`);
    assert.equal(process.spanContext().traceId, send.spanContext().traceId);
    assert.equal(process.parentSpanContext?.spanId, send.spanContext().spanId);
    assert.deepEqual(
      {
        system: process.attributes["messaging.system"],
        destination: process.attributes["messaging.destination.name"],
        task: process.attributes["machinery.task.name"],
      },
      { system: "redis", destination: QUEUE, task: "add" },
    );
    assert.match(String(sig.headers!.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("links a chain's callback to the task that sent it", TIMEOUT, async () => {
    const first = newSignature("add", [newArg("int64", 1), newArg("int64", 1)]);
    const second = newSignature("add", [newArg("int64", 5)]);
    const result = await server.sendChain(newChain(first, second));
    await result.get({ timeout: 10_000 });
    const firstProcess = await waitFor(() => processOf(first.uuid), "the first process span");
    const secondProcess = await waitFor(() => processOf(second.uuid), "the second process span");
    const links = secondProcess.links.map((l) => l.context.spanId);
    assert.deepEqual(links, [firstProcess.spanContext().spanId]);
    // The callback's send span ran inside the first task's process span: one trace.
    const secondSend = sendOf(second.uuid)!;
    assert.equal(secondSend.parentSpanContext?.spanId, firstProcess.spanContext().spanId);
    assert.equal(secondProcess.parentSpanContext?.spanId, secondSend.spanContext().spanId);
    assert.equal(secondProcess.spanContext().traceId, firstProcess.spanContext().traceId);
  });

  it("links a chord's callback to the member that sent it", TIMEOUT, async () => {
    const members = [1, 2].map((i) =>
      newSignature("add", [newArg("int64", i), newArg("int64", i)])
    );
    const callback = newSignature("add", []);
    const result = await server.sendChord(newChord(newGroup(...members), callback));
    await result.get({ timeout: 10_000 });
    const callbackProcess = await waitFor(() => processOf(callback.uuid), "the callback span");
    const memberSpans = members.map((m) => processOf(m.uuid)!.spanContext().spanId);
    const links = callbackProcess.links.map((l) => l.context.spanId);
    assert.equal(links.length, 1);
    assert.ok(memberSpans.includes(links[0]), "linked to the member that triggered the chord");
  });

  it("runs the task with its process span active", TIMEOUT, async () => {
    const sig = newSignature("traced", []);
    await (await server.sendTask(sig)).get({ timeout: 10_000 });
    const process = await waitFor(() => processOf(sig.uuid), "the process span");
    const inner = spans().find((s) => s.name === "inner")!;
    assert.equal(inner.parentSpanContext?.spanId, process.spanContext().spanId);
  });

  it("continues a Go sender's uber-trace-id", TIMEOUT, async () => {
    const sig = newSignature("add", [newArg("int64", 2), newArg("int64", 2)]);
    sig.headers = { "uber-trace-id": "abc:def:0:1" };
    await server.backend.setStatePending(sig);
    await server.broker.publish(sig); // as Go publishes: no traceparent
    const process: ReadableSpan = await waitFor(() => processOf(sig.uuid), "the process span");
    assert.equal(process.spanContext().traceId, `${"0".repeat(29)}abc`);
    assert.equal(process.parentSpanContext?.spanId, `${"0".repeat(13)}def`);
  });

  it("writes no trace header without tracing", TIMEOUT, async () => {
    const plain = new Server({
      broker: new MemoryBroker(),
      backend: new MemoryBackend(),
      config: { noUnixSignals: true },
      logger: silentLogger,
    });
    try {
      const sig = newSignature("add", []);
      await plain.sendTask(sig);
      assert.equal(sig.headers!.traceparent, undefined);
      assert.equal(plain.tracing, undefined);
    } finally {
      await plain.close();
    }
  });
});

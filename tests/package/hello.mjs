// The seed article's HelloWorld through the installed package: run from a fresh project with
// `node hello.mjs [brokerURL] [backendURL]` (or `bun hello.mjs …`); prints the task's results.
import { newSignature, Server } from "@machinery/machinery";

const [broker = "memory://", resultBackend = "memory://"] = process.argv.slice(2);
const server = await Server.fromConfig({
  broker,
  resultBackend,
  defaultQueue: `machinery_package_${crypto.randomUUID()}`,
  resultsExpireIn: 60,
  noUnixSignals: true,
});
try {
  server.registerTask("HelloWorld", (_name) => "Hi, i'm worker@localhost");
  const worker = server.newWorker("worker@localhost", 10);
  const running = worker.launch();
  try {
    const asyncResult = await server.sendTask(
      newSignature("HelloWorld", [{ name: "", type: "string", value: "Hello, machinery" }]),
    );
    console.log(JSON.stringify(await asyncResult.get({ pollInterval: 5, timeout: 30_000 })));
  } finally {
    await worker.quit();
    await running;
  }
} finally {
  await server.close();
}

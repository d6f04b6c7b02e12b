// Reads `deno info --json mod.ts` on stdin and fails if mod.ts statically reaches a driver
// (ioredis, amqplib, memjs, mongodb): adapters must load only through dynamic imports.
const DRIVERS = ["ioredis", "amqplib", "memjs", "mongodb", "bullmq", "@opentelemetry\/api"];
let text = "";
process.stdin.on("data", (d) => text += d).on("end", () => {
  const info = JSON.parse(text);
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set();
  const stack = [...info.roots];
  const npm = new Set();
  while (stack.length) {
    const spec = stack.pop();
    if (seen.has(spec)) continue;
    seen.add(spec);
    const mod = bySpecifier.get(spec);
    for (const dep of mod?.dependencies ?? []) {
      if (dep.isDynamic) continue;
      for (const target of [dep.code?.specifier, dep.type?.specifier]) {
        if (!target) continue;
        if (target.startsWith("npm:")) npm.add(target);
        else stack.push(target);
      }
    }
  }
  const found = [...npm].filter((s) => DRIVERS.some((d) => new RegExp(`^npm:/?${d}@`).test(s)));
  console.log(`mod.ts statically imports: ${[...npm].join(", ") || "no npm packages"}`);
  if (found.length) {
    console.error(`mod.ts must not load a driver: ${found.join(", ")}`);
    process.exit(1);
  }
});

// npm run build: ESM modules with type declarations (tsc) in dist/, plus one self-contained
// ESM file, dist/clarion-client.js, for a plain <script type="module"> page without a bundler.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

rmSync(join(root, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(root, "tsconfig.json")], { stdio: "inherit" });

const esbuild = await import("esbuild");
await esbuild.build({
  entryPoints: [join(root, "src/index.ts")],
  outfile: join(root, "dist/clarion-client.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
});
console.log("built dist/ (modules + .d.ts) and dist/clarion-client.js (browser bundle)");

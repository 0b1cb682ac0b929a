// npm run build: typecheck, then bundle src/ (and the clarion-client sources it imports) into
// src/clarion/server/static/clarion-ui/: app.<hash>.js and app.<hash>.css, gzip and brotli copies (whitenoise serves them to browsers that accept them) and
// manifest.json, which the server reads to name the current files in the page. File names carry
// a content hash, so the server can let browsers cache them forever. The service worker
// (src/sw.ts) is the exception: sw.js, un-hashed, which the server serves at /sw.js.
//
// `--no-check` skips the typecheck (the bundle does not need it; the test command keeps it).
// Source maps only when asked for (CLARION_UI_SOURCEMAPS=1): they are four times the size of the
// bundle, and whatever lies in the static folder goes into the wheel and out to every install.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const outDir = join(root, "../../src/clarion/server/static/clarion-ui");
const tmpDir = `${outDir}.tmp`;

if (!process.argv.includes("--no-check")) {
  try {
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(root, "tsconfig.json")], { stdio: "inherit" });
  } catch {
    console.error("clients/web: typecheck failed (above); nothing was built");
    process.exit(1);
  }
}

const esbuild = await import("esbuild");
rmSync(tmpDir, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: { app: join(root, "src/main.ts") },
  outdir: tmpDir,
  entryNames: "[name].[hash]",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  sourcemap: process.env.CLARION_UI_SOURCEMAPS === "1" ? "linked" : false,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  tsconfig: join(root, "tsconfig.json"), // its `paths` map clarion-client to ../js/src
});

// The service worker: its own bundle under a stable name, served at /sw.js by the server (a
// worker's scope is the folder of its URL, and browsers look for updates at the same URL).
await esbuild.build({
  entryPoints: [join(root, "src/sw.ts")],
  outfile: join(tmpDir, "sw.js"),
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2020",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  tsconfig: join(root, "tsconfig.json"),
});

const manifest = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  const name = basename(file);
  if (meta.entryPoint) manifest["app.js"] = `clarion-ui/${name}`;
  else if (name.endsWith(".css")) manifest["app.css"] = `clarion-ui/${name}`;
}
if (!manifest["app.js"] || !manifest["app.css"]) throw new Error(`unexpected build output: ${JSON.stringify(manifest)}`);

let sizes = [];
for (const key of ["app.js", "app.css"]) {
  const path = join(tmpDir, basename(manifest[key]));
  const body = readFileSync(path);
  const gz = gzipSync(body, { level: 9 });
  writeFileSync(`${path}.gz`, gz);
  writeFileSync(`${path}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  sizes.push(`${basename(path)} ${(body.length / 1024).toFixed(1)} kB (${(gz.length / 1024).toFixed(1)} kB gzip)`);
}
writeFileSync(join(tmpDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");

// Swap the whole directory at once, so a running server never serves half a build.
mkdirSync(dirname(outDir), { recursive: true });
rmSync(outDir, { recursive: true, force: true });
renameSync(tmpDir, outDir);
console.log(`built ${relative(process.cwd(), outDir)}/: ${sizes.join(", ")}`);

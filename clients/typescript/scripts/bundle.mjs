// Bundles the client and @msgpack/msgpack into one browser ES module:
// web/console/lib/sampan-client.js (or the path given as the first argument).
// node:net / node:tls stay external: they are only imported, dynamically, for tcp:// servers in Node.js.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(resolve(pkgDir, "package.json"), "utf8"));
const out = process.argv[2] ? resolve(process.argv[2]) : resolve(pkgDir, "../../web/console/lib/sampan-client.js");

await build({
  entryPoints: [resolve(pkgDir, "src/index.ts")],
  absWorkingDir: pkgDir,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "none",
  external: ["node:*"],
  outfile: out,
  banner: {
    js: `// ${pkg.name} ${pkg.version}, with @msgpack/msgpack: built from clients/typescript by \`npm run bundle\`; do not edit.`,
  },
  logLevel: "warning",
});

// Builds the npm package into dist/: the wasm module (cargo, wasm-bindgen, wasm-opt) and the
// JS API bundled with the wasm-bindgen glue into one minified module (esbuild), then prints
// the gzip size of what a page loads: dist/index.js and dist/wasm/rtmpws_wasm_bg.wasm.
// dist/wasm/rtmpws_wasm.js (the glue on its own) stays for direct use of Connection/Player.
//
// wasm-opt comes from the npm package `binaryen`: Debian's binaryen is too old for the
// reference-types output of current wasm-bindgen and produces a broken module.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, 'target');

function run(command, args, env = {}) {
  console.log(`$ ${command} ${args.join(' ')}`);
  execFileSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
}

/** A tool from PATH, else from ~/.cargo/bin (where `cargo install` puts wasm-bindgen). */
function tool(name) {
  const cargoBin = join(homedir(), '.cargo', 'bin', name);
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) {
      return join(dir, name);
    }
  }
  return existsSync(cargoBin) ? cargoBin : name;
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'wasm'), { recursive: true });

// The wasm-release profile does not strip: wasm-bindgen reads the target_features section to
// know which wasm features it may use; wasm-opt strips afterwards.
run('cargo', ['build', '--profile', 'wasm-release', '--target', 'wasm32-unknown-unknown', '-p', 'rtmpws-wasm']);
const built = join(targetDir, 'wasm32-unknown-unknown', 'wasm-release', 'rtmpws_wasm.wasm');
run(tool('wasm-bindgen'), ['--target', 'web', '--out-dir', join(dist, 'wasm'), built]);

const wasm = join(dist, 'wasm', 'rtmpws_wasm_bg.wasm');
const wasmOpt = join(root, 'node_modules', '.bin', 'wasm-opt');
if (!existsSync(wasmOpt)) {
  throw new Error('wasm-opt is missing: run `npm install` (it comes from the npm package binaryen)');
}
const before = statSync(wasm).size;
// The features rustc enables by default for wasm32-unknown-unknown (all in every current
// browser); wasm-opt must be told, or it rejects the module.
const features = [
  '--enable-bulk-memory',
  '--enable-bulk-memory-opt',
  '--enable-nontrapping-float-to-int',
  '--enable-sign-ext',
  '--enable-mutable-globals',
  '--enable-reference-types',
  '--enable-multivalue',
];
run(wasmOpt, ['-Oz', ...features, '--strip-debug', '--strip-producers', wasm, '-o', wasm]);
console.log(`wasm-opt: ${before} -> ${statSync(wasm).size} bytes`);

// wasm-bindgen names every import `__wbg_<name>_<16 hex digits>` in module
// "./rtmpws_wasm_bg.js" (about 3 KB of names, the hashes incompressible). wasm-opt shortens
// import, export and module names and prints the mapping; the glue is rewritten to match.
const mapping = JSON.parse(
  execFileSync(wasmOpt, ['--minify-imports-and-exports-and-modules', ...features, wasm, '-o', wasm], { cwd: root, encoding: 'utf8' }),
);
const glue = join(dist, 'wasm', 'rtmpws_wasm.js');
let glueText = readFileSync(glue, 'utf8');
const moduleNames = new Map();
const importNames = new Map();
for (const [module, name, short] of mapping.imports) {
  importNames.set(name, short);
  moduleNames.set(module, null);
}
const minified = WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasm)));
if (moduleNames.size !== 1 || new Set(minified.map((i) => i.module)).size !== 1) {
  throw new Error(`expected one import module, got ${[...moduleNames.keys()]}`);
}
const [oldModule] = moduleNames.keys();
const newModule = minified[0].module;
const exportNames = new Map(mapping.exports);
glueText = glueText
  .replace(`${JSON.stringify(oldModule)}: import0`, `${JSON.stringify(newModule)}: import0`)
  // Import functions are the keys of the import0 object literal: `        __wbg_x_0123: function(`.
  .replace(/^(\s+)([\w$]+):(?= function)/gm, (whole, indent, name) => (importNames.has(name) ? `${indent}${importNames.get(name)}:` : whole))
  .replace(/\bwasm\.([\w$]+)/g, (whole, name) => (exportNames.has(name) ? `wasm.${exportNames.get(name)}` : whole));
writeFileSync(glue, glueText);
rmSync(join(dist, 'wasm', 'rtmpws_wasm_bg.wasm.d.ts'), { force: true });
// Check the rewrite: every import the module declares is provided, every export the glue uses exists.
{
  const provided = new Set([...glueText.matchAll(/^\s+([\w$]+):(?= function)/gm)].map((m) => m[1]));
  const missing = minified.filter((i) => !provided.has(i.name)).map((i) => i.name);
  const exported = new Set(WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(wasm))).map((e) => e.name));
  const unknown = [...new Set([...glueText.matchAll(/\bwasm\.([\w$]+)/g)].map((m) => m[1]))].filter((n) => !exported.has(n));
  if (missing.length > 0 || unknown.length > 0) {
    throw new Error(`glue rewrite failed: imports not provided ${missing}, exports not found ${unknown}`);
  }
}
console.log(`names minified: ${mapping.imports.length} imports, ${mapping.exports.length} exports -> ${statSync(wasm).size} bytes`);

// The JS API and the glue in one module, minified. The sources are staged next to dist/wasm
// (they import './wasm/rtmpws_wasm.js'), bundled, and the staged copies removed.
const staged = [];
for (const file of readdirSync(join(root, 'js'))) {
  if (file.endsWith('.d.ts')) {
    copyFileSync(join(root, 'js', file), join(dist, file));
  } else if (file.endsWith('.js')) {
    copyFileSync(join(root, 'js', file), join(dist, `.${file}`));
    staged.push(join(dist, `.${file}`));
  }
}
for (const file of staged) {
  // Staged modules import each other by their real names.
  const text = readFileSync(file, 'utf8').replace(/from '\.\/(?!wasm\/)([\w-]+)\.js'/g, "from './.$1.js'");
  writeFileSync(file, text);
}
const esbuild = await import('esbuild');
await esbuild.build({
  entryPoints: [join(dist, '.index.js')],
  outfile: join(dist, 'index.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [
    {
      // The glue's fallback wasm URL is relative to the glue; in the bundle it must be
      // relative to dist/index.js (index.js passes the URL anyway, but bundlers follow both).
      name: 'glue-wasm-url',
      setup(build) {
        build.onLoad({ filter: /rtmpws_wasm\.js$/ }, (args) => ({
          contents: readFileSync(args.path, 'utf8').replace("new URL('rtmpws_wasm_bg.wasm', import.meta.url)", "new URL('./wasm/rtmpws_wasm_bg.wasm', import.meta.url)"),
          loader: 'js',
        }));
      },
    },
  ],
});
for (const file of staged) {
  rmSync(file);
}

// What a page loads: the bundle and the wasm.
const loaded = [join(dist, 'index.js'), wasm];
let raw = 0;
let gzip = 0;
console.log('\nsize of what a page loads (raw / gzip -9):');
for (const file of loaded) {
  const bytes = readFileSync(file);
  const zipped = gzipSync(bytes, { level: 9 }).length;
  raw += bytes.length;
  gzip += zipped;
  console.log(`  ${relative(root, file).padEnd(32)} ${String(bytes.length).padStart(8)} ${String(zipped).padStart(8)}`);
}
console.log(`  ${'total'.padEnd(32)} ${String(raw).padStart(8)} ${String(gzip).padStart(8)}`);

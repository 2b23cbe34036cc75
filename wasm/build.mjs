// Builds the npm package into dist/: the wasm module (cargo, wasm-bindgen, wasm-opt) and the
// JS sources, then prints the gzip size of what a page loads.
//
// wasm-opt comes from the npm package `binaryen`: Debian's binaryen is too old for the
// reference-types output of current wasm-bindgen and produces a broken module.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
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

for (const file of readdirSync(join(root, 'js'))) {
  if (file.endsWith('.js') || file.endsWith('.d.ts')) {
    copyFileSync(join(root, 'js', file), join(dist, file));
  }
}

// What a page loads: every module reachable from index.js, and the wasm.
const loaded = [
  ...readdirSync(dist).filter((f) => f.endsWith('.js')).map((f) => join(dist, f)),
  join(dist, 'wasm', 'rtmpws_wasm.js'),
  wasm,
];
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

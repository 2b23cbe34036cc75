// Copies the browser libraries the pages in www/ load into www/vendor/ (served with the page,
// no CDN): uPlot, the time-series charts of the dashboard. Run by `npm run build`.

import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const copies = [
  ['node_modules/uplot/dist/uPlot.esm.js', 'www/vendor/uplot/uPlot.esm.js'],
  ['node_modules/uplot/dist/uPlot.min.css', 'www/vendor/uplot/uPlot.min.css'],
  ['node_modules/uplot/LICENSE', 'www/vendor/uplot/LICENSE'],
];
for (const [from, to] of copies) {
  const source = join(root, from);
  if (!existsSync(source)) {
    throw new Error(`${from} is missing: run \`npm install\``);
  }
  mkdirSync(dirname(join(root, to)), { recursive: true });
  copyFileSync(source, join(root, to));
  console.log(`${relative(root, source)} -> ${to}`);
}

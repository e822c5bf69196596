// Completes dist/ after tsc: the page, its style sheet, and socket.io-client's browser module,
// which index.html maps the bare name `socket.io-client` to (no bundler needed).
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(web, 'dist');
const require = createRequire(import.meta.url);
// The package exports only some of its dist files; its package.json leads to the others.
const clientDist = path.join(path.dirname(require.resolve('socket.io-client/package.json')), 'dist');

await mkdir(path.join(dist, 'vendor'), { recursive: true });
await copyFile(path.join(web, 'static', 'index.html'), path.join(dist, 'index.html'));
for (const file of ['style.css', 'favicon.svg']) {
  await copyFile(path.join(web, 'static', file), path.join(dist, file));
}
for (const file of ['socket.io.esm.min.js', 'socket.io.esm.min.js.map']) {
  await copyFile(path.join(clientDist, file), path.join(dist, 'vendor', file));
}

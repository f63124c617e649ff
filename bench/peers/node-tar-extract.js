// The Node peer of `whiteout unpack`: node-tar's extract, as an application
// would call it. node-tar is installed at run time into bench/out/peers (see
// bench/run.js) so it never becomes a dependency of the project.
// usage: node bench/peers/node-tar-extract.js <layer.tar[.gz]> <dir>
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const peers = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'out', 'peers');
const require = createRequire(path.join(peers, 'package.json'));
/** @type {{ x(opt: { file: string, cwd: string, preserveOwner?: boolean }): Promise<void> }} */
const tar = require('tar');

const [file, cwd] = process.argv.slice(2);
if (!file || !cwd) {
  process.stderr.write('usage: node-tar-extract.js <layer> <dir>\n');
  process.exit(2);
}
// As root node-tar keeps owners by default; say so, since whiteout and GNU tar do too.
await tar.x({ file, cwd, preserveOwner: true });

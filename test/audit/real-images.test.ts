/**
 * The audit on images other tools made: dive's test image (a file deleted by
 * a whiteout, a whole directory deleted, a file overwritten by chmod) and the
 * buildah example with its fake secrets. Sizes and bytes are checked against
 * GNU tar's extraction of the same layers, not against numbers written here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasRealImages, rmrf, tempDir } from '../image/helpers.js';
import { GnuLayer, type JsonItem, built, dive, dockerLayers, exampleDocker, exampleOci, helloWorld, hiddenJson, ociLayers, run } from './helpers.js';

if (!hasRealImages) console.warn('SKIPPED: audit of real images: ../shared/real-images is missing');
const tmp = tempDir('whiteout-audit-');
afterAll(() => rmrf(tmp));

function find(items: JsonItem[], p: string): JsonItem[] {
  return items.filter((i) => i.path === p);
}

describe.runIf(built && hasRealImages)('hidden: dive test image', () => {
  const layers = dockerLayers(dive);
  const doc = hiddenJson([dive]);
  const gnu = (i: number) => new GnuLayer(dive, layers[i]);

  it('somefile1, somefile2 and somefile3 are hidden, in the layers that hold them, with the sizes GNU tar reads', () => {
    const expected: [string, number, 'whiteout' | 'overwritten', number][] = [
      ['/root/example/somefile1.txt', 3, 'overwritten', 4], // chmod 444 in layer 4 copies it up
      ['/root/example/somefile1.txt', 4, 'whiteout', 9], // rm -rf /root/example
      ['/root/example/somefile2.txt', 5, 'whiteout', 9],
      ['/root/example/somefile3.txt', 6, 'whiteout', 7], // mv, a whiteout of the file itself
    ];
    for (const [p, layer, reason, by] of expected) {
      const item = find(doc.hidden, p).find((i) => i.layer === layer);
      expect(item, `${p} in layer ${layer}`).toBeDefined();
      const g = gnu(layer);
      try {
        expect(item).toMatchObject({ type: 'file', reason, hiddenBy: by, size: g.size(p) });
        expect(g.size(p)).toBeGreaterThan(0);
      } finally {
        g.remove();
      }
      expect(item?.diffID).toBe(doc.layers[layer]?.diffID);
      expect(item?.createdBy).toContain(layer === 4 ? 'chmod 444' : 'cp /somefile.txt');
    }
  });

  it('the overwritten /root/saved.txt and the whited-out directories are hidden; /root, merged, is not', () => {
    expect(find(doc.hidden, '/root/saved.txt')).toMatchObject([{ layer: 7, reason: 'overwritten', hiddenBy: 13 }]);
    expect(find(doc.hidden, '/root/example/really/nested')).toMatchObject([{ layer: 2, type: 'dir', reason: 'whiteout', hiddenBy: 9, size: 0 }]);
    expect(find(doc.hidden, '/root/example').map((i) => i.layer)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(find(doc.hidden, '/root')).toEqual([]);
    // Only these: the busybox base (392 hardlinks) hides nothing and nothing hides it.
    expect(doc.hidden.filter((i) => i.type !== 'dir').map((i) => `${i.layer}:${i.path}`).sort()).toEqual(
      ['3:/root/example/somefile1.txt', '4:/root/example/somefile1.txt', '5:/root/example/somefile2.txt', '6:/root/example/somefile3.txt', '7:/root/saved.txt'].sort(),
    );
  });

  it('wastedBytes is the sum of the hidden files, and each layer says its share', () => {
    const files = doc.hidden.filter((i) => i.type === 'file');
    expect(doc.wastedBytes).toBe(files.reduce((n, i) => n + i.size, 0));
    for (const l of doc.layers) expect(l.wastedBytes).toBe(files.filter((i) => i.layer === l.index).reduce((n, i) => n + i.size, 0));
    expect(doc.secrets).toBe(0);
  });

  it('recover gives each hidden copy the bytes GNU tar extracts from its layer', () => {
    for (const [p, layer] of [
      ['/root/example/somefile1.txt', 3],
      ['/root/example/somefile1.txt', 4],
      ['/root/example/somefile2.txt', 5],
      ['/root/example/somefile3.txt', 6],
    ] as const) {
      const r = run(['recover', dive, p, '--layer', String(layer)]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const g = gnu(layer);
      try {
        expect(r.stdout.equals(g.file(p))).toBe(true);
      } finally {
        g.remove();
      }
    }
    // Without --layer: the topmost copy that is hidden.
    const out = path.join(tmp, 'somefile1.txt');
    const r = run(['recover', dive, '/root/example/somefile1.txt', '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/from layer 4, hidden by layer 9 \(whiteout\)/);
    const g = gnu(4);
    try {
      expect(fs.readFileSync(out).equals(g.file('/root/example/somefile1.txt'))).toBe(true);
    } finally {
      g.remove();
    }
  });

  it('recover of a deleted directory is a tar of it as it was just before (somefile3 was already gone)', () => {
    const out = path.join(tmp, 'example.tar');
    const r = run(['recover', dive, '/root/example', '-o', out]);
    expect(r.code).toBe(0);
    const t = new GnuLayer(out);
    try {
      expect(fs.readdirSync(t.dir)).toEqual(['example']);
      expect(fs.readdirSync(path.join(t.dir, 'example')).sort()).toEqual(['really', 'somefile1.txt', 'somefile2.txt']);
      const l5 = gnu(5);
      expect(t.file('example/somefile2.txt').equals(l5.file('root/example/somefile2.txt'))).toBe(true);
      l5.remove();
      expect(fs.statSync(path.join(t.dir, 'example/somefile1.txt')).mode & 0o777).toBe(0o444);
    } finally {
      t.remove();
    }
  });
});

describe.runIf(built)('hidden: the example image (buildah), both formats', () => {
  for (const [name, image] of [
    ['oci', exampleOci],
    ['docker-archive', exampleDocker],
  ] as const) {
    it(`${name}: the deleted key and token are flagged by name and by content`, () => {
      const doc = hiddenJson([image]);
      const key = find(doc.hidden, '/root/.ssh/id_rsa');
      const env = find(doc.hidden, '/app/.env');
      expect(key).toMatchObject([{ layer: 1, type: 'file', reason: 'whiteout', hiddenBy: 3 }]);
      expect(env).toMatchObject([{ layer: 1, type: 'file', reason: 'whiteout', hiddenBy: 3 }]);
      expect(key[0]?.secrets).toEqual([
        { rule: 'ssh-private-key', match: 'name' },
        { rule: 'private-key', match: 'content' },
      ]);
      expect(env[0]?.secrets).toEqual([
        { rule: 'dotenv', match: 'name' },
        { rule: 'github-token', match: 'content' },
      ]);
      expect(doc.secrets).toBe(2);
      // Nothing else looks like a secret.
      expect(doc.hidden.filter((i) => i.secrets.length > 0)).toHaveLength(2);
    });

    it(`${name}: --fail-on secrets exits 3 with one line per failed policy`, () => {
      const r = run(['hidden', image, '--fail-on', 'secrets']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^whiteout: --fail-on secrets: 2 hidden entries look like secrets \(.*\/root\/.ssh\/id_rsa in layer 1.*\)\n$/);
      expect(run(['hidden', image, '--fail-on', 'secrets', '--no-secrets', '-q']).code).toBe(0);
    });

    it(`${name}: recover writes the exact bytes of the layer (GNU tar) and the script's content`, () => {
      const members = name === 'oci' ? ociLayers(image).map((b) => new GnuLayer(b)) : dockerLayers(image).map((m) => new GnuLayer(image, m));
      try {
        for (const p of ['/root/.ssh/id_rsa', '/app/.env']) {
          const r = run(['recover', image, p]);
          expect([r.code, r.stderr]).toEqual([0, '']);
          expect(r.stdout.equals((members[1] as GnuLayer).file(p))).toBe(true);
        }
        const env = run(['recover', image, '/app/.env']);
        expect([env.code, env.stderr]).toEqual([0, '']);
        expect(env.stdout.toString()).toContain('GITHUB_TOKEN=ghp_FakeTokenForWhiteoutFixtures00000000');
        const key = run(['recover', image, '/root/.ssh/id_rsa']);
        expect([key.code, key.stderr]).toEqual([0, '']);
        expect(key.stdout.toString()).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
      } finally {
        for (const m of members) m.remove();
      }
    });
  }

  it('the oci layout and the docker archive give the same report', () => {
    const a = hiddenJson([exampleOci]);
    const b = hiddenJson([exampleDocker]);
    expect(b.hidden).toEqual(a.hidden);
    expect(b.wastedBytes).toBe(a.wastedBytes);
  });

  it('every cause shows in the example: overwritten copy-up, opaque cache dir, whiteouts, type changes', () => {
    const doc = hiddenJson([exampleOci]);
    const at = (p: string) => find(doc.hidden, p).map((i) => `${i.layer}:${i.type}:${i.reason}:${i.hiddenBy}`);
    expect(at('/app/bin/tool')).toEqual(['0:file:overwritten:2']); // `ln` copied it up into layer 2
    expect(at('/app/cache/c1.txt')).toEqual(['0:file:opaque:4']);
    expect(at('/app/cache/sub')).toEqual(['0:dir:opaque:4']);
    expect(at('/app/cache')).toEqual([]); // the marker hides what is below, not the directory
    expect(at('/app/data/a.txt')).toEqual(['0:file:whiteout:5']);
    expect(at('/app/dir-to-file')).toEqual(['0:dir:overwritten:5']);
    expect(at('/app/dir-to-file/inner.txt')).toEqual(['0:file:overwritten:5']);
    expect(at('/app/file-to-dir')).toEqual(['0:file:overwritten:5']);
    expect(at('/app/plain-delete.txt')).toEqual(['0:file:whiteout:5']);
  });
});

describe.runIf(built && hasRealImages)('hidden: a clean image', () => {
  it('hello-world (Docker 25 save) hides nothing: every policy passes', () => {
    const doc = hiddenJson([helloWorld]);
    expect(doc.hidden).toEqual([]);
    expect(doc.wastedBytes).toBe(0);
    const r = run(['hidden', helloWorld, '--fail-on', 'secrets,hidden', '--fail-on', 'wasted:0']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toContain('nothing hidden');
  });
});

/**
 * The hostile corpus: crafted layers, each with what must happen to it.
 * Categories follow spec-security.md §6.6. A case is built per sandbox, since
 * many aim at the sandbox's own victim directory by absolute path.
 *
 * Expectations follow SPEC.md; where SPEC leaves a choice open the case says
 * `either` (success or a clean failure) and only the safety promises are checked.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { B, C, D, F, type Form, type Logical, OPQ, P, S, type Tree, W } from '../helpers/hostile-expect.js';
import * as T from '../helpers/hostile-tar.js';

export type Category =
  | 'names'
  | 'symlink'
  | 'symlink-cross-layer'
  | 'hardlink'
  | 'whiteout-names'
  | 'whiteout-through-links'
  | 'opaque'
  | 'overlay-xattrs'
  | 'devices'
  | 'duplicates'
  | 'pax-gnu'
  | 'limits'
  | 'corrupt'
  | 'real-image'
  | 'image-layout';

export type Outcome = { ok: Tree } | { err: RegExp } | { any: true };
export const ok = (t: Tree): Outcome => ({ ok: t });
export const err = (re: RegExp): Outcome => ({ err: re });
export const either: Outcome = { any: true };

export interface Ctx {
  /** Absolute path of the victim directory beside the target. */
  victim: string;
  /** A relative path that climbs from any depth in the target to `victim/<rel>`. */
  up(rel: string): string;
}

export type Command = 'unpack' | 'to-overlay' | 'to-oci' | 'flatten';

export interface Body {
  /** Layers below the subject, bottom first (unpacked with the same form and given as --lower). */
  lowers?: Buffer[];
  layer: Buffer;
  unpack: Outcome | ((form: Form) => Outcome);
  /** Default: what unpack expects in the device form. */
  toOverlay?: Outcome;
  /** Default: any (the input is read as the overlay form, where `.wh.` names and such mean other things). */
  toOci?: Outcome;
  /** Default: for one layer, unpack's device outcome without markers; with lowers, any. */
  flatten?: Outcome;
  /** flatten -o out.tar (default: flatten's outcome, xattrs as the image has them, i.e. unescaped). */
  flattenTar?: Outcome;
  /** A flatten input other than the layer files (e.g. an image archive). */
  flattenInput?: Buffer;
  /** Extra flags for unpack and convert (limits). */
  args?: string[];
  /** Also run the xattr and device forms with --userxattr. */
  userxattr?: boolean;
  /** Commands to run (default all). */
  only?: Command[];
  /** A warning unpack must print on success. */
  warn?: RegExp;
  /** More checks on a successful unpack or convert --to overlay (problems, empty when fine). */
  extra?: (t: Logical) => string[];
}

export interface CaseDef {
  id: string;
  cat: Category;
  /** One line: the attack, or the tricky-but-valid input. */
  what: string;
  make(ctx: Ctx): Body;
}

const cases: CaseDef[] = [];
const add = (id: string, cat: Category, what: string, make: (ctx: Ctx) => Body) => cases.push({ id, cat, what, make });

const pwn = 'pwned by the layer\n';

/** Expected implied dirs for a path: every ancestor as a plain dir. */
function withParents(t: Tree): Tree {
  const out: Tree = { ...t };
  for (const p of Object.keys(t)) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const a = parts.slice(0, i).join('/');
      if (!(a in out)) out[a] = D();
    }
  }
  return out;
}

// ---- 1. names ----------------------------------------------------------------

add('name-absolute', 'names', 'an absolute name is stored under the root (valid)', () => ({
  layer: T.tar(T.file('/etc/x', 'x')),
  unpack: ok({ etc: D(), 'etc/x': F('x') }),
}));
add('name-many-slashes', 'names', '////etc//x: every leading slash stripped (node-tar CVE-2021-32804)', () => ({
  layer: T.tar(T.file('////etc//x', 'x')),
  unpack: ok({ etc: D(), 'etc/x': F('x') }),
}));
add('name-dotdot-leading', 'names', '../…/victim/pwned', (c) => ({
  layer: T.tar(T.file(c.up('pwned'), pwn)),
  unpack: err(/'\.\.'/),
}));
add('name-dotdot-after-root', 'names', '/../…/victim/pwned', (c) => ({
  layer: T.tar(T.file(`/${c.up('pwned')}`, pwn)),
  unpack: err(/'\.\.'/),
}));
add('name-bare-dotdot', 'names', 'a directory entry named ..', () => ({
  layer: T.tar(T.dir('..', { mode: 0o777 })),
  unpack: err(/'\.\.'/),
}));
add('name-dotdot-middle', 'names', 'a/../../pwned', () => ({
  layer: T.tar(T.dir('a'), T.file('a/../../pwned', pwn)),
  unpack: err(/'\.\.'/),
}));
add('name-dotdot-symlink-name', 'names', 'a symlink whose own name ends in ..', (c) => ({
  layer: T.tar(T.dir('a'), T.symlink('a/..', c.victim)),
  unpack: err(/'\.\.'/),
}));
add('name-root-dot', 'names', './ sets the root metadata (valid)', () => ({
  layer: T.tar(T.dir('./', { mode: 0o750, mtime: 1_234_567_890 }), T.file('./a', 'a')),
  unpack: ok({ '': D({ mode: 0o750, mtime: 1_234_567_890 }), a: F('a') }),
}));
add('name-root-slash', 'names', '/ sets the root metadata (valid)', () => ({
  layer: T.tar(T.dir('/', { mode: 0o700 }), T.file('b', 'b')),
  unpack: ok({ '': D({ mode: 0o700 }), b: F('b') }),
}));
add('name-root-as-file', 'names', './ as a regular file', () => ({
  layer: T.tar(T.file('./', 'x')),
  unpack: err(/root/),
}));
add('name-root-as-symlink', 'names', '. as a symlink to the victim, then a file through it (CVE-2021-29136)', (c) => ({
  layer: T.tar(T.symlink('.', c.victim), T.file('pwned', pwn)),
  unpack: err(/root/),
}));
add('name-empty', 'names', 'an empty name for a regular file', () => ({
  layer: T.tar(T.file('', 'x')),
  unpack: err(/root/),
}));
add('name-nul-in-pax-path', 'names', 'a NUL byte in a PAX path', () => ({
  layer: T.tar(T.pax([['path', Buffer.from('a\0/../../pwned', 'latin1')]]), T.file('a', pwn)),
  unpack: err(/NUL/),
}));
{
  const long = `${Array.from({ length: 28 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(98)}`).join('/')}/leaf`;
  add('name-long-pax', 'names', 'a 2,800-byte name in a PAX record (valid)', () => ({
    layer: T.tar(T.pax([['path', long]]), T.file('short', 'long one')),
    unpack: ok(withParents({ [long]: F('long one') })),
  }));
}
{
  const gnu = `gnu/${'n'.repeat(150)}/file`;
  add('name-long-gnu', 'names', 'a GNU long name (valid)', () => ({
    layer: T.tar(T.gnuLong('L', gnu), T.file('truncated', 'gnu')),
    unpack: ok(withParents({ [gnu]: F('gnu') })),
  }));
}
add('name-ustar-prefix', 'names', 'a name split into ustar prefix and name (valid)', () => ({
  layer: T.tar(T.entry({ prefix: 'pfx/dir', name: 'file', typeflag: '0' }, 'p')),
  unpack: ok({ pfx: D(), 'pfx/dir': D(), 'pfx/dir/file': F('p') }),
}));
add('name-over-path-max', 'names', 'a 5,000-byte path', () => ({
  layer: T.tar(T.pax([['path', `${'p/'.repeat(2500)}x`]]), T.file('x', 'x')),
  unpack: err(/--max-path/),
}));
add('name-component-too-long', 'names', 'one 300-byte component (over NAME_MAX)', () => ({
  layer: T.tar(T.pax([['path', 'a'.repeat(300)]]), T.file('x', 'x')),
  unpack: err(/too long/i),
  toOverlay: either,
  // Only a file system has NAME_MAX; a tar holds the name.
  flattenTar: ok({ ['a'.repeat(300)]: F('x') }),
}));
add('name-non-utf8', 'names', 'names that are not UTF-8 (valid, kept byte for byte)', () => ({
  layer: T.tar(T.dir(Buffer.from('d\xff\xfe/', 'latin1')), T.file(Buffer.from('d\xff\xfe/caf\xe9', 'latin1'), 'latin1')),
  unpack: ok({ 'd\xff\xfe': D(), 'd\xff\xfe/caf\xe9': F('latin1') }),
}));
add('name-backslash', 'names', '..\\..\\pwned is one ordinary name on Linux (valid)', () => ({
  layer: T.tar(T.file('..\\..\\pwned', 'b')),
  unpack: ok({ '..\\..\\pwned': F('b') }),
}));
add('name-dot-components', 'names', './a/./b/. (valid)', () => ({
  layer: T.tar(T.file('./a/./b/.', 'ab')),
  unpack: ok({ a: D(), 'a/b': F('ab') }),
}));

// ---- 2. symlinks within a layer ----------------------------------------------

add('symlink-abs-then-write', 'symlink', 'l -> /victim, then l/pwned', (c) => ({
  layer: T.tar(T.symlink('l', c.victim), T.file('l/pwned', pwn)),
  // SPEC §6: a dir replacing the layer's own non-dir is new and opaque (the link had already hidden what was below).
  unpack: ok({ l: OPQ(), 'l/pwned': F(pwn) }),
  warn: /replaced by a directory/,
}));
add('symlink-rel-then-write', 'symlink', 'l -> ../../…/victim, then l/pwned', (c) => ({
  layer: T.tar(T.symlink('l', c.up('')), T.file('l/pwned', pwn)),
  unpack: ok({ l: OPQ(), 'l/pwned': F(pwn) }),
}));
add('symlink-two-hop', 'symlink', 'inner/go_up -> .., inner/go_up/escape -> victim, then a file (moby TestUntarSymlinkBreakout)', (c) => ({
  layer: T.tar(T.dir('inner'), T.symlink('inner/go_up', '..'), T.symlink('inner/go_up/escape', c.up('')), T.file('inner/go_up/escape/newfile', pwn)),
  unpack: ok({ inner: D(), 'inner/go_up': OPQ(), 'inner/go_up/escape': OPQ(), 'inner/go_up/escape/newfile': F(pwn) }),
}));
add('symlink-rel-before-abs', 'symlink', 'escape -> .., absolute -> /victim, escape/absolute/file (moby)', (c) => ({
  layer: T.tar(T.symlink('escape', '..'), T.symlink('absolute', c.victim), T.file('escape/absolute/file', pwn)),
  unpack: ok({ escape: OPQ(), 'escape/absolute': D(), 'escape/absolute/file': F(pwn), absolute: S(c.victim) }),
}));
add('symlink-then-dir-entry', 'symlink', 'l -> /victim, then a dir entry l/ with mode 0777 (chmod through the link)', (c) => ({
  layer: T.tar(T.symlink('l', c.victim), T.dir('l/', { mode: 0o777 })),
  unpack: ok({ l: OPQ({ mode: 0o777 }) }),
}));
add('symlink-cache-poisoning', 'symlink', 'dir d, d/x, then d -> /victim, then d/y (CVE-2025-47290, node-tar cache)', (c) => ({
  layer: T.tar(T.dir('d'), T.file('d/x', '1'), T.symlink('d', c.victim), T.file('d/y', pwn)),
  unpack: ok({ d: OPQ(), 'd/y': F(pwn) }),
}));
add('symlink-chain', 'symlink', 'a -> b, b -> /victim, then a/x', (c) => ({
  layer: T.tar(T.symlink('a', 'b'), T.symlink('b', c.victim), T.file('a/x', pwn)),
  unpack: ok({ a: OPQ(), 'a/x': F(pwn), b: S(c.victim) }),
}));
add('symlink-hardlink-chmod', 'symlink', 'l -> victim/secret, hardlink h => l with mode 4777 (CVE-2021-32760)', (c) => ({
  layer: T.tar(T.symlink('l', `${c.victim}/secret`), T.hardlink('h', 'l', { mode: 0o4777 })),
  unpack: ok({ l: S(`${c.victim}/secret`), h: S(`${c.victim}/secret`, { same: 'l' }) }),
}));
add('symlink-replaced-by-file', 'symlink', 'l -> victim/secret, then a regular file l (must not write through)', (c) => ({
  layer: T.tar(T.symlink('l', `${c.victim}/secret`), T.file('l', pwn)),
  unpack: ok({ l: F(pwn) }),
}));
add('symlink-metadata', 'symlink', 'l -> victim/secret with owner, mtime and a trusted xattr: applied to the link only', (c) => ({
  layer: T.tar(T.pax([['SCHILY.xattr.trusted.pwned', 'yes']]), T.symlink('l', `${c.victim}/secret`, { uid: 1234, gid: 1234, mtime: 1 })),
  unpack: ok({ l: S(`${c.victim}/secret`, { uid: 1234, gid: 1234, mtime: 1, xattrs: { 'trusted.pwned': 'yes' } }) }),
}));
add('symlink-dead-parent', 'symlink', 'dead -> victim/nonexistent, then dead/x (must not create victim/nonexistent)', (c) => ({
  layer: T.tar(T.symlink('dead', `${c.victim}/nonexistent`), T.file('dead/x', pwn)),
  unpack: ok({ dead: OPQ(), 'dead/x': F(pwn) }),
}));
add('symlink-absolute-verbatim', 'symlink', 'absolute and escaping symlinks are data, stored verbatim (valid)', (c) => ({
  layer: T.tar(T.symlink('abs', '/etc/shadow'), T.symlink('rel', '../../../../etc/shadow'), T.symlink('v', c.victim)),
  unpack: ok({ abs: S('/etc/shadow'), rel: S('../../../../etc/shadow'), v: S(c.victim) }),
}));

add('symlink-empty-target', 'symlink', 'a symlink with an empty target (symlink(2) refuses it; found by the fuzzer)', () => ({
  layer: T.tar(T.symlink('l', '')),
  unpack: err(/'l'/),
  toOverlay: either,
}));

// ---- 2b. symlinks across layers ---------------------------------------------

add('cross-write-through', 'symlink-cross-layer', 'L0: l -> /victim; L1: l/pwned', (c) => ({
  lowers: [T.tar(T.symlink('l', c.victim))],
  layer: T.tar(T.file('l/pwned', pwn)),
  // The implied dir must not take the victim's metadata (mode 0751, an xattr) through the lower link.
  unpack: ok({ l: D({ mode: 0o755, uid: 0, mtime: 0 }), 'l/pwned': F(pwn) }),
  flatten: ok({ l: D({ mode: 0o755, mtime: 0 }), 'l/pwned': F(pwn) }),
}));
add('cross-write-deep-relative', 'symlink-cross-layer', 'L0: l -> ../…/victim; L1: l/sub/deeper/pwned', (c) => ({
  lowers: [T.tar(T.symlink('l', c.up('')))],
  layer: T.tar(T.file('l/sub/deeper/pwned', pwn)),
  unpack: ok({ l: D(), 'l/sub': D(), 'l/sub/deeper': D(), 'l/sub/deeper/pwned': F(pwn) }),
  flatten: ok({ l: D(), 'l/sub': D(), 'l/sub/deeper': D(), 'l/sub/deeper/pwned': F(pwn) }),
}));
add('cross-whiteout-through', 'symlink-cross-layer', 'L0: l -> /victim; L1: l/.wh.secret', (c) => ({
  lowers: [T.tar(T.symlink('l', c.victim))],
  layer: T.tar(T.file('l/.wh.secret')),
  // SPEC §4: with the lowers known, a whiteout of nothing is dropped (l/secret is not there: l is a link).
  unpack: ok({}),
  toOverlay: ok({ l: D(), 'l/secret': W }),
  // A whiteout never implies its parents: the link stays as it was below.
  flatten: ok({ l: S(c.victim) }),
}));
add('cross-opaque-through', 'symlink-cross-layer', 'L0: l -> /victim; L1: l/.wh..wh..opq', (c) => ({
  lowers: [T.tar(T.symlink('l', c.victim))],
  layer: T.tar(T.file('l/.wh..wh..opq')),
  unpack: ok({ l: OPQ() }),
}));
add('cross-hardlink-through', 'symlink-cross-layer', 'L0: l -> /victim; L1: h => l/secret', (c) => ({
  lowers: [T.tar(T.symlink('l', c.victim))],
  layer: T.tar(T.hardlink('h', 'l/secret')),
  unpack: err(/not in this layer/),
  toOverlay: either,
}));
add('cross-etc-host', 'symlink-cross-layer', 'L0: etc -> /victim; L1: etc/ and etc/passwd', (c) => ({
  lowers: [T.tar(T.symlink('etc', c.victim))],
  layer: T.tar(T.dir('etc/'), T.file('etc/passwd', pwn)),
  unpack: ok({ etc: D(), 'etc/passwd': F(pwn) }),
  flatten: ok({ etc: D(), 'etc/passwd': F(pwn) }),
}));
add('cross-three-layers', 'symlink-cross-layer', 'L0: d/keep; L1: d -> /victim; L2: d/x', (c) => ({
  lowers: [T.tar(T.dir('d'), T.file('d/keep', 'k')), T.tar(T.symlink('d', c.victim))],
  layer: T.tar(T.file('d/x', pwn)),
  unpack: ok({ d: D(), 'd/x': F(pwn) }),
  flatten: ok({ d: D(), 'd/x': F(pwn) }),
}));
add('cross-whiteout-the-link', 'symlink-cross-layer', 'L0: l -> /victim; L1: .wh.l deletes the link, never its target', (c) => ({
  lowers: [T.tar(T.symlink('l', c.victim))],
  layer: T.tar(T.file('.wh.l')),
  unpack: ok({ l: W }),
  flatten: ok({}),
}));
add('cross-lib-usr-lib', 'symlink-cross-layer', 'L0: lib -> usr/lib; L1: lib/systemd/x (an upper dir replaces the link; valid)', () => ({
  lowers: [T.tar(T.dir('usr'), T.dir('usr/lib'), T.symlink('lib', 'usr/lib'))],
  layer: T.tar(T.file('lib/systemd/x', 'x')),
  unpack: ok({ lib: D(), 'lib/systemd': D(), 'lib/systemd/x': F('x') }),
  flatten: ok({ usr: D(), 'usr/lib': D(), lib: D(), 'lib/systemd': D(), 'lib/systemd/x': F('x') }),
}));
add('cross-root-opaque', 'symlink-cross-layer', 'L0: l -> /victim, keep; L1: root .wh..wh..opq and new', (c) => ({
  lowers: [T.tar(T.symlink('l', c.victim), T.file('keep', 'k'))],
  layer: T.tar(T.file('.wh..wh..opq'), T.file('new', 'n')),
  unpack: (form) => (form === 'aufs' ? ok({ '': OPQ(), new: F('n') }) : ok({ l: W, keep: W, new: F('n') })),
  toOverlay: err(/root/),
  flatten: ok({ new: F('n') }),
}));
add('cross-nested-link', 'symlink-cross-layer', 'L0: a/b -> /victim; L1: a/b/c', (c) => ({
  lowers: [T.tar(T.dir('a'), T.symlink('a/b', c.victim))],
  layer: T.tar(T.file('a/b/c', pwn)),
  unpack: ok({ a: D(), 'a/b': D(), 'a/b/c': F(pwn) }),
  flatten: ok({ a: D(), 'a/b': D(), 'a/b/c': F(pwn) }),
}));

// ---- 3. hardlinks ----------------------------------------------------------

add('hardlink-dotdot', 'hardlink', 'h => ../…/victim/secret', (c) => ({
  layer: T.tar(T.hardlink('h', c.up('secret'))),
  unpack: err(/'\.\.'/),
}));
add('hardlink-absolute-outside', 'hardlink', 'h => /victim/secret (absolute, outside the layer)', (c) => ({
  layer: T.tar(T.hardlink('h', `${c.victim}/secret`)),
  unpack: err(/not in this layer/),
  toOverlay: either,
}));
add('hardlink-absolute-inside', 'hardlink', 'h => /usr/bin/perl where the layer has usr/bin/perl (valid, moby)', () => ({
  layer: T.tar(T.dir('usr'), T.dir('usr/bin'), T.file('usr/bin/perl', 'perl'), T.hardlink('usr/bin/perlbug', '/usr/bin/perl')),
  unpack: ok({ usr: D(), 'usr/bin': D(), 'usr/bin/perl': F('perl'), 'usr/bin/perlbug': F('perl', { same: 'usr/bin/perl' }) }),
}));
add('hardlink-through-symlink', 'hardlink', 'd -> /victim; h => d/secret', (c) => ({
  layer: T.tar(T.symlink('d', c.victim), T.hardlink('h', 'd/secret')),
  unpack: err(/not in this layer/),
  toOverlay: either,
}));
add('hardlink-to-symlink', 'hardlink', 'h => l where l -> /victim/secret: links the symlink itself (valid)', (c) => ({
  layer: T.tar(T.symlink('l', `${c.victim}/secret`), T.hardlink('h', 'l')),
  unpack: ok({ l: S(`${c.victim}/secret`), h: S(`${c.victim}/secret`, { same: 'l' }) }),
}));
add('hardlink-payload', 'hardlink', 'a hardlink header with size 512 whose "data" is a smuggled header (read as Go does)', () => ({
  layer: T.tar(T.file('f', 'f'), T.entry({ name: 'h', typeflag: '1', linkname: 'f', size: 512 }), T.header({ name: 'smuggled', size: 0 })),
  unpack: ok({ f: F('f'), h: F('f', { same: 'f' }), smuggled: F('') }),
}));
add('hardlink-forward', 'hardlink', 'a hardlink to a file that comes later', () => ({
  layer: T.tar(T.hardlink('h', 'f'), T.file('f', 'f')),
  unpack: err(/not in this layer/),
  toOverlay: either,
}));
add('hardlink-self', 'hardlink', 'h => h', () => ({
  layer: T.tar(T.hardlink('h', 'h')),
  unpack: err(/itself/),
  toOverlay: either,
}));
add('hardlink-to-dir', 'hardlink', 'h => d, a directory', () => ({
  layer: T.tar(T.dir('d'), T.hardlink('h', 'd')),
  unpack: err(/directory/),
  toOverlay: either,
}));
add('hardlink-shared-inode-overwrite', 'hardlink', 'f, h => f, then a new file h must not write into f (CVE-2018-20834)', () => ({
  layer: T.tar(T.file('f', 'orig'), T.hardlink('h', 'f'), T.file('h', 'new')),
  unpack: ok({ f: F('orig'), h: F('new') }),
}));
add('hardlink-after-symlink-swap', 'hardlink', 'f, then f -> /victim/secret, then h => f', (c) => ({
  layer: T.tar(T.file('f', 'x'), T.symlink('f', `${c.victim}/secret`), T.hardlink('h', 'f')),
  unpack: ok({ f: S(`${c.victim}/secret`), h: S(`${c.victim}/secret`, { same: 'f' }) }),
}));
add('hardlink-replaces-ancestor', 'hardlink', 'etc/passwd, then a hardlink etc => etc/passwd: replacing etc removes the link target (found by the fuzzer)', () => ({
  layer: T.tar(T.dir('etc'), T.file('etc/passwd', 'p'), T.hardlink('etc', 'etc/passwd')),
  unpack: err(/hardlink/),
  toOverlay: either,
}));
add('hardlink-to-whited-out', 'hardlink', '.wh.f then h => f', () => ({
  layer: T.tar(T.file('.wh.f'), T.hardlink('h', 'f')),
  unpack: err(/not in this layer/),
  toOverlay: either,
}));

// ---- 4. whiteout names -------------------------------------------------------

add('wh-empty', 'whiteout-names', '.wh. names no file', () => ({ layer: T.tar(T.file('.wh.')), unpack: err(/whiteout/) }));
add('wh-dot', 'whiteout-names', '.wh.. names the directory itself', () => ({ layer: T.tar(T.file('.wh..')), unpack: err(/whiteout/) }));
add('wh-dotdot', 'whiteout-names', '.wh... names the parent', () => ({ layer: T.tar(T.file('.wh...')), unpack: err(/whiteout/) }));
add('wh-dotdot-subdir', 'whiteout-names', 'etc/.wh... would delete the root', () => ({
  layer: T.tar(T.dir('etc'), T.file('etc/.wh...')),
  unpack: err(/whiteout/),
}));
add('wh-dot-subdir', 'whiteout-names', 'etc/.wh.. would delete etc', () => ({
  layer: T.tar(T.dir('etc'), T.file('etc/.wh..')),
  unpack: err(/whiteout/),
}));
add('wh-as-dir-component', 'whiteout-names', '.wh.etc/passwd: a whiteout name as a directory', () => ({
  layer: T.tar(T.file('.wh.etc/passwd', pwn)),
  unpack: err(/directory component/),
}));
add('wh-aufs-meta', 'whiteout-names', '.wh..wh.plnk and what is under it are skipped with a warning (valid)', () => ({
  layer: T.tar(T.dir('.wh..wh.plnk'), T.file('.wh..wh.plnk/1234.5678', 'hardlink store'), T.file('.wh..wh.aufs'), T.file('keep', 'k')),
  unpack: ok({ keep: F('k') }),
  warn: /AUFS/,
}));
add('wh-dot-slash-prefix', 'whiteout-names', './.wh.foo, as Bazel writes it (valid)', () => ({
  layer: T.tar(T.file('./.wh.foo'), T.file('./bar', 'b')),
  unpack: ok({ foo: W, bar: F('b') }),
}));
add('wh-dotfile', 'whiteout-names', '.wh..baz deletes .baz (valid)', () => ({
  layer: T.tar(T.file('.wh..baz')),
  unpack: ok({ '.baz': W }),
}));
add('wh-with-content', 'whiteout-names', 'a whiteout carrying data', () => ({
  layer: T.tar(T.file('.wh.x', 'data')),
  unpack: err(/content/),
}));
add('wh-symlink-type', 'whiteout-names', '.wh.x as a symlink to /victim/secret is just a whiteout', (c) => ({
  layer: T.tar(T.symlink('.wh.x', `${c.victim}/secret`)),
  unpack: ok({ x: W }),
}));
add('wh-dir-type', 'whiteout-names', '.wh.x as a directory is just a whiteout', () => ({
  layer: T.tar(T.dir('.wh.x')),
  unpack: ok({ x: W }),
}));
add('wh-hardlink-type', 'whiteout-names', '.wh.x as a hardlink to /victim/secret is just a whiteout', (c) => ({
  layer: T.tar(T.hardlink('.wh.x', `${c.victim}/secret`)),
  unpack: ok({ x: W }),
}));
add('wh-char-type', 'whiteout-names', '.wh.x as a char device 1/3 is just a whiteout', () => ({
  layer: T.tar(T.chardev('.wh.x', 1, 3)),
  unpack: ok({ x: W }),
}));
add('wh-dotdot-parent', 'whiteout-names', 'dne/../.wh.etc', () => ({
  layer: T.tar(T.file('dne/../.wh.etc')),
  unpack: err(/'\.\.'/),
}));
add('wh-missing', 'whiteout-names', 'a whiteout of a path nothing holds is kept (valid)', () => ({
  layer: T.tar(T.file('a/b/.wh.gone')),
  unpack: ok({ a: D(), 'a/b': D(), 'a/b/gone': W }),
  // Applied as a changeset, a whiteout removes and adds nothing, not even its parents.
  flatten: ok({}),
}));
add('wh-nested', 'whiteout-names', '.wh.foo and foo/.wh.bar: only foo is stored (valid)', () => ({
  layer: T.tar(T.file('.wh.foo'), T.file('foo/.wh.bar')),
  unpack: ok({ foo: W }),
}));
add('wh-same-layer', 'whiteout-names', 'a, then .wh.a: the layer keeps its own a (W7, valid)', () => ({
  layer: T.tar(T.file('a', 'mine'), T.file('.wh.a')),
  unpack: ok({ a: F('mine') }),
}));

// ---- whiteouts and opaque markers through links -----------------------------

add('wh-through-own-symlink', 'whiteout-through-links', 'l -> /victim, l/.wh.secret: nothing is deleted', (c) => ({
  layer: T.tar(T.symlink('l', c.victim), T.file('l/.wh.secret')),
  unpack: ok({ l: S(c.victim) }),
}));
add('wh-before-symlink', 'whiteout-through-links', 'l/.wh.secret, then l -> /victim', (c) => ({
  layer: T.tar(T.file('l/.wh.secret'), T.symlink('l', c.victim)),
  unpack: either,
}));
add('wh-of-symlink', 'whiteout-through-links', 'l -> /victim/secret then .wh.l in the same layer (W7: l stays)', (c) => ({
  layer: T.tar(T.symlink('l', `${c.victim}/secret`), T.file('.wh.l')),
  unpack: ok({ l: S(`${c.victim}/secret`) }),
}));
add('opaque-through-own-symlink', 'whiteout-through-links', 'l -> /victim, then l/.wh..wh..opq: nothing is made opaque through the link', (c) => ({
  layer: T.tar(T.symlink('l', c.victim), T.file('l/.wh..wh..opq')),
  // SPEC §4: the layer's own non-directory already hides everything below; the marker is dropped.
  unpack: ok({ l: S(c.victim) }),
}));
add('opaque-root-no-lower', 'opaque', 'a root opaque marker without --lower', () => ({
  layer: T.tar(T.file('.wh..wh..opq'), T.file('a', 'a')),
  unpack: (form) => (form === 'aufs' ? ok({ '': OPQ(), a: F('a') }) : err(/--lower/)),
  toOverlay: err(/root/),
  flatten: ok({ a: F('a') }),
}));
add('opaque-order', 'opaque', 'd/keep, d/.wh..wh..opq, d/.wh.gone: marker applies first, keeps own content (valid)', () => ({
  layer: T.tar(T.file('d/keep', 'k'), T.file('d/.wh..wh..opq'), T.file('d/.wh.gone')),
  unpack: ok({ d: OPQ(), 'd/keep': F('k') }),
}));
add('opaque-over-file', 'opaque', 'a file d, then d/.wh..wh..opq: the marker is dropped', () => ({
  layer: T.tar(T.file('d', 'f'), T.file('d/.wh..wh..opq')),
  unpack: ok({ d: F('f') }),
}));
add('opaque-by-whiteout-plus-dir', 'opaque', '.wh.x plus x/f makes x opaque (valid)', () => ({
  layer: T.tar(T.file('.wh.x'), T.file('x/f', 'f')),
  unpack: ok({ x: OPQ(), 'x/f': F('f') }),
}));
add('opaque-with-content', 'opaque', 'an opaque marker carrying data', () => ({
  layer: T.tar(T.dir('d'), T.file('d/.wh..wh..opq', 'data')),
  unpack: either,
}));

// ---- forged overlay metadata ---------------------------------------------------

const xa = (name: string, v: string | Buffer): [string, string | Buffer] => [`SCHILY.xattr.${name}`, v];

add('xattr-trusted-opaque', 'overlay-xattrs', 'a dir carrying trusted.overlay.opaque=y is stored escaped, not opaque', () => ({
  layer: T.tar(T.pax([xa('trusted.overlay.opaque', 'y')]), T.dir('d'), T.file('d/f', 'f')),
  unpack: ok({ d: D({ xattrs: { 'trusted.overlay.overlay.opaque': 'y' } }), 'd/f': F('f') }),
  userxattr: true,
}));
add('xattr-trusted-redirect', 'overlay-xattrs', 'trusted.overlay.redirect=/victim on a dir', (c) => ({
  layer: T.tar(T.pax([xa('trusted.overlay.redirect', c.victim)]), T.dir('d')),
  unpack: ok({ d: D({ xattrs: { 'trusted.overlay.overlay.redirect': c.victim } }) }),
}));
add('xattr-trusted-metacopy', 'overlay-xattrs', 'trusted.overlay.metacopy on a file', () => ({
  layer: T.tar(T.pax([xa('trusted.overlay.metacopy', '')]), T.file('f', 'f')),
  unpack: ok({ f: F('f', { xattrs: { 'trusted.overlay.overlay.metacopy': '' } }) }),
}));
add('xattr-trusted-whiteout', 'overlay-xattrs', 'an empty file with trusted.overlay.whiteout in a dir with opaque=x: not a whiteout', () => ({
  layer: T.tar(T.pax([xa('trusted.overlay.opaque', 'x')]), T.dir('d'), T.pax([xa('trusted.overlay.whiteout', '')]), T.file('d/f', '')),
  unpack: ok({ d: D({ xattrs: { 'trusted.overlay.overlay.opaque': 'x' } }), 'd/f': F('', { xattrs: { 'trusted.overlay.overlay.whiteout': '' } }) }),
  userxattr: true,
}));
add('xattr-user-opaque', 'overlay-xattrs', 'user.overlay.opaque=y on a dir (live under --userxattr)', () => ({
  layer: T.tar(T.pax([xa('user.overlay.opaque', 'y')]), T.dir('d')),
  unpack: ok({ d: D({ xattrs: { 'user.overlay.overlay.opaque': 'y' } }) }),
  userxattr: true,
}));
add('xattr-user-whiteout', 'overlay-xattrs', 'user.overlay.whiteout on a file in a user.overlay.opaque=x dir', () => ({
  layer: T.tar(T.pax([xa('user.overlay.opaque', 'x')]), T.dir('d'), T.pax([xa('user.overlay.whiteout', '')]), T.file('d/f', '')),
  unpack: ok({ d: D({ xattrs: { 'user.overlay.overlay.opaque': 'x' } }), 'd/f': F('', { xattrs: { 'user.overlay.overlay.whiteout': '' } }) }),
  userxattr: true,
  toOci: err(/--userxattr/),
}));
add('xattr-pre-escaped', 'overlay-xattrs', 'trusted.overlay.overlay.opaque is escaped once more, so it reads back exactly', () => ({
  layer: T.tar(T.pax([xa('trusted.overlay.overlay.opaque', 'y')]), T.dir('d')),
  unpack: ok({ d: D({ xattrs: { 'trusted.overlay.overlay.overlay.opaque': 'y' } }) }),
}));
add('xattr-libarchive-form', 'overlay-xattrs', 'LIBARCHIVE.xattr.trusted.overlay.opaque (base64 y)', () => ({
  layer: T.tar(T.pax([['LIBARCHIVE.xattr.trusted.overlay.opaque', 'eQ==']]), T.dir('d')),
  unpack: ok({ d: D({ xattrs: { 'trusted.overlay.overlay.opaque': 'y' } }) }),
}));
add('xattr-on-root', 'overlay-xattrs', 'the ./ entry carrying trusted.overlay.opaque=y', () => ({
  layer: T.tar(T.pax([xa('trusted.overlay.opaque', 'y')]), T.dir('./'), T.file('a', 'a')),
  unpack: ok({ '': D({ xattrs: { 'trusted.overlay.overlay.opaque': 'y' } }), a: F('a') }),
}));
add('xattr-binary-value', 'overlay-xattrs', 'a binary xattr value survives byte for byte (valid)', () => ({
  layer: T.tar(T.pax([xa('user.bin', Buffer.from([0, 1, 0xfe, 0xff, 0x0a]))]), T.file('f', 'f')),
  unpack: ok({ f: F('f', { xattrs: { 'user.bin': '\x00\x01\xfe\xff\n' } }) }),
}));
add('device-zero-zero', 'overlay-xattrs', 'a literal 0/0 character device (the kernel would read a whiteout)', () => ({
  layer: T.tar(T.chardev('fake-whiteout', 0, 0)),
  unpack: err(/0\/0/),
  // In the overlay form a 0/0 device *is* a whiteout: convert --to oci makes it .wh.fake-whiteout.
  toOci: ok({ 'fake-whiteout': W }),
}));
add('device-zero-zero-pax', 'overlay-xattrs', 'ustar says 1/3, PAX SCHILY.devmajor/devminor say 0/0', () => ({
  layer: T.tar(T.pax([['SCHILY.devmajor', '0'], ['SCHILY.devminor', '0']]), T.chardev('c', 1, 3)),
  unpack: err(/0\/0/),
}));
add('device-zero-zero-base256', 'overlay-xattrs', '0/0 written in base-256', () => ({
  layer: T.tar(T.chardev('c', T.base256(0n, 8), T.base256(0n, 8))),
  unpack: err(/0\/0/),
}));
add('device-v7-numbers-ignored', 'overlay-xattrs', 'a v7 header (no magic) for a char device: its numbers read as 0/0', () => ({
  layer: T.tar(T.entry({ name: 'c', typeflag: '3', magic: 'v7', mode: 0o600, patch: [[329, Buffer.from('0000001\0')], [337, Buffer.from('0000003\0')]] })),
  unpack: err(/0\/0/),
}));

// ---- 9. devices ---------------------------------------------------------------

/** A device that was made must have exactly the numbers asked for; never a 0/0 (a whiteout). */
const deviceIs = (major: number, minor: number) => (t: Logical): string[] => {
  const c = t.get('c');
  if (!c) return [];
  if (c.t === 'whiteout') return [`'c' (${major}/${minor}) became a 0/0 device: a whiteout`];
  if (c.t !== 'char' || c.major !== major || c.minor !== minor) return [`'c' is ${c.t} ${c.major}/${c.minor}, expected char ${major}/${minor}`];
  return [];
};
add('device-major-4096', 'devices', 'char device major 4096 (over 12 bits)', () => ({
  layer: T.tar(T.chardev('c', 4096, 1)),
  unpack: either,
  extra: deviceIs(4096, 1),
}));
add('device-minor-2^20', 'devices', 'char device minor 2^20 (over 20 bits)', () => ({
  layer: T.tar(T.chardev('c', 1, T.base256(1n << 20n, 8))),
  unpack: either,
  extra: deviceIs(1, 1 << 20),
}));
add('device-major-2^32', 'devices', 'char device major 2^32 (truncates to 0 in a 32-bit cast)', () => ({
  layer: T.tar(T.chardev('c', T.base256(1n << 32n, 8), T.base256(0n, 8))),
  unpack: either,
  extra: deviceIs(2 ** 32, 0),
}));
add('device-huge-base256', 'devices', 'base-256 device number 2^60', () => ({
  layer: T.tar(T.chardev('c', T.base256(1n << 60n, 8), 1)),
  unpack: err(/too large/),
}));
add('device-negative', 'devices', 'a negative base-256 device number', () => ({
  layer: T.tar(T.chardev('c', T.base256(-1n, 8), 1)),
  unpack: err(/negative/),
}));
add('device-pax-huge', 'devices', 'SCHILY.devminor of 20 digits', () => ({
  layer: T.tar(T.pax([['SCHILY.devminor', '99999999999999999999']]), T.chardev('c', 1, 1)),
  unpack: err(/devminor/),
}));
add('device-legit', 'devices', 'block 8/1, char 1/3 and a FIFO (valid, as root)', () => ({
  layer: T.tar(T.blockdev('b', 8, 1), T.chardev('c', 1, 3), T.fifo('p')),
  unpack: ok({ b: B(8, 1), c: C(1, 3), p: P() }),
}));

// ---- 6/7. duplicates and replacement -------------------------------------------

add('dup-file', 'duplicates', 'the same file twice: the later wins (valid)', () => ({
  layer: T.tar(T.file('f', 'one'), T.file('f', 'two')),
  unpack: ok({ f: F('two') }),
}));
add('dup-file-then-dir', 'duplicates', 'f as a file, then as a dir (valid)', () => ({
  layer: T.tar(T.file('f', 'one'), T.dir('f'), T.file('f/x', 'x')),
  unpack: ok({ f: OPQ(), 'f/x': F('x') }),
}));
add('dup-dir-then-file', 'duplicates', 'd/ with children, then a file d (valid)', () => ({
  layer: T.tar(T.dir('d'), T.file('d/x', 'x'), T.file('d', 'file now')),
  unpack: ok({ d: F('file now') }),
}));
add('dup-dir-attrs', 'duplicates', 'a dir twice: the later attributes replace the earlier (valid)', () => ({
  layer: T.tar(T.pax([xa('user.a', '1')]), T.dir('d', { mode: 0o700 }), T.pax([xa('user.b', '2')]), T.dir('d', { mode: 0o751 })),
  unpack: ok({ d: D({ mode: 0o751, xattrs: { 'user.b': '2' } }) }),
}));
add('dup-dir-then-symlink', 'duplicates', 'd/ with children, then d -> /victim (valid: the link is data)', (c) => ({
  layer: T.tar(T.dir('d'), T.file('d/x', 'x'), T.symlink('d', c.victim)),
  unpack: ok({ d: S(c.victim) }),
}));
add('dup-whiteout', 'duplicates', '.wh.x twice (valid)', () => ({
  layer: T.tar(T.file('.wh.x'), T.file('.wh.x')),
  unpack: ok({ x: W }),
}));
add('dup-hardlink', 'duplicates', 'the same hardlink twice (valid)', () => ({
  layer: T.tar(T.file('f', 'f'), T.hardlink('h', 'f'), T.hardlink('h', 'f')),
  unpack: ok({ f: F('f'), h: F('f', { same: 'f' }) }),
}));

// ---- 14. PAX / GNU header abuse ---------------------------------------------------

add('pax-over-default-limit', 'pax-gnu', 'a 2 MiB PAX header (default limit 1 MiB)', () => ({
  layer: T.tar(T.pax([['comment', 'c'.repeat(2 << 20)]]), T.file('f', 'f')),
  unpack: err(/--max-header/),
}));
add('pax-over-flag-limit', 'pax-gnu', 'a 4 KiB PAX header with --max-header 1024', () => ({
  layer: T.tar(T.pax([['comment', 'c'.repeat(4096)]]), T.file('f', 'f')),
  args: ['--max-header', '1024'],
  unpack: err(/--max-header/),
}));
add('gnu-long-over-limit', 'pax-gnu', 'a 2 MiB GNU long name', () => ({
  layer: T.tar(T.gnuLong('L', 'n'.repeat(2 << 20)), T.file('f', 'f')),
  unpack: err(/--max-header/),
}));
{
  // TARmageddon: the ustar size is 0, the PAX size covers an inner archive.
  const inner = Buffer.concat([T.header({ name: 'smuggled', size: 5 }), T.pad(Buffer.from(pwn))]);
  add('pax-size-wins', 'pax-gnu', 'ustar size 0, PAX size covering a smuggled entry (CVE-2025-62518)', () => ({
    layer: T.tar(T.pax([['size', String(inner.length)]]), T.entry({ name: 'outer', size: 0 }), inner),
    unpack: ok({ outer: F(inner) }),
  }));
}
{
  const first = Buffer.alloc(512, 0x61);
  const second = T.header({ name: 'second', size: 0 });
  add('pax-size-smaller', 'pax-gnu', 'ustar size 1024, PAX size 512: PAX wins', () => ({
    layer: T.tar(T.pax([['size', '512']]), T.header({ name: 'f', size: 1024 }), first, second),
    unpack: ok({ f: F(first), second: F('') }),
  }));
}
add('pax-global-ignored', 'pax-gnu', 'a global header named foo/bar with path=../…/victim changes nothing (moby TestXGlobalNoParent)', (c) => ({
  layer: T.tar(T.pax([['path', c.up('pwned')]], { global: true, name: 'foo/bar' }), T.file('a', 'a')),
  unpack: ok({ a: F('a') }),
}));
add('pax-bad-length', 'pax-gnu', 'a PAX record whose length runs past the header', () => ({
  layer: T.tar(T.pax(T.paxRecord('path', 'a', 999)), T.file('a', 'a')),
  unpack: err(/PAX/),
}));
add('pax-nondigit-length', 'pax-gnu', 'a PAX record length with letters', () => ({
  layer: T.tar(T.pax(Buffer.from('1x path=a\n')), T.file('a', 'a')),
  unpack: err(/PAX/),
}));
add('pax-linkpath-long', 'pax-gnu', 'a 300-byte PAX linkpath pointing at the victim (valid: stored verbatim)', (c) => ({
  layer: T.tar(T.pax([['linkpath', `${c.victim}/${'x'.repeat(250)}`]]), T.symlink('l', 'short')),
  unpack: ok({ l: S(`${c.victim}/${'x'.repeat(250)}`) }),
}));
add('gnu-long-then-eof', 'pax-gnu', 'a GNU long name followed by the end of the archive', () => ({
  layer: T.tar(T.gnuLong('L', 'orphan')),
  unpack: err(/end of the archive/),
}));
add('gnu-long-dotdot', 'pax-gnu', 'a GNU long name ../…/victim/pwned', (c) => ({
  layer: T.tar(T.gnuLong('L', c.up('pwned')), T.file('harmless', pwn)),
  unpack: err(/'\.\.'/),
}));
add('gnu-long-link', 'pax-gnu', 'a GNU long link target for a symlink (valid)', (c) => ({
  layer: T.tar(T.gnuLong('K', `${c.victim}/${'k'.repeat(200)}`), T.symlink('l', 'short')),
  unpack: ok({ l: S(`${c.victim}/${'k'.repeat(200)}`) }),
}));
add('pax-two-headers', 'pax-gnu', 'two PAX headers in a row are merged (valid)', () => ({
  layer: T.tar(T.pax([['path', 'merged']]), T.pax([['mtime', '5']]), T.file('ignored', 'm')),
  unpack: ok({ merged: F('m', { mtime: 5 }) }),
}));
add('typeflag-N', 'pax-gnu', "GNU 'N' (old long-names) entry, which GNU tar once turned into symlinks", () => ({
  layer: T.tar(T.entry({ name: 'n', typeflag: 'N' }, 'Symlink x -> /etc\n')),
  unpack: err(/unsupported/),
}));
add('typeflag-V', 'pax-gnu', "a GNU volume header 'V'", () => ({
  layer: T.tar(T.entry({ name: 'vol', typeflag: 'V' })),
  unpack: err(/unsupported/),
}));
add('pax-size-huge', 'pax-gnu', 'PAX size 2^53-1 on a small archive', () => ({
  layer: T.tar(T.pax([['size', String(Number.MAX_SAFE_INTEGER)]]), T.file('f', 'f')),
  unpack: err(/truncated/),
}));
add('pax-size-overflow', 'pax-gnu', 'PAX size of 20 digits', () => ({
  layer: T.tar(T.pax([['size', '99999999999999999999']]), T.file('f', 'f')),
  unpack: err(/size/),
}));
add('pax-empty', 'pax-gnu', 'an empty local PAX header (valid, image-rs #1737)', () => ({
  layer: T.tar(T.pax([]), T.file('a', 'a')),
  unpack: ok({ a: F('a') }),
}));
add('bad-checksum', 'pax-gnu', 'a header with a wrong checksum', () => ({
  layer: T.tar(T.entry({ name: 'a', checksum: 'bad' }, 'a')),
  unpack: err(/checksum/),
}));
add('sparse-huge-map', 'pax-gnu', 'a PAX 0.1 sparse map claiming 10 million regions', () => ({
  layer: T.tar(T.pax([['GNU.sparse.numblocks', '10000000'], ['GNU.sparse.offset', '0'], ['GNU.sparse.numbytes', '1'], ['GNU.sparse.size', '1']]), T.file('s', 'x')),
  unpack: err(/sparse|map/i),
}));
add('sparse-endless-extension', 'pax-gnu', 'an old GNU sparse header whose extension blocks never end', () => {
  const ext = Buffer.alloc(512);
  ext[504] = 1;
  const h = T.header({ name: 's', typeflag: 'S', magic: 'gnu', size: 0, patch: [[482, Buffer.from([1])], [483, Buffer.from('00000000001\0')]] });
  return { layer: Buffer.concat([h, ...Array.from({ length: 64 }, () => ext)]), unpack: err(/truncated|sparse|limit/) };
});
add('v7-trailing-slash-dir', 'pax-gnu', 'a v7 header with typeflag NUL and a trailing slash is a directory (valid)', () => ({
  layer: T.tar(T.entry({ name: 'd/', typeflag: 0, magic: 'v7', mode: 0o755 }), T.entry({ name: 'd/f', typeflag: 0, magic: 'v7' }, 'f')),
  unpack: ok({ d: D(), 'd/f': F('f') }),
}));
add('size-field-junk', 'pax-gnu', 'a size field with a non-octal digit', () => ({
  layer: T.tar(T.entry({ name: 'f', size: '0000000012a' }, 'x')),
  unpack: err(/size/),
}));
add('pax-uid-huge', 'pax-gnu', 'PAX uid 2^40', () => ({
  layer: T.tar(T.pax([['uid', String(2 ** 40)]]), T.file('f', 'f')),
  unpack: either,
}));

// ---- 13. limits ------------------------------------------------------------------

add('limit-depth-flag', 'limits', '11 levels with --max-depth 10', () => ({
  layer: T.tar(T.file(`${'a/'.repeat(10)}f`, 'f')),
  args: ['--max-depth', '10'],
  unpack: err(/--max-depth/),
}));
add('limit-depth-default', 'limits', '1,100 levels (default limit 1,024)', () => ({
  layer: T.tar(T.pax([['path', `${'a/'.repeat(1100)}f`]]), T.file('f', 'f')),
  unpack: err(/--max-depth/),
}));
add('limit-entries', 'limits', '60 entries with --max-entries 50', () => ({
  layer: T.tar(...Array.from({ length: 60 }, (_, i) => T.file(`f${i}`, ''))),
  args: ['--max-entries', '50'],
  unpack: err(/--max-entries/),
}));
add('limit-bytes', 'limits', 'a 1 MiB file with --max-bytes 65536', () => ({
  layer: T.tar(T.file('big', Buffer.alloc(1 << 20, 0x62))),
  args: ['--max-bytes', '65536'],
  unpack: err(/--max-bytes/),
}));
add('bomb-gzip', 'limits', 'gzip bomb: 64 MiB of zeros with --max-bytes 1 MiB', () => ({
  layer: T.gzip(T.tar(T.file('zeros', Buffer.alloc(64 << 20)))),
  args: ['--max-bytes', String(1 << 20)],
  unpack: err(/--max-bytes/),
}));
add('bomb-zstd', 'limits', 'zstd bomb: 64 MiB of zeros with --max-bytes 1 MiB', () => ({
  layer: T.zstd(T.tar(T.file('zeros', Buffer.alloc(64 << 20)))),
  args: ['--max-bytes', String(1 << 20)],
  unpack: err(/--max-bytes/),
}));
add('bomb-zstd-window', 'limits', 'a zstd frame declaring a 2 GiB window', () => ({
  layer: T.zstdWindowBomb(T.tar(T.file('a', 'a'))),
  unpack: err(/zstd/),
}));

// ---- corrupt and truncated -----------------------------------------------------

{
  const good = T.tar(T.file('a', 'a'.repeat(3000)), T.file('b', 'b'));
  add('trunc-mid-data', 'corrupt', 'a tar cut in the middle of a file', () => ({ layer: good.subarray(0, 1500), unpack: err(/truncated.*offset \d+/) }));
  add('trunc-mid-header', 'corrupt', 'a tar cut in the middle of a header', () => ({ layer: good.subarray(0, 512 * 7 + 100), unpack: err(/truncated.*offset \d+/) }));
  add('no-end-marker', 'corrupt', 'no end-of-archive blocks (valid)', () => ({ layer: good.subarray(0, good.length - 1024), unpack: ok({ a: F('a'.repeat(3000)), b: F('b') }) }));
  add('trailing-garbage', 'corrupt', 'garbage after the end marker is ignored (valid)', () => ({
    layer: Buffer.concat([good, Buffer.from('garbage after the end '.repeat(100))]),
    unpack: ok({ a: F('a'.repeat(3000)), b: F('b') }),
  }));
  add('empty-input', 'corrupt', 'zero bytes: an empty layer (valid)', () => ({ layer: Buffer.alloc(0), unpack: ok({}) }));
  add('junk-input', 'corrupt', '1 KiB of noise', () => ({
    layer: Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7919 + 13) % 251)),
    unpack: err(/checksum/),
  }));
  const gz = T.gzip(good);
  add('gzip-truncated', 'corrupt', 'a gzip layer cut short', () => ({ layer: gz.subarray(0, gz.length - 20), unpack: err(/gzip|truncated/) }));
  const corrupt = Buffer.from(gz);
  corrupt[20] = corrupt[20]! ^ 0xff;
  corrupt[21] = corrupt[21]! ^ 0xff;
  add('gzip-corrupt', 'corrupt', 'a gzip layer with flipped bytes', () => ({ layer: corrupt, unpack: err(/gzip|checksum|truncated/) }));
  const zs = T.zstd(good);
  add('zstd-truncated', 'corrupt', 'a zstd layer cut short', () => ({ layer: zs.subarray(0, zs.length - 8), unpack: err(/zstd|truncated/) }));
  add('gzip-hostile', 'corrupt', 'a gzip layer with a .. name: decompression does not skip validation', (c) => ({
    layer: T.gzip(T.tar(T.file(c.up('pwned'), pwn))),
    unpack: err(/'\.\.'/),
  }));
  add('xz-magic', 'corrupt', 'an xz stream', () => ({ layer: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0, 0, 0, 0, 0]), unpack: err(/xz/) }));
  add('gzip-concatenated', 'corrupt', 'two concatenated gzip members (valid)', () => ({
    layer: Buffer.concat([T.gzip(T.file('a', 'a')), T.gzip(T.tar(T.file('b', 'b')))]),
    unpack: ok({ a: F('a'), b: F('b') }),
  }));
}

// ---- real hostile image: sarus/saved_image_malicious.tar ---------------------------

export const SARUS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../shared/real-images/sarus/saved_image_malicious.tar');

let sarusLayers: Buffer[] | undefined;
/** The image's layers in manifest order, extracted with GNU tar (undefined if the image is missing). */
export function sarus(): Buffer[] | undefined {
  if (sarusLayers) return sarusLayers;
  if (!fs.existsSync(SARUS)) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whiteout-sarus-'));
  try {
    const r = spawnSync('tar', ['-xf', SARUS, '-C', dir]);
    if (r.status !== 0) throw new Error(`tar -xf ${SARUS}: ${r.stderr.toString()}`);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    sarusLayers = manifest[0]!.Layers.map((l) => fs.readFileSync(path.join(dir, l)));
    return sarusLayers;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const sarusOr = (i: number): Buffer => sarus()?.[i] ?? T.tar();
add('sarus-l1-through-symlink', 'real-image', 'sarus L0 malicious-symlink -> /tmp; L1 writes malicious-symlink/malicious-file-through-symlink', () => ({
  lowers: [sarusOr(0)],
  layer: sarusOr(1),
  unpack: ok({ 'malicious-symlink': D({ mode: 0o775 }), 'malicious-symlink/malicious-file-through-symlink': F('') }),
  flattenInput: fs.existsSync(SARUS) ? fs.readFileSync(SARUS) : undefined,
  // The image itself is inconsistent too (its config lists 10 diffIDs for 9 layers): any clean refusal will do.
  flatten: err(/./),
}));
add('sarus-l2-absolute', 'real-image', 'sarus L2 /tmp/malicious-file-through-abs-path lands under the target', () => ({
  layer: sarusOr(2),
  unpack: ok({ tmp: D(), 'tmp/malicious-file-through-abs-path': F('') }),
}));
add('sarus-l3-dotdots', 'real-image', 'sarus L3 ../../…/tmp/malicious-file-through-dotdots', () => ({
  layer: sarusOr(3),
  unpack: err(/'\.\.'/),
}));

// ---- 15. image layout (flatten only) ----------------------------------------------

const CONFIG = `${'c'.repeat(64)}.json`;
const emptyConfig = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:' + 'a'.repeat(64) + '"]}}');
function dockerSave(manifest: unknown, files: Record<string, Buffer>): Buffer {
  const parts = [T.file('manifest.json', JSON.stringify(manifest))];
  for (const [name, data] of Object.entries(files)) parts.push(T.file(name, data));
  return T.tar(...parts);
}
add('layout-manifest-dotdot', 'image-layout', 'docker save manifest.json naming a layer ../../victim/secret', (c) => ({
  layer: T.tar(),
  only: ['flatten'],
  unpack: either,
  flattenInput: dockerSave([{ Config: CONFIG, RepoTags: ['x:y'], Layers: [c.up('secret')] }], { [CONFIG]: emptyConfig }),
  flatten: err(/./),
}));
add('layout-manifest-absolute', 'image-layout', 'docker save manifest.json naming a layer by absolute host path', (c) => ({
  layer: T.tar(),
  only: ['flatten'],
  unpack: either,
  flattenInput: dockerSave([{ Config: CONFIG, RepoTags: ['x:y'], Layers: [`${c.victim}/secret`] }], { [CONFIG]: emptyConfig }),
  flatten: err(/./),
}));

export const CASES: readonly CaseDef[] = cases;

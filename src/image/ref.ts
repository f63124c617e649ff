/**
 * Image references as `--ref` names them. Docker writes full names in
 * `RepoTags` (`busybox:latest`) and containerd in `io.containerd.image.name`
 * (`docker.io/library/busybox:latest`); OCI layouts often tag with just
 * `latest`. A reference matches when it is the same string, or the same name
 * once Docker's defaults (`docker.io/`, `library/`, `:latest`) are filled in.
 */
export function normalizeRef(ref: string): string {
  let name = ref;
  let suffix = '';
  const at = name.indexOf('@');
  if (at >= 0) {
    suffix = name.slice(at);
    name = name.slice(0, at);
  }
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) {
    suffix = name.slice(colon) + suffix;
    name = name.slice(0, colon);
  } else if (!suffix) suffix = ':latest';
  const first = name.split('/')[0] ?? '';
  const hasDomain = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasDomain) name = name.includes('/') ? `docker.io/${name}` : `docker.io/library/${name}`;
  return name + suffix;
}

export function refMatches(want: string, have: string): boolean {
  return want === have || normalizeRef(want) === normalizeRef(have);
}

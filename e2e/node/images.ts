// How an image runs on the local node. There are no images here: a mapping says which local program stands in for
// an image's entrypoint and programs, and which ENV the image would carry (with `{path:/x}` naming a path inside
// the container, resolved to the container's local root). An image without a mapping does not start: its container
// waits with reason ErrImageNeverPull, as a kubelet would for an image it is not allowed to pull.

export interface ImageMapping {
  /** `repo` (any tag or digest), `repo:tag`, or a prefix ending in `*`. Docker Hub's `docker.io/library/` is implied. */
  match: string;
  /** The image's ENTRYPOINT, used when the container sets no `command`. */
  entrypoint?: string[];
  /** Programs of the image by name (first word of the command) → the local argv that stands in for them. */
  programs?: Record<string, string[]>;
  /** Commands whose program is not in `programs` run on the host (for shell images such as busybox). */
  host?: boolean;
  /** The image's ENV; the pod's env overrides it. Values may contain `{path:/container/path}`. */
  env?: Record<string, string>;
}

function normalise(image: string): string {
  let name = image.replace(/^docker\.io\//, '');
  name = name.replace(/^library\//, '');
  return name;
}

function repository(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at >= 0 ? image.slice(0, at) : image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

export function findImage(mappings: ImageMapping[], image: string): ImageMapping | undefined {
  const name = normalise(image);
  return mappings.find((m) => {
    const pattern = normalise(m.match);
    if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
    return name === pattern || repository(name) === pattern;
  });
}

/**
 * The local argv for a container, following Kubernetes' rules: `command` replaces the ENTRYPOINT, `args` the CMD;
 * then the program (argv[0], by full name or basename) is looked up in the mapping.
 */
export function localArgv(mapping: ImageMapping, command: string[] | undefined, args: string[] | undefined): string[] {
  const argv =
    command && command.length > 0 ? [...command, ...(args ?? [])] : [...(mapping.entrypoint ?? []), ...(args ?? [])];
  const program = argv[0];
  if (program === undefined) throw new Error('the container has no command and its image mapping no entrypoint');
  const local = mapping.programs?.[program] ?? mapping.programs?.[program.split('/').pop() ?? program];
  if (local) return [...local, ...argv.slice(1)];
  if (mapping.host) return argv;
  throw new Error(`program ${JSON.stringify(program)} is not in the local mapping of image ${mapping.match}`);
}

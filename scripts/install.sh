#!/bin/sh
# Installs the ringfence binary for this machine, after checking its SHA-256.
#
#   curl -fsSL https://github.com/ringfence-dev/ringfence/releases/latest/download/install.sh | sudo sh
#   sh install.sh [--prefix DIR] [--version vX.Y.Z]
#   sh install.sh --from ./ringfence-x86_64-linux [--sha256 FILE|HEX] [--prefix DIR]
#   sh install.sh --runner-hooks DIR [--runner-env FILE] [--policy FILE] [--hooks-only] ...
#
# Downloads ringfence-<arch>-linux and ringfence-<arch>-linux.sha256 from
# $RINGFENCE_BASE_URL (default: the latest GitHub release), verifies the
# checksum and installs the binary as PREFIX/ringfence (default
# /usr/local/bin). --from installs a file already on this host (air-gapped
# hosts); its checksum comes from --sha256 or FILE.sha256 beside it. A
# missing or wrong checksum installs nothing and exits non-zero.
#
# --runner-hooks DIR (self-hosted GitHub runners) also installs the runner
# hooks job-started.sh and job-completed.sh into DIR and sets, in the
# runner's .env (--runner-env FILE, default DIR/.env: give the runner's
# directory as DIR), ACTIONS_RUNNER_HOOK_JOB_STARTED and _COMPLETED, the
# binary (RINGFENCE_BIN) and the policy (--policy: RINGFENCE_POLICY). Run
# it again to update: the lines are replaced, others kept. --hooks-only
# leaves the binary alone (RINGFENCE_BIN then names PREFIX/ringfence).
# Restart the runner service for the .env to be read.
set -eu

REPO_URL="https://github.com/ringfence-dev/ringfence"
prefix=/usr/local/bin
version=latest
from=
sha_arg=
hooks=
runner_env=
policy=
hooks_only=

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --version) [ $# -ge 2 ] || die "--version needs a tag"; version=$2; shift 2 ;;
    --version=*) version=${1#*=}; shift ;;
    --from) [ $# -ge 2 ] || die "--from needs a file"; from=$2; shift 2 ;;
    --from=*) from=${1#*=}; shift ;;
    --sha256) [ $# -ge 2 ] || die "--sha256 needs a file or a hex digest"; sha_arg=$2; shift 2 ;;
    --sha256=*) sha_arg=${1#*=}; shift ;;
    --runner-hooks) [ $# -ge 2 ] || die "--runner-hooks needs a directory"; hooks=$2; shift 2 ;;
    --runner-hooks=*) hooks=${1#*=}; shift ;;
    --runner-env) [ $# -ge 2 ] || die "--runner-env needs a file"; runner_env=$2; shift 2 ;;
    --runner-env=*) runner_env=${1#*=}; shift ;;
    --policy) [ $# -ge 2 ] || die "--policy needs a file"; policy=$2; shift 2 ;;
    --policy=*) policy=${1#*=}; shift ;;
    --hooks-only) hooks_only=1; shift ;;
    -h|--help) sed -n '2,25p' "$0" 2>/dev/null | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

os=$(uname -s)
[ "$os" = Linux ] || die "ringfence runs on Linux only (this is $os)"
case $(uname -m) in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) die "no ringfence build for $(uname -m) (there are x86_64 and aarch64)" ;;
esac
asset="ringfence-$arch-linux"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else
    die "no sha256sum, shasum or openssl to check the download with"
  fi
}

fetch() { # URL DEST
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "neither curl nor wget is installed"
  fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringfence-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ "$version" = latest ]; then
  default_base="$REPO_URL/releases/latest/download"
else
  default_base="$REPO_URL/releases/download/$version"
fi
base=${RINGFENCE_BASE_URL:-$default_base}

# The expected digest of FILE from ARG: a 64-digit hex string, or the first
# field of a file in sha256sum's format ("<hex>  <name>").
expected_digest() { # ARG
  if printf '%s' "$1" | grep -Eq '^[0-9a-fA-F]{64}$'; then
    printf '%s' "$1" | tr 'A-F' 'a-f'
    return
  fi
  [ -f "$1" ] || die "$1: no such checksum file; nothing was installed"
  digest=$(sed -n '1s/^\([0-9a-fA-F]\{64\}\).*/\1/p' "$1")
  [ -n "$digest" ] || die "$1 holds no SHA-256 digest; nothing was installed"
  printf '%s' "$digest" | tr 'A-F' 'a-f'
}

# Sets KEY=VALUE in the runner's .env: earlier lines for KEY are replaced,
# other lines kept; the file keeps its owner and mode.
set_env_lines() { # FILE KEY=VALUE...
  file=$1; shift
  [ -f "$file" ] || : >"$file" || die "cannot write $file"
  cp "$file" "$tmp/env"
  for line in "$@"; do
    key=${line%%=*}
    grep -v "^$key=" "$tmp/env" >"$tmp/env.new" || true
    mv "$tmp/env.new" "$tmp/env"
  done
  for line in "$@"; do printf '%s\n' "$line" >>"$tmp/env"; done
  cat "$tmp/env" >"$file"
}

# The hooks: from scripts/runner-hooks/ beside this script (a checkout), or
# downloaded with their checksums from the release.
install_hooks() {
  mkdir -p "$hooks" || die "cannot create $hooks"
  here=$(dirname "$0")
  for hook in job-started.sh job-completed.sh; do
    if [ -f "$here/runner-hooks/$hook" ]; then
      source_file="$here/runner-hooks/$hook"
    else
      fetch "$base/$hook" "$tmp/$hook" || die "cannot download $base/$hook"
      fetch "$base/$hook.sha256" "$tmp/$hook.sha256" || die "cannot download $base/$hook.sha256"
      [ "$(sha256_of "$tmp/$hook")" = "$(expected_digest "$tmp/$hook.sha256")" ] ||
        die "checksum mismatch for $base/$hook; nothing was installed"
      source_file="$tmp/$hook"
    fi
    cp "$source_file" "$hooks/.$hook.$$" && chmod 755 "$hooks/.$hook.$$" &&
      mv -f "$hooks/.$hook.$$" "$hooks/$hook" || die "cannot install $hooks/$hook"
  done
  hooks_abs=$(cd "$hooks" && pwd)
  prefix_abs=$(mkdir -p "$prefix" && cd "$prefix" && pwd)
  set -- "ACTIONS_RUNNER_HOOK_JOB_STARTED=$hooks_abs/job-started.sh" \
    "ACTIONS_RUNNER_HOOK_JOB_COMPLETED=$hooks_abs/job-completed.sh" \
    "RINGFENCE_BIN=$prefix_abs/ringfence"
  if [ -n "$policy" ]; then
    [ -f "$policy" ] || die "$policy: no such policy file"
    policy_abs=$(cd "$(dirname "$policy")" && pwd)/$(basename "$policy")
    set -- "$@" "RINGFENCE_POLICY=$policy_abs"
  fi
  env_file=${runner_env:-$hooks/.env}
  set_env_lines "$env_file" "$@"
  say "installed the runner hooks in $hooks_abs; set them in $env_file (restart the runner to read it)"
}

if [ -n "$hooks" ] && [ -n "$hooks_only" ]; then
  install_hooks
  exit 0
fi

if [ -n "$from" ]; then
  [ -f "$from" ] || die "$from: no such file"
  binary=$from
  if [ -z "$sha_arg" ]; then
    [ -f "$from.sha256" ] || die "no checksum for $from: give --sha256 FILE (or HEX), or put $from.sha256 beside it; nothing was installed"
    sha_arg="$from.sha256"
  fi
else
  say "downloading $base/$asset"
  fetch "$base/$asset" "$tmp/$asset" || die "cannot download $base/$asset"
  fetch "$base/$asset.sha256" "$tmp/$asset.sha256" || die "cannot download $base/$asset.sha256"
  binary="$tmp/$asset"
  [ -n "$sha_arg" ] || sha_arg="$tmp/$asset.sha256"
fi

expected=$(expected_digest "$sha_arg")
actual=$(sha256_of "$binary")
if [ "$actual" != "$expected" ]; then
  die "checksum mismatch for $binary: expected $expected, got $actual; nothing was installed"
fi

mkdir -p "$prefix" || die "cannot create $prefix"
staged="$prefix/.ringfence.install.$$"
cp "$binary" "$staged" || { rm -f "$staged"; die "cannot write to $prefix"; }
chmod 755 "$staged"
mv -f "$staged" "$prefix/ringfence" || { rm -f "$staged"; die "cannot install into $prefix"; }
say "installed $prefix/ringfence (sha256 $actual)"
[ -z "$hooks" ] || install_hooks

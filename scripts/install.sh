#!/bin/sh
# Installs the ringfence binary for this machine, after checking its SHA-256.
#
#   curl -fsSL https://github.com/ringfence-dev/ringfence/releases/latest/download/install.sh | sudo sh
#   sh install.sh [--prefix DIR] [--version vX.Y.Z]
#   sh install.sh --from ./ringfence-x86_64-linux [--sha256 FILE|HEX] [--prefix DIR]
#
# Downloads ringfence-<arch>-linux and ringfence-<arch>-linux.sha256 from
# $RINGFENCE_BASE_URL (default: the latest GitHub release), verifies the
# checksum and installs the binary as PREFIX/ringfence (default
# /usr/local/bin). --from installs a file already on this host (air-gapped
# hosts); its checksum comes from --sha256 or FILE.sha256 beside it. A
# missing or wrong checksum installs nothing and exits non-zero.
set -eu

REPO_URL="https://github.com/ringfence-dev/ringfence"
prefix=/usr/local/bin
version=latest
from=
sha_arg=

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
    -h|--help) sed -n '2,14p' "$0" 2>/dev/null | sed 's/^# \{0,1\}//'; exit 0 ;;
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

if [ -n "$from" ]; then
  [ -f "$from" ] || die "$from: no such file"
  binary=$from
  if [ -z "$sha_arg" ]; then
    [ -f "$from.sha256" ] || die "no checksum for $from: give --sha256 FILE (or HEX), or put $from.sha256 beside it; nothing was installed"
    sha_arg="$from.sha256"
  fi
else
  if [ "$version" = latest ]; then
    default_base="$REPO_URL/releases/latest/download"
  else
    default_base="$REPO_URL/releases/download/$version"
  fi
  base=${RINGFENCE_BASE_URL:-$default_base}
  say "downloading $base/$asset"
  fetch "$base/$asset" "$tmp/$asset" || die "cannot download $base/$asset"
  fetch "$base/$asset.sha256" "$tmp/$asset.sha256" || die "cannot download $base/$asset.sha256"
  binary="$tmp/$asset"
  [ -n "$sha_arg" ] || sha_arg="$tmp/$asset.sha256"
fi

# The expected digest: a 64-digit hex string, or the first field of a file
# in sha256sum's format ("<hex>  <name>").
if printf '%s' "$sha_arg" | grep -Eq '^[0-9a-fA-F]{64}$'; then
  expected=$sha_arg
else
  [ -f "$sha_arg" ] || die "$sha_arg: no such checksum file; nothing was installed"
  expected=$(sed -n '1s/^\([0-9a-fA-F]\{64\}\).*/\1/p' "$sha_arg")
  [ -n "$expected" ] || die "$sha_arg holds no SHA-256 digest; nothing was installed"
fi
expected=$(printf '%s' "$expected" | tr 'A-F' 'a-f')
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

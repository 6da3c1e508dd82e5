#!/bin/bash
# A CI job for the npm_ci bench: `npm ci` of a real lockfile (234 packages: express, axios, typescript, eslint,
# mocha, ...) from a warm cache, then a TypeScript build of a small project.
#   npmci_workload.sh prepare DIR    makes DIR/project and fills npm's cache DIR/npm-cache (needs the registry)
#   npmci_workload.sh run DIR N      N rounds of: remove node_modules and out, npm ci --offline, tsc
# Before its clock starts, `run` flushes the previous run's writes (sync). It prints `elapsed=SECONDS n=N`
# and then bash's `times` (its own and its children's CPU, user and system).
set -u
here=$(cd "$(dirname "$0")" && pwd)
project=$2/project
cache=$2/npm-cache
case $1 in
prepare)
  rm -rf "$project" && mkdir -p "$project/src" || exit 1
  cp "$here/npmci-package.json" "$project/package.json" || exit 1
  cp "$here/npmci-package-lock.json" "$project/package-lock.json" || exit 1
  cd "$project" || exit 1
  npm ci --no-audit --no-fund --cache "$cache" >/dev/null || exit 1
  for i in $(seq 40); do
    printf 'export function f%s(a: number, b: string): string { return b.repeat(a) + "%s"; }\n' "$i" "$i" >"src/m$i.ts"
  done
  printf '{"compilerOptions":{"strict":true,"outDir":"out","target":"es2020","module":"commonjs"},"include":["src"]}\n' >tsconfig.json
  ;;
run)
  cd "$project" || exit 1
  sync # the previous run's writes, so that every run starts with none pending
  start=$EPOCHREALTIME
  for ((i = 0; i < $3; i++)); do
    rm -rf node_modules out
    npm ci --offline --no-audit --no-fund --cache "$cache" >/dev/null 2>&1 || { echo "npm ci --offline failed" >&2; exit 1; }
    node_modules/.bin/tsc -p . || exit 1
  done
  end=$EPOCHREALTIME
  echo "elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", b - a }') n=$3"
  times
  ;;
*)
  echo "usage: $0 prepare DIR | run DIR N" >&2
  exit 2
  ;;
esac

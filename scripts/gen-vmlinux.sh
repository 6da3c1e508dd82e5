#!/usr/bin/env bash
# Regenerates bpf/include/vmlinux.h from the running kernel's BTF. The header
# is checked in: CO-RE relocates field offsets at load time, so one header
# serves every kernel with BTF, and builds do not depend on the build host.
set -euo pipefail
cd "$(dirname "$0")/.."
bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/include/vmlinux.h
echo "wrote bpf/include/vmlinux.h from $(uname -r)"

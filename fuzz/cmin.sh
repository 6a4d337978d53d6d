#!/usr/bin/env bash
# Minimises a fuzz target's corpus in place (`cargo fuzz cmin`): keeps the smallest set of
# inputs that covers what the whole corpus covers. The hand-written seeds (`seed-*`) are
# always kept, since they document formats and races the fuzzer might cover another way.
#
#   fuzz/cmin.sh TARGET [LIBFUZZER_ARGS...]
#
# By default only edge coverage counts (-use_counters=0), not how often each edge ran:
# that keeps a committed corpus to a few hundred files. Pass -use_counters=1 to keep
# every input that adds a new hit-count bucket as well.
set -euo pipefail

target=${1:?usage: fuzz/cmin.sh TARGET [LIBFUZZER_ARGS...]}
shift
fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$(dirname "$fuzz_dir")"

# As in run.sh: cargo-fuzz's unstable rustc flags on the stable toolchain, here only.
export RUSTC_BOOTSTRAP=1
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

corpus="fuzz/corpus/$target"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cp "$corpus"/seed-* "$seeds"/ 2>/dev/null || true

before="$(find "$corpus" -type f | wc -l) files, $(du -sb "$corpus" | cut -f1) bytes"
cargo fuzz cmin --target-dir target/fuzz "$target" "$corpus" -- -use_counters=0 "$@"
cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
after="$(find "$corpus" -type f | wc -l) files, $(du -sb "$corpus" | cut -f1) bytes"
echo "fuzz/cmin.sh: $target: $before -> $after"

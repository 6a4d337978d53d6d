#!/usr/bin/env bash
# Runs one fuzz target on the stable toolchain for a fixed time, then reports how many
# inputs it executed.
#
#   fuzz/run.sh TARGET SECONDS [LIBFUZZER_ARGS...]      e.g.  fuzz/run.sh payload 60
#
# TARGET is `payload` or `ops`. The corpus lives in fuzz/corpus/TARGET/ and grows as the
# fuzzer finds new coverage; a crashing input is saved in fuzz/artifacts/TARGET/ and
# replayed by `cargo test -p sessionlock-model --test fuzz_corpus`. Extra arguments go to
# libFuzzer (for instance -jobs=2 -workers=2, or -max_len=N). The build goes to
# target/fuzz/, apart from the main build. Environment: CARGO_FUZZ_FLAGS adds flags to
# `cargo fuzz run` (for instance "-s none" to build without AddressSanitizer).
set -euo pipefail

usage="usage: fuzz/run.sh TARGET SECONDS [LIBFUZZER_ARGS...]"
target=${1:?$usage}
seconds=${2:?$usage}
shift 2

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$fuzz_dir")
cd "$root"

# cargo-fuzz builds with -Zsanitizer and other unstable rustc flags. RUSTC_BOOTSTRAP=1
# lets the stable compiler accept them. It is set here, for this script's cargo only:
# nothing else in the project relies on unstable features.
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

corpus="fuzz/corpus/$target"
artifacts="fuzz/artifacts/$target"
mkdir -p "$corpus" "$artifacts"

# The ops decoder reads at most 64 transitions of 2 bytes: longer inputs only waste
# mutations. (A -max_len among the extra arguments comes later, and wins.)
defaults=()
if [ "$target" = ops ]; then
    defaults+=(-max_len=128)
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "fuzz/run.sh: $(rustc -V), $(cargo fuzz --version)" >&2
status=0
# shellcheck disable=SC2086 # CARGO_FUZZ_FLAGS is a list of flags
cargo fuzz run ${CARGO_FUZZ_FLAGS:-} --target-dir target/fuzz "$target" "$corpus" -- \
    -max_total_time="$seconds" -print_final_stats=1 "${defaults[@]}" "$@" \
    2>&1 | tee "$log" || status=$?

execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' \
    | awk '{ n += $1 } END { print n + 0 }')
rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' \
    | awk '{ n += $1 } END { print n + 0 }')
files=$(find "$corpus" -type f | wc -l)
bytes=$(du -sb "$corpus" | cut -f1)
echo "fuzz/run.sh: $target: $execs executions in ${seconds} s (${rate} exec/s);" \
    "corpus $corpus: $files files, $bytes bytes; exit status $status"
exit "$status"

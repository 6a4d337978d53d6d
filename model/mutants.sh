#!/usr/bin/env bash
# The real-core mutants gate: builds the shipped core with one bug put back
# (`--cfg sessionlock_mutant="NAME"`, see model/src/core_mutants.rs), runs the scenario
# runner and the loom suite against it, and decides caught or missed by the invariant
# each checker names. Exits 1 if any mutant is missed.
#
#   model/mutants.sh                 # every mutant
#   model/mutants.sh m2_remove_by_path m3_turn_not_woken
#   MUTANT_LOOM=0 model/mutants.sh   # the runner only
#   MUTANT_RUNNER=0 model/mutants.sh # loom only
#   MUTANT_LOOM_TESTS="loom_try_acquire loom_seed_window" model/mutants.sh  # some loom tests
#
# Each mutant builds in its own target dir, target/mutants/NAME (and NAME-loom for loom).
# The cfg reaches the workspace's crates only (model/mutant-rustc.sh, as
# RUSTC_WORKSPACE_WRAPPER): RUSTFLAGS would rebuild every dependency for every mutant.
# Each dir starts as hard links to the dependencies of the ordinary build (target/release,
# and target/loom for loom), so a mutant rebuilds only sessionlock, its spec and its model.
# MUTANT_FULL_REBUILD=1 uses RUSTFLAGS="--cfg sessionlock_mutant=..." and empty dirs
# instead (same result, every dependency rebuilt: about 4 CPU-minutes a build).
set -uo pipefail
cd "$(dirname "$0")/.."

ALL=(
  m1_release_before_remove m2_remove_by_path m3_turn_not_woken m4_reenter_any_owner
  m5_free_lock_no_proof h17_inode_only break_without_recheck kernel_wait_unjudged
  abandon_drops_waiters withdraw_ignores_granted leave_ignores_generation
)
# The invariants each mutant breaks (any of them counts), as in model/src/core_mutants.rs.
declare -A BREAKS=(
  [m1_release_before_remove]="INV-3" [m2_remove_by_path]="INV-2"
  [m3_turn_not_woken]="INV-3" [m4_reenter_any_owner]="INV-1 INV-7 INV-5"
  [m5_free_lock_no_proof]="INV-4 INV-3" [h17_inode_only]="INV-5 INV-4 INV-3"
  [break_without_recheck]="INV-2" [kernel_wait_unjudged]="INV-4 INV-3"
  [abandon_drops_waiters]="INV-3" [withdraw_ignores_granted]="INV-3 INV-5"
  [leave_ignores_generation]="INV-6"
)
mutants=("$@")
[ ${#mutants[@]} -eq 0 ] && mutants=("${ALL[@]}")
# The runner's budgets for mutant builds: a mutant fails early, the core's rows that it
# does not touch only need to finish.
export SHUTTLE_ITERATIONS="${SHUTTLE_ITERATIONS:-500}"
export PROPTEST_CASES="${PROPTEST_CASES:-128}"
export SHUTTLE_DFS_MAX="${SHUTTLE_DFS_MAX:-10000}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TERM_COLOR=never
loom="${MUTANT_LOOM:-1}"
logs=target/mutants/logs
mkdir -p "$logs"

# Which of the invariants in $2 the text $1 names, if any.
named() {
  local inv
  for inv in $2; do
    grep -qE "(^|[^0-9])${inv}([^0-9]|$)" <<<"$1" && { echo "$inv"; return; }
  done
}

# A target dir for a mutant: hard links to the dependencies already built in $1.
seed() {
  local from=$1 to=$2
  [ -d "$to/release" ] && return
  mkdir -p "$to"
  if [ -d "$from/release" ] && [ "${MUTANT_FULL_REBUILD:-0}" != 1 ]; then
    cp -al "$from/release" "$to/"
    rm -f "$to/release/.cargo-lock" # a hard link would share the lock with $from
    rm -rf "$to"/release/.fingerprint/sessionlock* "$to"/release/sessionlock* \
      "$to"/release/deps/*sessionlock* "$to"/release/deps/loom_core-* "$to"/release/build/sessionlock*
  fi
}
# Runs cargo ($@) for mutant $m with the extra cfgs $1 (for every crate).
build() {
  local flags=$1; shift
  if [ "${MUTANT_FULL_REBUILD:-0}" = 1 ]; then
    RUSTFLAGS="$flags --cfg sessionlock_mutant=\"$m\"" cargo "$@"
  else
    RUSTFLAGS="$flags" SESSIONLOCK_MUTANT="$m" RUSTC_WORKSPACE_WRAPPER="$PWD/model/mutant-rustc.sh" \
      cargo "$@"
  fi
}

caught=0; summary=()
for m in "${mutants[@]}"; do
  [ -n "${BREAKS[$m]:-}" ] || { echo "unknown mutant $m" >&2; exit 2; }
  t=$SECONDS
  echo "== mutant $m (expects ${BREAKS[$m]}) $(date -u +%H:%M:%S)"
  line="not run"
  if [ "${MUTANT_RUNNER:-1}" = 1 ]; then
    seed target "target/mutants/$m"
    CARGO_TARGET_DIR="target/mutants/$m" build "" run --release -q -p sessionlock-model \
      >"$logs/$m.runner" 2>"$logs/$m.runner.err"
    line=$(grep '^real-core mutant ' "$logs/$m.runner" || true)
    [ -n "$line" ] || line="runner printed no verdict; see $logs/$m.runner.err"
    echo "  runner: $line"
  fi
  runner_hit=""; grep -q ': caught by' <<<"$line" && runner_hit=yes
  by_shuttle=$(grep -o 'shuttle [a-z]* [^·]*' <<<"$line" | head -1)
  by_proptest=$(grep -o 'proptest [a-z]* [^·]*' <<<"$line" | head -1)
  loom_hit=""; loom_note="not run"
  if [ "$loom" = 1 ]; then
    seed target/loom "target/mutants/$m-loom"
    # One process per test: a deadlock in loom can abort its whole test binary.
    : >"$logs/$m.loom"
    CARGO_TARGET_DIR="target/mutants/$m-loom" build "--cfg sessionlock_loom" \
      test --release -q -p sessionlock-model --test loom_core --no-run >>"$logs/$m.loom" 2>&1
    tests=$(CARGO_TARGET_DIR="target/mutants/$m-loom" build "--cfg sessionlock_loom" \
      test --release -q -p sessionlock-model --test loom_core -- --list 2>/dev/null |
      sed -n 's/: test$//p' | grep -v '^loom_catches_')
    [ -n "${MUTANT_LOOM_TESTS:-}" ] && tests=$MUTANT_LOOM_TESTS
    for test in $tests; do
      CARGO_TARGET_DIR="target/mutants/$m-loom" build "--cfg sessionlock_loom" \
        test --release -q -p sessionlock-model --test loom_core -- --exact "$test" \
        >>"$logs/$m.loom" 2>&1
    done
    # The invariant each failed loom test reports first (`FAILED: INV-n Name: …`).
    failed=$(grep -oE '^loom .* FAILED: INV-[0-9]+' "$logs/$m.loom" | grep -oE 'INV-[0-9]+$' || true)
    loom_hit=$(named "$failed" "${BREAKS[$m]}")
    loom_note="${loom_hit:-found nothing}"
    [ -n "$loom_hit" ] && loom_note="$loom_hit; scenarios failed: $(grep -oE '^loom [a-z0-9-]+ FAILED' "$logs/$m.loom" | sort -u | awk '{print $2}' | tr '\n' ' ')"
    grep -q 'SIGABRT\|non-unwinding panic' "$logs/$m.loom" && loom_note="$loom_note; loom ABORTED (see $logs/$m.loom)"
    echo "  loom:   $loom_note"
  fi
  verdict=MISSED
  if [ -n "$runner_hit" ] || [ -n "$loom_hit" ]; then verdict=caught; caught=$((caught + 1)); fi
  took=$((SECONDS - t))
  ran_runner=${MUTANT_RUNNER:-1}
  yes_no() { if [ "$2" != 1 ]; then echo -; elif [ -n "$1" ]; then echo yes; else echo no; fi; }
  summary+=("$(printf '%-26s %-7s shuttle: %-3s proptest: %-3s loom: %-3s %4ss' "$m" "$verdict" \
    "$(yes_no "$by_shuttle" "$ran_runner")" "$(yes_no "$by_proptest" "$ran_runner")" \
    "$(yes_no "$loom_hit" "$loom")" "$took")")
  echo "  $verdict in ${took}s"
done

echo
printf '%s\n' "${summary[@]}"
echo "real-core mutants caught: $caught/${#mutants[@]}"
[ "$caught" -eq "${#mutants[@]}" ]

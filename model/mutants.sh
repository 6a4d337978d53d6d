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
#   MUTANT_JOBS=2 MUTANT_LOOM_CATCHING=1 model/mutants.sh  # what .ci/run runs
#   MUTANT_LOOM_TIMEOUT=60 model/mutants.sh  # each loom test stopped after 60 s (default 120)
#
# MUTANT_JOBS builds and runs that many mutants side by side (default 1). With
# MUTANT_LOOM_CATCHING=1 loom runs, for each mutant, only the tests that caught it in a
# full run (LOOM_CATCHING below), and not at all for the two that no loom scenario can
# reach (spec/invariants.md says why); a full run (the default) runs every loom test.
# Each mutant prints what its builds and runs took.
#
# Each mutant builds in its own target dir, target/mutants/NAME (and NAME-loom for loom).
# The runner is the shuttle build (`--cfg sessionlock_shuttle`, see src/sync.rs), as
# `cargo run -p sessionlock-model` runs it. The mutant's cfg reaches the workspace's crates
# only (model/mutant-rustc.sh, as RUSTC_WORKSPACE_WRAPPER): RUSTFLAGS would rebuild every
# dependency for every mutant. Each dir starts as hard links to the dependencies of the
# shuttle build (target/shuttle, and target/loom for loom), so a mutant rebuilds only
# sessionlock, its spec and its model.
# MUTANT_FULL_REBUILD=1 uses RUSTFLAGS="--cfg sessionlock_mutant=..." and empty dirs
# instead (same result, every dependency rebuilt: about 4 CPU-minutes a build).
set -uo pipefail
cd "$(dirname "$0")/.."

ALL=(
  m1_release_before_remove m2_remove_by_path m3_turn_not_woken m4_reenter_any_owner
  m5_free_lock_no_proof h17_inode_only break_without_recheck kernel_wait_unjudged
  abandon_drops_waiters withdraw_ignores_granted leave_ignores_generation
  releaser_barges wakes_nobody
)
# The invariants each mutant breaks (any of them counts), as in model/src/core_mutants.rs.
declare -A BREAKS=(
  [m1_release_before_remove]="INV-3" [m2_remove_by_path]="INV-2"
  [m3_turn_not_woken]="INV-3" [m4_reenter_any_owner]="INV-1 INV-7 INV-5"
  [m5_free_lock_no_proof]="INV-4 INV-3" [h17_inode_only]="INV-5 INV-4 INV-3"
  [break_without_recheck]="INV-2" [kernel_wait_unjudged]="INV-4 INV-3"
  [abandon_drops_waiters]="INV-3" [withdraw_ignores_granted]="INV-3 INV-5"
  [leave_ignores_generation]="INV-6" [releaser_barges]="INV-9 INV-5"
  [wakes_nobody]="INV-4 INV-3 INV-5"
)
# The loom tests that caught each mutant at preemption bound 2 when every test ran
# (`model/mutants.sh` with no MUTANT_LOOM_CATCHING; measured, see spec/invariants.md);
# "-": no loom scenario can reach the bug. loom_crash_two_breakers explores
# crash-two-breakers-dead (the holder dead before the breakers start); measured again on
# it: it catches m2_remove_by_path (INV-2), m5_free_lock_no_proof (INV-3) and
# break_without_recheck (INV-2).
declare -A LOOM_CATCHING=(
  [m1_release_before_remove]="loom_two_tasks_one_process loom_seed_window loom_three_tasks_one_process loom_drift_two_tasks loom_try_acquire loom_timeout_hand_on"
  [m2_remove_by_path]="loom_crash_two_breakers loom_try_acquire"
  [m3_turn_not_woken]="loom_two_tasks_one_process loom_seed_window loom_three_tasks_one_process loom_drift_two_tasks loom_try_acquire loom_timeout_hand_on"
  [m4_reenter_any_owner]="loom_two_tasks_one_process loom_seed_window loom_three_tasks_one_process loom_drift_two_tasks loom_try_acquire loom_timeout_hand_on"
  [m5_free_lock_no_proof]="loom_crash_takeover loom_crash_two_breakers loom_drift_crash_takeover"
  [h17_inode_only]="loom_drift_two_tasks loom_drift_crash_takeover"
  [break_without_recheck]="loom_two_processes loom_crash_takeover loom_age_takeover loom_drift_crash_takeover loom_crash_two_breakers loom_try_acquire loom_timeout_hand_on"
  [kernel_wait_unjudged]="-"
  [abandon_drops_waiters]="loom_try_acquire loom_timeout_hand_on"
  [withdraw_ignores_granted]="loom_timeout_hand_on"
  [leave_ignores_generation]="-"
  [releaser_barges]="loom_queue_hand_on loom_queue_waiter_killed"
  [wakes_nobody]="loom_queue_hand_on loom_queue_waiter_killed"
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

# A target dir for a mutant: hard links to the dependencies already built in $1. A dir
# seeded from another build (before the runner was the shuttle build, from target) would
# rebuild every dependency: it is seeded again.
seed() {
  local from=$1 to=$2
  [ -d "$to/release" ] && [ "$(cat "$to/seeded-from" 2>/dev/null)" = "$from" ] && return
  rm -rf "$to"
  mkdir -p "$to"
  echo "$from" >"$to/seeded-from"
  if [ -d "$from/release" ] && [ "${MUTANT_FULL_REBUILD:-0}" != 1 ]; then
    cp -al "$from/release" "$to/"
    rm -f "$to/release/.cargo-lock" # a hard link would share the lock with $from
    rm -rf "$to"/release/.fingerprint/sessionlock* "$to"/release/sessionlock* \
      "$to"/release/deps/*sessionlock* "$to"/release/deps/loom_core-* "$to"/release/build/sessionlock*
  fi
}
# Runs cargo ($@) for mutant $m with the extra cfgs $1 (for every crate), behind
# $BUILD_PREFIX if set (a `timeout`).
build() {
  local flags=$1; shift
  if [ "${MUTANT_FULL_REBUILD:-0}" = 1 ]; then
    RUSTFLAGS="$flags --cfg sessionlock_mutant=\"$m\"" ${BUILD_PREFIX:-} cargo "$@"
  else
    RUSTFLAGS="$flags" SESSIONLOCK_MUTANT="$m" RUSTC_WORKSPACE_WRAPPER="$PWD/model/mutant-rustc.sh" \
      ${BUILD_PREFIX:-} cargo "$@"
  fi
}

# One mutant: builds and runs the runner, then loom; writes its summary line to
# $logs/$m.summary and its verdict (caught or MISSED) to $logs/$m.verdict.
one() {
  local m=$1 t=$SECONDS line="not run" runner_hit="" catches="" by_shuttle="" by_proptest=""
  local by_refinement=""
  local built ran took loom_hit="" loom_note="not run" tests failed test
  local timing="" explained
  echo "== mutant $m (expects ${BREAKS[$m]}) $(date -u +%H:%M:%S)"
  if [ "${MUTANT_RUNNER:-1}" = 1 ]; then
    seed target/shuttle "target/mutants/$m"
    built=$SECONDS
    CARGO_TARGET_DIR="target/mutants/$m" build "--cfg sessionlock_shuttle" \
      build --release -q -p sessionlock-model \
      >"$logs/$m.runner" 2>"$logs/$m.runner.err"
    ran=$SECONDS
    "target/mutants/$m/release/sessionlock-model" >>"$logs/$m.runner" 2>>"$logs/$m.runner.err"
    timing="runner build $((ran - built))s run $((SECONDS - ran))s"
    line=$(grep '^real-core mutant ' "$logs/$m.runner" || true)
    [ -n "$line" ] || line="runner printed no verdict; see $logs/$m.runner.err"
    echo "  $m runner: $line"
    # The counterexample, as numbered steps of the shipped core (not part of the verdict:
    # some mutants only proptest or a script catches). Its first line says what it breaks.
    ran=$SECONDS
    "target/mutants/$m/release/sessionlock-model" explain "$m" >"$logs/$m.explain" \
      2>"$logs/$m.explain.err" || true
    explained=$(head -n 1 "$logs/$m.explain")
    [ -n "$explained" ] || explained="none: $(tail -n 1 "$logs/$m.explain.err")"
    echo "  $m explain ($((SECONDS - ran))s, $logs/$m.explain): $explained"
  fi
  grep -q ': caught by' <<<"$line" && runner_hit=yes
  # The runner's catches, one a line: `CHECKER SCENARIO INV-n`, or `refinement step N in
  # DRIVER` for a step the spec does not enable (a catch of its own kind).
  catches=$(grep ': caught by' <<<"$line" | sed 's/.* run(s): //; s/ · /\n/g' || true)
  by_shuttle=$(grep -m1 '^shuttle ' <<<"$catches" || true)
  by_proptest=$(grep -m1 '^proptest ' <<<"$catches" || true)
  by_refinement=$(grep -m1 '^refinement step ' <<<"$catches" || true)
  local with_loom=$loom
  [ "${MUTANT_LOOM_CATCHING:-0}" = 1 ] && [ "${LOOM_CATCHING[$m]:-}" = - ] && with_loom=0
  if [ "$with_loom" = 1 ]; then
    seed target/loom "target/mutants/$m-loom"
    # One process per test: a deadlock in loom can abort its whole test binary.
    : >"$logs/$m.loom"
    built=$SECONDS
    CARGO_TARGET_DIR="target/mutants/$m-loom" build "--cfg sessionlock_loom" \
      test --release -q -p sessionlock-model --test loom_core --no-run \
      >>"$logs/$m.loom" 2>&1
    ran=$SECONDS
    tests=$(CARGO_TARGET_DIR="target/mutants/$m-loom" build "--cfg sessionlock_loom" \
      test --release -q -p sessionlock-model --test loom_core -- --list 2>/dev/null |
      sed -n 's/: test$//p' | grep -v '^loom_catches_')
    if [ -n "${MUTANT_LOOM_TESTS:-}" ]; then
      tests=$MUTANT_LOOM_TESTS
    elif [ "${MUTANT_LOOM_CATCHING:-0}" = 1 ] && [ -n "${LOOM_CATCHING[$m]:-}" ]; then
      tests=${LOOM_CATCHING[$m]}
    fi
    # A mutant can leave a loom test hung after its failure is printed (a coroutine that
    # overflowed its stack, then a thread parked forever): each test gets a time limit.
    local limit=${MUTANT_LOOM_TIMEOUT:-120}
    for test in $tests; do
      BUILD_PREFIX="timeout -k 10 $limit" CARGO_TARGET_DIR="target/mutants/$m-loom" \
        build "--cfg sessionlock_loom" \
        test --release -q -p sessionlock-model --test loom_core -- --exact "$test" \
        >>"$logs/$m.loom" 2>&1 ||
        { [ $? = 124 ] && echo "loom $test: still running after ${limit}s, stopped" >>"$logs/$m.loom"; } ||
        true
    done
    timing="$timing; loom build $((ran - built))s run $((SECONDS - ran))s"
    # The invariant each failed loom test reports first (`FAILED: INV-n Name: …`).
    failed=$(grep -oE '^loom .* FAILED: INV-[0-9]+' "$logs/$m.loom" | grep -oE 'INV-[0-9]+$' || true)
    loom_hit=$(named "$failed" "${BREAKS[$m]}")
    loom_note="${loom_hit:-found nothing}"
    [ -n "$loom_hit" ] && loom_note="$loom_hit; scenarios failed: $(grep -oE '^loom [a-z0-9-]+ FAILED' "$logs/$m.loom" | sort -u | awk '{print $2}' | tr '\n' ' ')"
    grep -q 'SIGABRT\|non-unwinding panic\|overflowed its stack' "$logs/$m.loom" && loom_note="$loom_note; loom ABORTED (see $logs/$m.loom)"
    grep -q 'still running after' "$logs/$m.loom" && loom_note="$loom_note; loom HUNG and was stopped (see $logs/$m.loom)"
    echo "  $m loom:   $loom_note"
  fi
  local verdict=MISSED
  if [ -n "$runner_hit" ] || [ -n "$loom_hit" ]; then verdict=caught; fi
  took=$((SECONDS - t))
  yes_no() { if [ "$2" != 1 ]; then echo -; elif [ -n "$1" ]; then echo yes; else echo no; fi; }
  printf '%-26s %-7s shuttle: %-3s proptest: %-3s refinement: %-3s loom: %-3s %4ss (%s)\n' \
    "$m" "$verdict" "$(yes_no "$by_shuttle" "${MUTANT_RUNNER:-1}")" \
    "$(yes_no "$by_proptest" "${MUTANT_RUNNER:-1}")" "$(yes_no "$by_refinement" "${MUTANT_RUNNER:-1}")" \
    "$(yes_no "$loom_hit" "$with_loom")" "$took" "$timing" >"$logs/$m.summary"
  echo "$verdict" >"$logs/$m.verdict"
  echo "  $m: $verdict in ${took}s ($timing)"
}

for m in "${mutants[@]}"; do
  [ -n "${BREAKS[$m]:-}" ] || { echo "unknown mutant $m" >&2; exit 2; }
  rm -f "$logs/$m.summary" "$logs/$m.verdict"
done
# MUTANT_JOBS mutants at a time (default 1): each build is mostly a chain of three
# crates, so two builds side by side use two cores better than one.
jobs=${MUTANT_JOBS:-1}
for m in "${mutants[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  one "$m" &
done
wait

echo
caught=0; missed=()
for m in "${mutants[@]}"; do
  cat "$logs/$m.summary" 2>/dev/null || echo "$m: no verdict (the script failed; see $logs/$m.*)"
  if [ "$(cat "$logs/$m.verdict" 2>/dev/null)" = caught ]; then
    caught=$((caught + 1))
  else
    missed+=("$m")
  fi
done
echo "real-core mutants caught: $caught/${#mutants[@]}${missed[*]:+; MISSED: ${missed[*]}}"
[ "$caught" -eq "${#mutants[@]}" ]

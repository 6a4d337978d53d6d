#!/bin/sh
# rustc for the workspace's own crates in a mutant build (model/mutants.sh sets it as
# RUSTC_WORKSPACE_WRAPPER): the same compiler, plus --cfg sessionlock_mutant="NAME".
# Dependencies never see it, so they are not rebuilt per mutant.
rustc="$1"
shift
exec "$rustc" "$@" --cfg "sessionlock_mutant=\"${SESSIONLOCK_MUTANT:?which mutant}\""

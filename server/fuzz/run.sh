#!/usr/bin/env bash
# Runs every fuzz target (libFuzzer through cargo-fuzz) for FUZZ_SECONDS
# each (default 60), one after the other, from its seeds (seeds/TARGET, cut
# from the tests and docs/API.md) and what earlier runs kept (corpus/TARGET,
# not committed). Prints each target's executions, rate and coverage; a
# crash stops the script with libFuzzer's report and the input under
# artifacts/TARGET/ — make it a regression test.
#
#   server/fuzz/run.sh                 # every target, 60 s each
#   FUZZ_SECONDS=300 server/fuzz/run.sh client_frame sdp
#
# Not part of .ci/test. Needs cargo-fuzz (installed here if missing) and a
# toolchain that builds with -Z flags: nightly if installed, else stable
# with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seconds=${FUZZ_SECONDS:-60}
if rustup toolchain list | grep -q '^nightly'; then fuzz=(cargo +nightly fuzz); else fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz); fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("${fuzz[@]}" list)
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== $target (${seconds} s)"
    "${fuzz[@]}" run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
        | grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|(DONE|pulse).*cov: |==ERROR|panicked|SUMMARY|Test unit written' | tail -8
done

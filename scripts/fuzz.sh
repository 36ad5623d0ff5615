#!/usr/bin/env bash
# make fuzz: each fuzz target under libFuzzer for a bounded time (FUZZ_SECONDS, default 60), seeded from
# pilot-data/samples and Tests/Corpus/<target>. New crashes land in .build-fuzz/crashes/<target>/;
# copy a fixed one into Tests/Corpus/<target>/ so that CI replays it (LotseFuzzTests).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"csv winowig xowi camt token form image zip"}
SCRATCH=.build-fuzz
swift build --scratch-path "$SCRATCH" --product lotse-fuzz --sanitize=fuzzer -Xswiftc -DLOTSE_LIBFUZZER 2>&1 | grep -v "^warning: 'swift-" | tail -5
BIN="$(swift build --scratch-path "$SCRATCH" --show-bin-path)/lotse-fuzz"
export LOTSE_PILOT_DATA="$PWD/pilot-data"
summary=()
for target in $TARGETS; do
  work="$SCRATCH/corpus/$target"; crashes="$SCRATCH/crashes/$target"
  mkdir -p "$work" "$crashes"
  seeds="$SCRATCH/seeds/$target"; rm -rf "$seeds"; mkdir -p "$seeds"
  case $target in
    csv) cp pilot-data/samples/handheld-*.csv "$seeds"/ ;;
    winowig) cp pilot-data/samples/winowig-*.xml "$seeds"/ ;;
    xowi) cp pilot-data/samples/xowi-*.xml "$seeds"/ ;;
    camt) cp pilot-data/samples/camt*.xml "$seeds"/ ;;
  esac
  cp Tests/Corpus/"$target"/* "$seeds"/ 2>/dev/null || true
  log="$SCRATCH/fuzz-$target.log"
  echo "fuzzing $target for ${SECONDS_PER_TARGET}s"
  set +e
  # SWIFT_BACKTRACE off: Swift's crash handler would take the signal before libFuzzer saves the input
  SWIFT_BACKTRACE=enable=no LOTSE_FUZZ_TARGET=$target "$BIN" "$work" "$seeds" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 \
    -rss_limit_mb=4096 -timeout=20 -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  runs=$(grep -Eo "number_of_executed_units: [0-9]+" "$log" | grep -Eo "[0-9]+" || echo "?")
  found=$(ls "$crashes" | wc -l)
  summary+=("$target: $runs executions, exit $status, $found crash file(s) in $crashes")
  [ "$status" = 0 ] || grep -E "finding:|ERROR: libFuzzer|SUMMARY" "$log" | cut -c1-300
done
printf '%s\n' "${summary[@]}"

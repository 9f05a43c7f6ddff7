#!/usr/bin/env bash
# Builds lemma with AddressSanitizer + UndefinedBehaviorSanitizer, runs
# tools/memcheck-workload.R with it and prints a verdict on lemma's own code.
#
#   tools/sanitizers.sh          # from the package root; needs gcc's libasan/libubsan
#
# The compiler flags come from a temporary Makevars file named by
# R_MAKEVARS_USER, so ~/.R/Makevars is neither read nor changed, and the build
# is made from a clean copy of the source tree in a temporary directory, so no
# instrumented object file is left in src/ (it would be linked into the next
# ordinary install).
#
# R itself is not instrumented, so the ASan runtime must be loaded before
# anything else: R runs with LD_PRELOAD=libasan. ASAN_OPTIONS:
#   detect_leaks=0  R never frees its heap at exit, by design: LeakSanitizer
#                   would list thousands of R's own blocks with no lemma frame
#                   (leaks in lemma are checked by tools/valgrind.sh instead);
#   log_path        one report file per process, counted below;
#   stack_trace_format  adds each frame's module, so a report can be
#                   attributed to lemma.so (and not to R or the BLAS).
# UBSan reports are collected (UBSAN_OPTIONS log_path, print_stacktrace) and
# the run goes on after each, so all of them are counted; ASan stops at its
# first error (its default), which the verdict then reports.
#
# Before the workload, a self-test builds a two-function C library with a
# planted heap overflow and a planted signed overflow and runs it the same
# way: the verdict is an ERROR unless both are reported, so a PASS cannot come
# from sanitizers that were silently inactive.
#
# Environment: OUT_DIR (default: a new temporary directory), SAN_OPT (the
# optimization level of the instrumented build, default -O1), LEMMA_SAN_LIB
# (a library holding an instrumented lemma from an earlier run: skips the
# build, which takes several minutes).
# Exit status: 0 no report from lemma's code and the workload finished;
# 1 reports from lemma's code; 2 the build or the workload failed.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/lemma-sanitizers.XXXXXX")}"
mkdir -p "$OUT_DIR/lib" "$OUT_DIR/src" "$OUT_DIR/reports"
rm -f "$OUT_DIR"/reports/*
t0=$(date +%s)

LIBASAN="$(readlink -f "$(gcc -print-file-name=libasan.so)")"
if [ ! -f "$LIBASAN" ]; then
  echo "SANITIZER VERDICT: ERROR - libasan not found (gcc -print-file-name=libasan.so)"; exit 2
fi

SAN="-fsanitize=address,undefined -fno-omit-frame-pointer"
FLAGS="-g ${SAN_OPT:--O1} $SAN"
cat >"$OUT_DIR/Makevars" <<EOF
CFLAGS = $FLAGS
CXXFLAGS = $FLAGS
CXX11FLAGS = $FLAGS
CXX14FLAGS = $FLAGS
CXX17FLAGS = $FLAGS
LDFLAGS = $SAN
EOF

SAN_LIB="${LEMMA_SAN_LIB:-$OUT_DIR/lib}"
if [ -z "${LEMMA_SAN_LIB:-}" ]; then
  tar -C "$ROOT" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude=tools \
      -cf - . | tar -C "$OUT_DIR/src" -xf -
  echo "building lemma with $FLAGS into $SAN_LIB (log: $OUT_DIR/install.log)"
  # --no-test-load: loading the instrumented lemma.so into an R without the
  # ASan runtime preloaded fails by design
  R_MAKEVARS_USER="$OUT_DIR/Makevars" R CMD INSTALL --no-test-load -l "$SAN_LIB" \
    "$OUT_DIR/src" >"$OUT_DIR/install.log" 2>&1 ||
    { tail -20 "$OUT_DIR/install.log"; echo "SANITIZER VERDICT: ERROR - the instrumented build failed"; exit 2; }
fi
SO="$SAN_LIB/lemma/libs/lemma.so"
if ! nm -D "$SO" 2>/dev/null | grep -q "__asan_report" ||
   ! nm -D "$SO" 2>/dev/null | grep -q "__ubsan_handle"; then
  echo "SANITIZER VERDICT: ERROR - $SO is not instrumented (flags not applied?)"; exit 2
fi
t1=$(date +%s)

# run_sanitized REPORT_DIR command...: the command under the sanitizers
run_sanitized() {
  local dir="$1"; shift
  LD_PRELOAD="$LIBASAN" \
  ASAN_OPTIONS="detect_leaks=0:log_path=$dir/asan:stack_trace_format='    #%n %p %F %L [%m]'" \
  UBSAN_OPTIONS="print_stacktrace=1:log_path=$dir/ubsan:stack_trace_format='    #%n %p %F %L [%m]'" \
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 R_LIBS="$SAN_LIB" "$@"
}

# self-test: planted errors must be reported
ST="$OUT_DIR/selftest"
rm -rf "$ST"; mkdir -p "$ST/reports"
cat >"$ST/planted.c" <<'CEOF'
#include <limits.h>
#include <stdlib.h>
void planted_ubsan(int *x) { int big = INT_MAX - 1 + *x; *x = big + 2; }
void planted_asan(int *x) { int *a = malloc(4 * sizeof(int)); a[*x] = 1; *x = a[0]; free(a); }
CEOF
gcc -shared -fPIC -g -O0 $SAN "$ST/planted.c" -o "$ST/planted.so" >"$ST/build.log" 2>&1
run_sanitized "$ST/reports" Rscript --vanilla -e \
  "dyn.load('$ST/planted.so'); invisible(.C('planted_ubsan', 1L)); invisible(.C('planted_asan', 4L))" \
  >"$ST/run.log" 2>&1
st_asan=$(cat "$ST"/reports/* "$ST/run.log" 2>/dev/null | grep -c "ERROR: AddressSanitizer: heap-buffer-overflow")
st_ub=$(cat "$ST"/reports/* "$ST/run.log" 2>/dev/null | grep -c "runtime error: signed integer overflow")
if [ "$st_asan" -ne 1 ] || [ "$st_ub" -ne 1 ]; then
  echo "SANITIZER VERDICT: ERROR - the self-test's planted errors were not both reported" \
       "(ASan $st_asan, UBSan $st_ub; see $ST)"; exit 2
fi
echo "self-test: the planted heap overflow and signed overflow were both reported"

echo "running the workload (log: $OUT_DIR/workload.log)"
run_sanitized "$OUT_DIR/reports" Rscript --vanilla "$ROOT/tools/memcheck-workload.R" \
  >"$OUT_DIR/workload.log" 2>&1
rc=$?
t2=$(date +%s)

finished=no
grep -q "MEMCHECK WORKLOAD DONE" "$OUT_DIR/workload.log" && finished=yes
# one report per "ERROR: AddressSanitizer" (ASan stops at the first) and per
# UBSan "runtime error:" line; a report is lemma's when a frame is in lemma.so
# or its location is in lemma's sources. Reports go to the log_path files, but
# with ASan preloaded and UBSan loaded with lemma.so the two runtimes share
# one report file setting and a report can end up on stderr (the workload's
# log) instead: both are read.
n_lemma=0; n_other=0
for f in "$OUT_DIR"/reports/* "$OUT_DIR/workload.log"; do
  [ -e "$f" ] || continue
  n_asan=$(grep -c "ERROR: AddressSanitizer" "$f")
  n_ub=$(grep -c "runtime error:" "$f")
  n=$((n_asan + n_ub))
  [ "$n" -eq 0 ] && continue
  if grep -q -e "lemma\.so" -e "$OUT_DIR/src/" "$f"; then
    n_lemma=$((n_lemma + n)); echo; echo "== report with lemma frames: $f"; head -40 "$f"
  else
    n_other=$((n_other + n)); echo; echo "== report without lemma frames: $f"; head -15 "$f"
  fi
done

if [ "$finished" = no ]; then
  echo; echo "Last lines of $OUT_DIR/workload.log:"; tail -15 "$OUT_DIR/workload.log"
  verdict=ERROR; status=2
elif [ "$n_lemma" -gt 0 ]; then verdict=FAIL; status=1
else verdict=PASS; status=0; fi
echo
echo "SANITIZER VERDICT: $verdict - $n_lemma ASan/UBSan report(s) from lemma's code, $n_other elsewhere;" \
     "workload $( [ "$finished" = yes ] && echo finished || echo 'DID NOT FINISH') (exit $rc);" \
     "build $( [ -n "${LEMMA_SAN_LIB:-}" ] && echo "skipped (LEMMA_SAN_LIB)" || echo "$((t1 - t0)) s")," \
     "run $((t2 - t1)) s; reports in $OUT_DIR/reports"
exit $status

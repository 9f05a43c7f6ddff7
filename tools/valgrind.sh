#!/usr/bin/env bash
# Runs tools/memcheck-workload.R under valgrind (memcheck) and prints a verdict
# on lemma's own code.
#
#   tools/valgrind.sh            # from the package root
#
# Steps: installs valgrind if it is missing (apt-get, needs root), installs a
# clean copy of this source tree (no stale object files) into a temporary
# library, runs the workload with R -d valgrind, and parses valgrind's XML
# report. Only errors with a stack frame in lemma.so count against lemma:
# errors inside R itself or the BLAS with no lemma frame on their stack are
# reported as "elsewhere" and do not fail the run. Definitely-lost leaks whose
# allocation stack passes through lemma.so count as errors too.
#
# Environment:
#   LEMMA_LIB        use lemma already installed in this library (skip the install)
#   OUT_DIR          where logs go (default: a new temporary directory)
#   VALGRIND_EXTRA   extra valgrind options, e.g. "--track-origins=yes" (origins of
#                    uninitialised values; about twice as slow) or
#                    "--suppressions=FILE" for a platform's known R/BLAS noise
#                    (none was needed with Debian 12's R 4.2.2 and OpenBLAS)
#
# Exit status: 0 when lemma has no errors and the workload finished; 1 when
# lemma has errors; 2 when the workload did not finish or the tools failed.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/lemma-valgrind.XXXXXX")}"
mkdir -p "$OUT_DIR"
t0=$(date +%s)

if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind not found: installing it with apt-get"
  (apt-get update -qq && apt-get install -y -qq valgrind) >"$OUT_DIR/apt.log" 2>&1 ||
    { echo "VALGRIND VERDICT: ERROR - could not install valgrind (see $OUT_DIR/apt.log)"; exit 2; }
fi

if [ -z "${LEMMA_LIB:-}" ]; then
  LEMMA_LIB="$OUT_DIR/lib"
  mkdir -p "$LEMMA_LIB" "$OUT_DIR/src"
  # a clean copy: object files left in src/ by another build (e.g. a
  # sanitizer build) must not be linked in
  tar -C "$ROOT" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude=tools \
      -cf - . | tar -C "$OUT_DIR/src" -xf -
  echo "installing lemma into $LEMMA_LIB (log: $OUT_DIR/install.log)"
  R CMD INSTALL --no-test-load -l "$LEMMA_LIB" "$OUT_DIR/src" >"$OUT_DIR/install.log" 2>&1 ||
    { tail -20 "$OUT_DIR/install.log"
      echo "VALGRIND VERDICT: ERROR - lemma did not install"; exit 2; }
fi

# --num-callers: deep enough to see lemma's frames below BLAS/Eigen/Rcpp ones.
# --error-exitcode: any error (R's own included) is seen; the parser then
#   decides which are lemma's.
# One BLAS/OpenMP thread: valgrind serializes threads anyway, and the machine
# may be shared.
echo "running the workload under valgrind (log: $OUT_DIR/workload.log)"
t1=$(date +%s)
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 R_LIBS="$LEMMA_LIB" \
  R --vanilla -d "valgrind --tool=memcheck --num-callers=50 --error-exitcode=42 \
      --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
      --xml=yes --xml-file=$OUT_DIR/valgrind.xml ${VALGRIND_EXTRA:-}" \
  -f "$ROOT/tools/memcheck-workload.R" >"$OUT_DIR/workload.log" 2>&1
rc=$?
t2=$(date +%s)

Rscript --vanilla "$ROOT/tools/valgrind-verdict.R" "$OUT_DIR/valgrind.xml" \
  "$OUT_DIR/workload.log" "$rc" "$((t2 - t1))" "$((t2 - t0))"

#!/bin/sh
# Regenerates the GEMMA reference output in tests/testthat/ref/gemma/ from the
# example PLINK fileset in inst/extdata (made by data-raw/make-plink-example.R).
# GEMMA 0.98.5 (Debian package `gemma`). Run from the package root:
#   sh tests/testthat/ref/make-ref-gemma.sh
set -e
ROOT=$(pwd)
OUT="$ROOT/tests/testthat/ref/gemma"
WORK=$(mktemp -d)
cp inst/extdata/example.bed inst/extdata/example.bim inst/extdata/example.fam \
   inst/extdata/example_covariates.txt "$WORK"
cd "$WORK"
gemma -version > gemma-version.txt 2>&1 || true
# relatedness: -gk 1 centered, -gk 2 standardized (default filters)
gemma -bfile example -gk 1 -o example_gk1
gemma -bfile example -gk 2 -o example_gk2
# all three tests (-lmm 4) with covariates (first column is the intercept)
gemma -bfile example -k output/example_gk1.cXX.txt -c example_covariates.txt \
      -lmm 4 -o example_lmm4
# intercept only, standardized relatedness
gemma -bfile example -k output/example_gk2.sXX.txt -lmm 4 -o example_lmm4_gk2
mkdir -p "$OUT"
gzip -9 -c output/example_gk1.cXX.txt > "$OUT/example_gk1.cXX.txt.gz"
gzip -9 -c output/example_gk2.sXX.txt > "$OUT/example_gk2.sXX.txt.gz"
cp output/example_lmm4.assoc.txt output/example_lmm4_gk2.assoc.txt "$OUT/"
cp output/example_lmm4.log.txt output/example_lmm4_gk2.log.txt output/example_gk1.log.txt "$OUT/"
head -n 1 gemma-version.txt > "$OUT/gemma-version.txt"
cd "$ROOT"
rm -rf "$WORK"

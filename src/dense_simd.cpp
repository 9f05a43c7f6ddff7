// Run-time choice of the dense kernels: the AVX-512 set (dense_simd_avx512.cpp) when
// it was built (Eigen >= 3.4) and the CPU has AVX-512 F/DQ/VL/BW, else the AVX2 + FMA
// set (dense_simd_avx2.cpp) when the CPU has those, else none (the callers then use
// Eigen's portable code and LAPACK). Both sets are compiled from one source,
// dense_kernels_body.h.
//
// Same call, same bits holds on one machine. Between machines that run different
// sets (an AVX-512 machine and an AVX2 one) results differ in the last bits: the
// vector width changes the order of the floating-point sums.
//
// The environment variable LEMMA_SIMD caps the set (simd_env.h): "avx2" (at most
// AVX2), "none" (no SIMD kernels), "avx512" or unset (the best the CPU runs). It is
// read at the first use in the session and not again, so that one session never
// mixes sets; the tests set it in child processes to compare the sets on one machine.
#include "dense_simd.h"
#include "dense_kernels.h"
#include "simd_env.h"
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lemma {

namespace {

// The widest set the CPU runs and LEMMA_SIMD allows (simd_env.cpp, the one reader
// of the variable; it throws for a value it does not know), among those built.
const DenseKernels* choose_kernels() {
  const int level = simd_level();
  const DenseKernels* k512 = dense_kernels_avx512();
  if (level >= kSimdAvx512 && k512) return k512;
  const DenseKernels* k2 = dense_kernels_avx2();
  if (level >= kSimdAvx2 && k2) return k2;
  return nullptr;
}

// Chosen once per session (a throw leaves it unset, so a bad LEMMA_SIMD is reported
// at every use until it is fixed and the session restarted).
const DenseKernels* kernels() {
  static const DenseKernels* const k = choose_kernels();
  return k;
}

}  // namespace

bool simd_available() { return kernels() != nullptr; }

const char* simd_kernel_set() {
  const DenseKernels* k = kernels();
  return k ? k->name : "none";
}

bool simd_cholesky(double* a, int n, int threads) { return kernels()->cholesky(a, n, threads); }

void simd_spd_inverse_lower(double* a, int n, int threads) { kernels()->spd_inverse_lower(a, n, threads); }

void simd_rdiv_lower_t(double* b, int nrow, int ncol, const double* l) { kernels()->rdiv_lower_t(b, nrow, ncol, l); }

void simd_rank_update_lower(double* c, int n, const double* a, int k) { kernels()->rank_update_lower(c, n, a, k); }

}  // namespace lemma
